"""A per-host lock held for the duration of one bcdrfix run's changes.

Two runs on the same host at once (two operators, a cron job and a person) must not interleave
their changes: one stops the agent while the other writes its config. ``lock_script`` takes
``flock`` on ``/run/bcdrfix/run.lock`` in a small holder process on the host and returns (as
part of the run's first command that changes the host, see ``locked``); the
holder keeps the lock until

* the SSH connection of the run ends (the run finished, failed or its controller was killed:
  the holder watches the ``sshd`` process that serves the connection and lets go within a
  second). There is no lock or unlock operation: each would be one more barrier where every
  host waits for the slowest. A second lock of the same run (a user's deploy calling two
  bcdrfix deploys) finds the lock its own and goes on; or
* nothing arrived on that connection for ``stale`` seconds (the controller sends an SSH
  keepalive every ``bcdrfix_ssh_keepalive`` seconds, see ``core.connection``; a cut network
  leaves sshd waiting, so the holder reads the socket's ``lastrcv`` with ``ss``), or
* ``ttl`` seconds passed (a run whose connection hangs cannot lock the host forever).

A second run waits at most ``wait`` seconds, then fails on that host alone with
``another bcdrfix run holds host X since <UTC time> (run <id>)``. The lock lives in ``/run``
(tmpfs), so a reboot never leaves a stale lock behind.
"""

from __future__ import annotations

import shlex
import uuid

from pyinfra.api import StringCommand

from bcdrfix.core.operations.files import LOCK_DIR, REFUSED

# One id per controller process; shown to a second run as the holder.
RUN_ID = uuid.uuid4().hex[:12]


def lock_script(
    host_name: str, run_id: str, wait: int, ttl: int, stale: int = 0, lock_dir: str = LOCK_DIR
) -> str:
    q = shlex.quote
    return "\n".join(
        [
            "umask 077",
            f"d={q(lock_dir)} run={q(run_id)} wait={int(wait)} ttl={int(ttl)}",
            f"stale={int(stale) * 1000}",
            # ms since sshd $1 last received data on its connection (empty when unknown)
            "lastrcv() {",
            '  ss -tinpH state established 2>/dev/null | awk -v p="pid=$1," \\',
            "    'index($0, p) { hit = 1; next }",
            "     hit { if (match($0, /lastrcv:[0-9]+/)) print substr($0, RSTART + 8, RLENGTH - 8);"
            " hit = 0 }'",
            "}",
            '(umask 022; mkdir -p "$d")',
            # holder: the run id, since when and the holder's pid, as the holder wrote them
            'holder() { h_run= h_since= h_pid=; read -r h_run h_since h_pid _ < "$d/run.holder"; }',
            # Held by this run already (an earlier deploy of the same run): nothing to do.
            "holder 2>/dev/null",
            '[ "$h_run" = "$run" ] && [ -n "$h_pid" ] && kill -0 "$h_pid" 2>/dev/null && exit 0',
            # The sshd process serving this connection: the holder lives no longer than it.
            # Read by the shell from /proc/PID/stat ("PID (comm) state PPID ..."): no fork per
            # ancestor (this script runs once per host and run).
            "s=$$",
            'while [ "$s" -gt 1 ]; do',
            '  st=; read -r st < "/proc/$s/stat" 2>/dev/null || { s=0; break; }',
            "  c=${st#*\\(}; c=${c%\\)*}",
            '  case "$c" in sshd|sshd-session) break ;; esac',
            "  set -- ${st##*) }; s=${2:-0}",
            "done",
            '[ "$s" -gt 1 ] || s=',
            "r=$( {",
            "  exec 2>/dev/null </dev/null",
            '  exec 9>>"$d/run.lock"',
            '  if flock -w "$wait" 9; then',
            # the holder's own PID (this subshell: /proc/self read by the shell itself), since
            # when (one date for both the UTC time shown and the TTL's end)
            "    me=; read -r me _ < /proc/self/stat",
            '    set -- $(date -u "+%s %Y-%m-%dT%H:%M:%SZ")',
            '    printf "%s %s %s\\n" "$run" "$2" "$me" > "$d/run.holder"',
            "    end=$(( $1 + ttl ))",
            "    echo ok",
            "    exec >/dev/null",
            # One fork a second while the lock is held (sleep; date every 30 s; ss every 3 s
            # once the run is older than `stale`: a younger connection cannot be that silent).
            "    n=0 now=$1",
            '    while holder && [ "$h_run" = "$run" ] && [ "$now" -lt "$end" ] &&'
            ' { [ -z "$s" ] || kill -0 "$s"; }; do',
            "      sleep 1; n=$((n + 1)); now=$((now + 1))",
            "      [ $((n % 30)) = 0 ] && now=$(date +%s)",
            '      if [ -n "$s" ] && [ "$stale" -gt 0 ] && [ $((n % 3)) = 0 ] &&'
            ' [ $((n * 1000)) -ge "$stale" ]; then',
            '        l=$(lastrcv "$s"); [ -z "$l" ] || [ "$l" -lt "$stale" ] || break',
            "      fi",
            "    done",
            '    holder; if [ "$h_run" = "$run" ]; then rm -f "$d/run.holder"; fi',
            "  else",
            "    echo busy",
            "  fi",
            "} & )",
            '[ "$r" = ok ] && exit 0',
            "holder 2>/dev/null",
            f'echo "bcdrfix: another bcdrfix run holds host {q(host_name)} since ${{h_since:-?}} '
            f'(run ${{h_run:-?}}); waited {int(wait)}s" >&2',
            f"exit {REFUSED}",
        ]
    )


def locked(command: str | StringCommand, lock: str) -> StringCommand:
    """``command`` run only once this host's lock is taken (``lock``: a ``lock_script``), in ONE
    command: the first change of a run on a host carries its lock, no operation and no SSH
    command of its own (an operation is a barrier where every host waits for the slowest).
    The lock runs in a subshell (its ``exit`` ends only it) and reads no stdin (a file's content
    arrives there for the command); a refusal exits ``REFUSED`` with its one line, and the
    command does not run."""
    arguments = command.connector_arguments if isinstance(command, StringCommand) else {}
    return StringCommand(f"( {lock}\n) && {{", command, "}", _separator="\n", **arguments)
