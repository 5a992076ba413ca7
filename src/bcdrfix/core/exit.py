"""A cheaper interpreter exit for a bcdrfix run.

When Python exits it collects garbage once more over every object still alive: after a run over
many hosts (their facts, operations, connections) that last pass is most of the exit's CPU time
(about 55 of 85 ms after a 30-host deploy, measured). Freezing the objects first (``gc.freeze``
in an ``atexit`` callback) skips that pass; objects are still freed by their reference counts as
the modules are torn down, and files and sockets are closed by the kernel as before. Only
garbage held in reference cycles is not finalized: there is none the run still needs at exit
(reports are written and closed before).

On the lab the hosts share the controller's cores, and the agents started by a fixing run take
them while the controller exits: there the cheaper exit ends the run more than a second sooner.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def freeze_at_exit() -> None:
    """Skip the last garbage collection when this process exits (registered once)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
