"""File operations that keep what a production config file must keep.

pyinfra's ``files.put`` replaces owner and mode with the operation's arguments and keeps no
backup. bcdrfix edits files that belong to the distribution (``/etc/waagent.conf``), so the edit
must keep the file's owner and mode, leave a backup of the exact bytes it replaced, and refuse to
overwrite a file that changed, appeared or vanished since it was observed.

How one replacement runs on the host (one POSIX ``sh`` script, content on stdin):

1. the new content arrives base64-encoded on stdin (never as a command argument: a single
   argument is limited to 128 kB by Linux, and sshd drops a connection whose command is larger
   than its packet limit), is decoded into a ``mktemp`` file next to the target and checked
   against its sha256 (a cut connection leaves a short file, which is refused);
2. the temp file gets the owner, mode (and SELinux context) of the file it replaces;
3. under ``flock`` on ``/run/bcdrfix/write.lock`` (bounded wait), so that two bcdrfix runs
   never interleave here: the current file is copied to a uniquely named backup, the copy's
   sha256 is compared with what was observed (so the backup holds exactly the compared bytes),
   the file is compared once more with the backup, and the temp file is renamed over it;
4. on every failure path (refused, full or read-only filesystem, immutable file, signal) the
   temp file and an unused backup are removed by an ``EXIT`` trap: no debris in ``/etc``.

Backups go under ``BACKUP_DIR`` with the path mirrored (``/var/backups/bcdrfix/etc/waagent.conf.
<time>-XXXXXX``), never beside the file: folders such as ``/etc/network/interfaces.d/``, systemd
drop-in folders or ``sudoers.d`` load every file in them. A symlink is never replaced by a file:
when it points to a file of the same name (``/etc/waagent.conf`` -> ``/etc/azure/waagent.conf``)
that target is edited in place and the link stays; any other link is refused with one line.
"""

from __future__ import annotations

import base64
import hashlib
import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

# Where bcdrfix keeps its host-side locks (tmpfs: gone at reboot, never a stale file on disk).
LOCK_DIR = "/run/bcdrfix"
# Seconds a write waits for another bcdrfix run's write on the same host.
WRITE_LOCK_WAIT = 30
REFUSED = 3  # exit status of a refused write (changed since observed, locked)
LINK_REFUSED = 4  # exit status when the path is a symlink bcdrfix does not follow
BACKUP_DIR = "/var/backups/bcdrfix"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


def content_stdin(content: str) -> list[str]:
    """The lines sent on stdin for ``content``: base64, 76 characters a line."""
    data = base64.encodebytes(content.encode("utf-8", errors="surrogateescape")).decode()
    return data.splitlines()


def replace_file_script(
    path: str,
    content: str,
    expected_sha256: str | None,
    mode: str = "644",
    owner: str = "root",
    group: str = "root",
    backup: bool = True,
    lock_dir: str = LOCK_DIR,
    lock_wait: int = WRITE_LOCK_WAIT,
    backup_dir: str = BACKUP_DIR,
    then: str | None = None,
) -> str:
    """One POSIX sh script that replaces ``path`` with the content it reads on stdin.

    ``then``: a shell command run once the file is replaced (the write lock released, without
    ``set -e`` and ``umask 077``); its exit status is the script's.

    ``expected_sha256`` is the observed file's checksum, or ``None`` when it was observed
    missing. ``content`` is not in the script (only its checksum): send ``content_stdin(content)``
    on the script's stdin. Data reaches the shell only through ``shlex.quote``.
    """
    q = shlex.quote
    new_sha = sha256_text(content)
    lines = [
        "set -e",
        "umask 077",
        f"p={q(path)}",
        "t= b= keep=",
        'cleanup() { [ -z "$t" ] || rm -f "$t"; [ -z "$b" ] || [ -n "$keep" ] || rm -f "$b"; }',
        "trap cleanup EXIT",
        "trap 'exit 1' HUP INT TERM",
        f'refuse() {{ echo "bcdrfix: $p: $1; not changed" >&2; exit {REFUSED}; }}',
        'if [ -L "$p" ]; then',
        '  r=$(readlink -f -- "$p") || r=',
        '  if [ -z "$r" ] || [ ! -f "$r" ] || [ "${r##*/}" != "${p##*/}" ]; then',
        f'    echo "bcdrfix: $p is a symlink to ${{r:-nowhere}}; not followed, not changed" >&2; '
        f"exit {LINK_REFUSED}",
        "  fi",
        "  p=$r  # edit the link's target in place; the link stays a link",
        "fi",
        # Folder and name by the shell (no dirname or basename): every process costs the host.
        'case "$p" in */*) d=${p%/*}; d=${d:-/} ;; *) d=. ;; esac',
        '[ -d "$d" ] || (umask 022; mkdir -p "$d")',
        't=$(mktemp "$d/.${p##*/}.bcdrfix.XXXXXX")',
        'base64 -d > "$t"',
        'sum() { h=$(exec sha256sum < "$1"); h=${h%% *}; }',
        f'sum "$t"; [ "$h" = {q(new_sha)} ] || '
        '{ echo "bcdrfix: $p: the new content arrived incomplete; not changed" >&2; exit 1; }',
        'if [ -e "$p" ]; then',
        '  chown --reference="$p" "$t"; chmod --reference="$p" "$t"',
        # SELinux labels only where SELinux is on (chcon fails, a process for nothing, elsewhere)
        "  if [ -e /sys/fs/selinux/enforce ] && command -v chcon >/dev/null; then",
        '    chcon --reference="$p" "$t" 2>/dev/null || :',
        "  fi",
        "else",
        f'  chown {q(owner)}:{q(group)} "$t"; chmod {q(mode)} "$t"',
        "fi",
        f"[ -d {q(lock_dir)} ] || (umask 022; mkdir -p {q(lock_dir)})",
        f"exec 8>>{q(lock_dir + '/write.lock')}",
        f"flock -w {int(lock_wait)} 8 || refuse 'another bcdrfix run is writing on this host'",
    ]
    if expected_sha256 is None:
        lines.append('[ ! -e "$p" ] && [ ! -L "$p" ] || refuse "appeared since it was observed"')
    else:
        lines += [
            '[ -e "$p" ] || refuse "vanished since it was observed"',
            '[ ! -L "$p" ] || refuse "is a symbolic link"',
            # The backup is the copy whose bytes are compared: what it holds is what was replaced.
            f'[ -d {q(backup_dir)}"$d" ] || '
            f'{{ (umask 077; mkdir -p {q(backup_dir)}) && mkdir -p {q(backup_dir)}"$d"; }}',
            f'b=$(mktemp {q(backup_dir)}"$p.$(date +%Y%m%dT%H%M%S)-XXXXXX")',
            'cp -p "$p" "$b"',
            f'sum "$b"; [ "$h" = {q(expected_sha256)} ] || refuse "changed since it was observed"',
            'cmp -s "$b" "$p" || refuse "changed since it was observed"',
        ]
    lines += [
        'mv -f "$t" "$p"',
        "t=",
    ]
    if expected_sha256 is not None and backup:
        lines += ["keep=1", 'echo "bcdrfix: previous $p kept as $b"']
    if then:
        lines += ["exec 8>&-", "set +e", "umask 022", then]
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
    then: str | None = None,
    then_if_written: str | None = None,
):
    """
    Make a file hold exactly ``content``, keeping the owner and mode of an existing file.

    + path: remote path
    + content: the whole desired content
    + current: the file as observed (``{"text": ...}``) or ``None`` when it does not exist
    + mode/owner/group: used only when the file is created
    + backup: copy an existing file to ``BACKUP_DIR/PATH.YYYYmmddTHHMMSS-XXXXXX`` first (owner,
      mode kept); ``backup_dir`` changes where
    + then: a shell command that makes the file take effect (``systemctl daemon-reload``...),
      run after a write in the same command (one round trip, the write lock released first),
      or alone when the file already holds ``content`` (a run cut short after its write)
    + then_if_written: what runs after a write instead of ``then`` (it knows the file changed)

    The write is refused (exit 3) when the file changed, appeared or vanished since it was
    observed; exit 4 when the path is a symlink to another file. The content travels on stdin.

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
        if then:
            yield then
        else:
            host.noop(f"{path} already has the desired content")
        return
    expected = sha256_text(current["text"]) if current is not None else None
    script = replace_file_script(
        path,
        content,
        expected,
        mode,
        owner,
        group,
        backup,
        backup_dir=backup_dir,
        then=then_if_written or then,
    )
    yield StringCommand(script, _stdin=content_stdin(content))
