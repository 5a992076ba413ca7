"""Collect the Linux agent's logs for a support case, one local folder per host.

What Microsoft support asks for: /var/lib/waagent/*.xml, /var/log/waagent.log, /var/log/azure/*.
They hold secrets (ovf-env.xml CustomData, extension settings with SAS URLs), so:

* on the host they are packed with ``umask 077`` into a fresh ``mktemp -d`` folder (nothing at a
  predictable path, nothing readable by other users) that is removed on every path;
* on the controller the folder is ``<bcdrfix_logs_dir>/<host>/`` (a host name never leads
  outside ``bcdrfix_logs_dir``), readable by the owner only, and the archive is unpacked only
  up to ``bcdrfix_logs_max_mb`` of content.
"""

from __future__ import annotations

import os
import re
import shlex
import tarfile
import tempfile
from pathlib import Path
from typing import Any

LOG_GLOBS = ("var/lib/waagent/*.xml", "var/log/waagent.log", "var/log/azure")
MAX_MEMBERS = 20000


class LogBundleError(Exception):
    """The log bundle of one host could not be made, fetched or unpacked (one line)."""


def pack_command() -> str:
    """Pack the logs into a new private folder; print the archive's path, or fail leaving none."""
    globs = " ".join(LOG_GLOBS)
    # Globs that match nothing are dropped, so that tar never fails on a missing log.
    return (
        "umask 077; d=$(mktemp -d) || exit 1; "
        f'cd / && set -- && for p in {globs}; do [ -e "$p" ] && set -- "$@" "$p"; done; '
        'if [ "$#" -eq 0 ]; then set -- -T /dev/null; fi; '
        'if tar czf "$d/agent-logs.tar.gz" "$@"; then echo "$d/agent-logs.tar.gz"; '
        'else rm -rf "$d"; exit 1; fi'
    )


def remove_command(archive: str) -> str:
    return f"rm -rf -- {shlex.quote(os.path.dirname(archive))}"


def local_folder(logs_dir: str, host_name: str) -> Path:
    """``logs_dir/<host>``; a host name is untrusted: no separators, no dot-only names."""
    name = re.sub(r"[^\w.@-]", "_", host_name)
    name = re.sub(r"^\.", "_", name) or "_"
    base = Path(logs_dir).resolve()
    folder = (base / name).resolve()
    if folder.parent != base:  # unreachable after the cleaning above; kept as a guard
        raise LogBundleError(f"host name {host_name!r} leads outside {logs_dir}")
    return folder


def _private(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """tarfile's "data" filter (no absolute paths, no links out), then owner-only modes."""
    member = tarfile.data_filter(member, path)
    owner_only = (member.mode or 0) & 0o700 | (0o700 if member.isdir() else 0o600)
    return member.replace(mode=owner_only, deep=False)


def unpack(archive: Path, destination: Path, max_bytes: int) -> list[str]:
    """Unpack ``archive`` into ``destination`` if its content fits in ``max_bytes``."""
    with tarfile.open(archive) as tar:
        total, members = 0, []
        for member in tar:
            total += max(member.size, 0)
            members.append(member)
            if total > max_bytes or len(members) > MAX_MEMBERS:
                raise LogBundleError(
                    f"{archive.name} unpacks to more than {max_bytes // 2**20} MB or "
                    f"{MAX_MEMBERS} files: not unpacked (raise bcdrfix_logs_max_mb)"
                )
        old_umask = os.umask(0o077)  # folders tar creates on its own are owner-only too
        try:
            tar.extractall(destination, members=members, filter=_private)
        finally:
            os.umask(old_umask)
        return [m.name for m in members]


def fetch_logs(folder: Path, max_bytes: int) -> None:
    """Inside a pyinfra operation: pack on the host, download, remove there, unpack here."""
    from pyinfra import host

    old_umask = os.umask(0o077)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        ok, output = host.run_shell_command(pack_command())
        archive = output.stdout.strip().splitlines()[-1] if ok and output.stdout.strip() else ""
        if not archive.startswith("/"):
            raise LogBundleError(f"packing the logs failed: {output.stderr.strip()[:200]}")
        local = folder / "agent-logs.tar.gz"
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".agent-logs.", suffix=".part")
        os.close(fd)
        try:
            if not host.get_file(archive, partial):
                raise LogBundleError(f"downloading {archive} failed")
            os.replace(partial, local)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
            host.run_shell_command(remove_command(archive))
        unpack(local, folder, max_bytes)
    finally:
        os.umask(old_umask)


def collect_linux_logs(settings: Any) -> None:
    """Operations for the current pyinfra host (used by deploys/linux_logs.py)."""
    from pyinfra import host
    from pyinfra.operations import python

    folder = local_folder(settings.logs_dir, host.name)
    python.call(
        name="Collect the agent's logs (private temporary folder on the host, removed after)",
        function=fetch_logs,
        folder=folder,
        max_bytes=settings.logs_max_mb * 2**20,
    )
