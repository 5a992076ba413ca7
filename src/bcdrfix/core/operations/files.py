"""File operations that keep what a production config file must keep.

pyinfra's ``files.put`` replaces owner and mode with the operation's arguments and keeps no
backup. bcdrfix edits files that belong to the distribution (``/etc/waagent.conf``), so the edit
must keep the file's owner and mode, leave a timestamped backup, and refuse to overwrite a file
that changed since it was observed.

Backups go under ``BACKUP_DIR`` with the path mirrored (``/var/backups/bcdrfix/etc/waagent.conf.
<time>``), never beside the file: folders such as ``/etc/network/interfaces.d/``, systemd drop-in
folders or ``sudoers.d`` load every file in them. A symlink is never replaced by a file: when it
points to a file of the same name (``/etc/waagent.conf`` -> ``/etc/azure/waagent.conf``) that
target is edited in place and the link stays; any other link is refused with one line.
"""

from __future__ import annotations

import base64
import hashlib
import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

BACKUP_DIR = "/var/backups/bcdrfix"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


def replace_file_script(
    path: str,
    content: str,
    expected_sha256: str | None,
    mode: str = "644",
    owner: str = "root",
    group: str = "root",
    backup: bool = True,
    backup_dir: str = BACKUP_DIR,
) -> str:
    """One POSIX sh script that writes ``content`` to ``path`` atomically.

    Everything from data reaches the shell either base64-encoded or through ``shlex.quote``.
    """
    q = shlex.quote
    payload = base64.b64encode(content.encode("utf-8", errors="surrogateescape")).decode()
    lines = [
        "set -e",
        f"p={q(path)}",
        'if [ -L "$p" ]; then',
        '  r=$(readlink -f -- "$p") || r=',
        '  if [ -z "$r" ] || [ ! -f "$r" ] || [ "$(basename -- "$r")" != "$(basename -- "$p")" ]; then',
        '    echo "bcdrfix: $p is a symlink to ${r:-nowhere}; not followed, not changed" >&2; exit 4',
        "  fi",
        "  p=$r  # edit the link's target in place; the link stays a link",
        "fi",
        'mkdir -p "$(dirname "$p")"',
        't=$(mktemp "$p.bcdrfix.XXXXXX")',
        f'printf %s {q(payload)} | base64 -d > "$t"',
        'if [ -e "$p" ]; then',
    ]
    if expected_sha256:
        lines += [
            f'  if [ "$(sha256sum < "$p" | cut -d" " -f1)" != {q(expected_sha256)} ]; then',
            '    rm -f "$t"; echo "bcdrfix: $p changed since it was observed; not overwritten" >&2; exit 3',
            "  fi",
        ]
    if backup:
        lines += [
            f'  b={q(backup_dir)}"$p.$(date +%Y%m%dT%H%M%S)"',
            f'  (umask 077; mkdir -p {q(backup_dir)}) && mkdir -p "$(dirname "$b")"',
            '  cp -p "$p" "$b"',
            '  echo "bcdrfix: previous $p kept as $b"',
        ]
    lines += [
        '  chown --reference="$p" "$t"; chmod --reference="$p" "$t"',
        "else",
        f'  chown {q(owner)}:{q(group)} "$t"; chmod {q(mode)} "$t"',
        "fi",
        'mv -f "$t" "$p"',
    ]
    return "\n".join(lines)


@operation()
def file_content(
    path: str,
    content: str,
    current: dict | None = None,
    mode: str = "644",
    owner: str = "root",
    group: str = "root",
    backup: bool = True,
    backup_dir: str = BACKUP_DIR,
):
    """
    Make a file hold exactly ``content``, keeping the owner and mode of an existing file.

    + path: remote path
    + content: the whole desired content
    + current: the file as observed (``{"text": ...}``) or ``None`` when it does not exist
    + mode/owner/group: used only when the file is created
    + backup: copy an existing file to ``BACKUP_DIR/PATH.YYYYmmddTHHMMSS`` first (owner, mode kept)

    The write is refused (exit 3) when the file changed since it was observed.

    **Example:**

    .. code:: python

        file_content(
            name="Set waagent.conf keys",
            path="/etc/waagent.conf",
            content=new_text,
            current=observation["waagent_conf"],
        )
    """
    if current is not None and current.get("text") == content:
        host.noop(f"{path} already has the desired content")
        return
    expected = sha256_text(current["text"]) if current is not None else None
    yield StringCommand(
        replace_file_script(path, content, expected, mode, owner, group, backup, backup_dir)
    )
