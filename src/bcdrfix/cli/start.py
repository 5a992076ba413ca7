"""The ``bcdrfix`` console script: the commands are imported with the garbage collector off.

Importing them (pyinfra, paramiko, gevent, rich: several hundred thousand objects, all kept for
the process's life) set off over 130 collections that found no garbage: about 30 ms on the lab's
controller before the first host was contacted. The collector is off while they are imported;
what was imported is then frozen (``gc.freeze``: later collections skip it) and the collector
runs again for the command itself.
"""

from __future__ import annotations

import gc


def run() -> None:
    gc.disable()
    try:
        from bcdrfix.cli.main import run as run_command
    finally:
        gc.freeze()
        gc.enable()
    run_command()
