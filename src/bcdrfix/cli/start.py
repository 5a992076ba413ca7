"""The ``bcdrfix`` console script: gevent is patched in first, then the commands are imported
with the garbage collector off.

gevent patches the standard library before anything else is imported, as pyinfra's own CLI
does (``pyinfra_cli`` patches on import). Its ``patch_all`` looks up its plugins' entry points
at each of its 25 events, and each lookup reads the metadata of every installed distribution:
about 35 ms on the lab's controller before the first host was contacted. The installed
distributions do not change while it patches, so their entry points are read once for it.

Importing the commands (pyinfra, paramiko, rich: several hundred thousand objects, all kept for
the process's life) set off over 130 collections that found no garbage: about 30 ms. The
collector is off while they are imported; what was imported is then frozen (``gc.freeze``:
later collections skip it) and the collector runs again for the command itself.
"""

from __future__ import annotations

import gc
from importlib import metadata


def patch_gevent() -> None:
    """``gevent.monkey.patch_all()``, with the installed entry points read once, not per event."""
    from gevent import monkey

    lookup = metadata.entry_points
    every = lookup()  # every group; ``select`` gives what ``entry_points(group=...)`` gives
    metadata.entry_points = every.select
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = lookup


def run() -> None:
    gc.disable()
    try:
        patch_gevent()
        from bcdrfix.cli.main import run as run_command
    finally:
        gc.freeze()
        gc.enable()
    run_command()
