"""Collect the Linux agent's logs for a support case, one local folder per host.

What Microsoft support asks for: /var/lib/waagent/*.xml, /var/log/waagent.log, /var/log/azure/*.
They are packed on the host (one command), downloaded, and unpacked under
``<bcdrfix_logs_dir>/<host>/``.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Any

LOG_GLOBS = ("var/lib/waagent/*.xml", "var/log/waagent.log", "var/log/azure")
REMOTE_ARCHIVE = "/tmp/bcdrfix-agent-logs.tar.gz"


def pack_command(archive: str = REMOTE_ARCHIVE) -> str:
    globs = " ".join(LOG_GLOBS)
    # Globs that match nothing are dropped, so that tar never fails on a missing log.
    return (
        f'cd / && set -- && for p in {globs}; do [ -e "$p" ] && set -- "$@" "$p"; done; '
        f'if [ "$#" -gt 0 ]; then tar czf {archive} "$@"; else tar czf {archive} -T /dev/null; fi'
    )


def local_folder(logs_dir: str, host_name: str) -> Path:
    return Path(logs_dir) / re.sub(r"[^\w.@-]", "_", host_name)


def unpack(archive: Path, destination: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")  # "data" refuses absolute paths and links out
        return tar.getnames()


def collect_linux_logs(settings: Any) -> None:
    """Operations for the current pyinfra host (used by deploys/linux_logs.py)."""
    from pyinfra import host
    from pyinfra.operations import files, python, server

    folder = local_folder(settings.logs_dir, host.name)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "agent-logs.tar.gz"
    server.shell(name="Pack the agent's logs", commands=[pack_command()])
    files.get(name="Download the agent's logs", src=REMOTE_ARCHIVE, dest=str(archive), force=True)
    python.call(
        name="Unpack the agent's logs locally", function=unpack, archive=archive, destination=folder
    )
    server.shell(name="Remove the archive from the host", commands=[f"rm -f {REMOTE_ARCHIVE}"])
