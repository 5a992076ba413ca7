"""Installed entry points, read once for a stretch of code that looks them up again and again.

``importlib.metadata.entry_points(group=...)`` reads the metadata of every installed
distribution at each call. gevent's ``patch_all`` calls it at each of its 25 events, and
pyinfra's inventory calls it twice per ``Inventory`` built (``get_all_connectors``): nothing is
installed meanwhile, so one read serves them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import metadata
from types import ModuleType


@contextlib.contextmanager
def entry_points_read_once(*modules: ModuleType) -> Iterator[None]:
    """Within: each module's ``entry_points`` (the name it looks up at call time: ``metadata``
    itself, or a module that imported the function) answers from one read of them all."""
    every = metadata.entry_points()  # ``select(group=...)`` gives what ``entry_points(group=...)``
    saved = [(module, module.entry_points) for module in modules]
    for module, _ in saved:
        module.entry_points = every.select  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, lookup in saved:
            module.entry_points = lookup  # type: ignore[attr-defined]
