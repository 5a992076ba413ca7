"""Writing a report file on the controller: all of it or nothing (temp file, then rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: str, write: Callable[[IO[str]], object]) -> None:
    """Call ``write(handle)`` on a new temp file beside ``path``, then rename it over ``path``.

    A reader never sees half a report; the temp file (unpredictable name, created private) is
    removed on every path that does not end in the rename. The report gets the mode a plain
    ``open(path, "w")`` would give it.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.resolve().parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
