"""``linux.waagent_conf``: /etc/waagent.conf read and edited the way the agent reads it."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    error,
    failed,
    note,
    passed,
    shell,
)
from bcdrfix.core.observe import parse_file, probe
from bcdrfix.core.operations.files import BACKUP_DIR, file_content
from bcdrfix.linux import waagent_conf
from bcdrfix.linux.agent_base import AGENT_HANDLER, agent_unit
from bcdrfix.linux.agent_settings import waagent_desired

CONTROLS = ControlRegistry()


@probe(
    "waagent_conf",
    """
f=${BCDR_WAAGENT_CONF:-/etc/waagent.conf}
[ -L "$f" ] && printf 'link %s\\n' "$(readlink -f -- "$f")"
if [ -e "$f" ] && [ ! -r "$f" ]; then printf 'unreadable %s\\n' "$(stat -L -c '%a %U %G' "$f")"
else bcdr_file "$f"; fi
""",
)
def _parse_waagent_conf(lines: list[str]) -> dict | None:
    """The file as the agent reads it (through a symlink), with ``link`` (the target, if any).

    ``unreadable`` (no permission: an audit without sudo) keeps ``text`` None; missing is None.
    """
    link = lines[0][5:].strip() if lines and lines[0].startswith("link ") else None
    rest = lines[1:] if link is not None else lines
    if rest and rest[0].startswith("unreadable "):
        mode, owner, group = (rest[0].split() + ["", "", ""])[1:4]
        return {
            "text": None,
            "unreadable": True,
            "mode": mode,
            "owner": owner,
            "group": group,
            "link": link,
        }
    content = parse_file(rest)
    if content is not None:
        content["link"] = link
    return content


# When the running agent started, against when its config last changed: the agent reads
# waagent.conf only at start, so a config newer than the agent is not what the agent uses.
# The agent is the unit's main process (the daemon) and its children (the extension handler);
# without systemd, the processes running waagent. Start times come from /proc/PID/stat (clock
# ticks since boot), converted with /proc/uptime.
@probe(
    "agent_loaded",
    r"""
read -r bcdr_up _ < /proc/uptime
# The time now and the config's change time from one stat (no `date`): /proc/self is the stat
# process's own /proc directory, whose inode the kernel makes when stat looks it up, stamped with
# the time then (to a clock tick). The config's line is missing when it is.
bcdr_t=$(exec stat -L -c %.9Z -- /proc/self "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" 2>/dev/null)
bcdr_c=; case "$bcdr_t" in *"$BCDR_NL"*) bcdr_c=${bcdr_t#*"$BCDR_NL"} ;; esac
# Clock ticks: USER_HZ, 100 on every architecture Azure runs Linux on (x86-64, arm64).
printf 'now %s %s %s\n' "${bcdr_t%%"$BCDR_NL"*}" "$bcdr_up" 100
printf 'conf %s\n' "$bcdr_c"
bcdr_main=
[ -n "$BCDR_UNIT" ] && { bcdr_get "$BCDR_UNIT" MainPID; bcdr_main=$BCDR_V; }
if [ -n "$bcdr_main" ] && [ "$bcdr_main" != 0 ]; then
  # its children from /proc (no pgrep) where the kernel lists them
  bcdr_kids=
  if [ -r "/proc/$bcdr_main/task/$bcdr_main/children" ]; then
    read -r bcdr_kids < "/proc/$bcdr_main/task/$bcdr_main/children"
  else bcdr_kids=$(pgrep -P "$bcdr_main"); fi
  bcdr_pids="$bcdr_main $bcdr_kids"
elif [ -z "$BCDR_UNIT" ]; then
  bcdr_pids=$(pgrep -f -- '(waagent|WALinuxAgent).* -(daemon|run-exthandlers)')
fi
# read by the shell, no fork per process: comm, and field 20 after "PID (comm) " of stat
for pid in $bcdr_pids; do
  bcdr_comm=; read -r bcdr_comm < "/proc/$pid/comm" 2>/dev/null
  case "$bcdr_comm" in python*|waagent*) ;; *) continue ;; esac
  bcdr_stat=; read -r bcdr_stat < "/proc/$pid/stat" 2>/dev/null || continue
  # shellcheck disable=SC2086  # the fields of /proc/PID/stat
  set -- ${bcdr_stat##*) }
  printf 'process %s %s\n' "$pid" "${20:-}"
done
""",
)
def _parse_agent_loaded(lines: list[str]) -> dict[str, Any]:
    """``{"conf_changed": epoch, "agent_started": epoch of the oldest agent process}``."""
    now = uptime = conf = None
    tick = 100.0
    starts: list[float] = []
    for line in lines:
        words = line.split()
        if words[:1] == ["now"] and len(words) == 4:
            now, uptime, tick = float(words[1]), float(words[2]), float(words[3])
        elif words[:1] == ["conf"] and len(words) == 2:
            conf = float(words[1])
        elif words[:1] == ["process"] and len(words) == 3:
            starts.append(float(words[2]))
    if now is None or uptime is None or not starts:
        return {"conf_changed": conf, "agent_started": None}
    boot = now - uptime
    return {"conf_changed": conf, "agent_started": boot + min(starts) / tick}


# A config changed less than this before the agent started counts as loaded (clock conversion).
LOADED_TOLERANCE_S = 1.0


def agent_older_than_conf(observation: Mapping[str, Any]) -> bool:
    loaded = observation.get("agent_loaded")
    if not isinstance(loaded, Mapping):
        return False
    started, changed = loaded.get("agent_started"), loaded.get("conf_changed")
    return started is not None and changed is not None and started < changed - LOADED_TOLERANCE_S


# --- 3. waagent.conf --------------------------------------------------------------------------


def check_waagent_conf(observation, settings) -> Finding:
    current = observation.get("waagent_conf")
    path = settings.waagent_conf_path
    desired = waagent_desired(settings)
    if current is None:
        return error(
            f"{path} is missing: the agent does not start without it (reinstall the agent "
            "package to get it back)",
            desired=desired,
        )
    if current.get("unreadable"):
        return error(
            f"{path}: cannot read (permission; mode {current.get('mode')} owner "
            f"{current.get('owner')}): audit with sudo or as root"
        )
    link = current.get("link")
    via = f" (a symlink to {link})" if link else ""
    if link and link.rsplit("/", 1)[-1] != path.rsplit("/", 1)[-1]:
        return error(
            f"{path} is a symlink to {link}, not to a waagent.conf: bcdrfix neither follows nor "
            "edits it; put the real file back"
        )
    text = current["text"]
    if (bad_line := waagent_conf.undecodable_line(text)) is not None:
        number, shown = bad_line
        return failed(
            f"{path}{via} line {number} is not UTF-8 ('{shown}'): the agent stops with "
            "UnicodeDecodeError reading it; fix or remove that line",
            {"undecodable_line": number},
            desired,
            by_hand=True,
        )
    states = waagent_conf.inspect(text, desired)
    observed = {s.key: s.current for s in states}
    bad = [s for s in states if not s.compliant]
    problems = [s.describe() for s in bad]
    new_text = waagent_conf.edit(text, desired) if bad else text
    spaced = waagent_conf.spaced_proxy_lines(text)
    if spaced and waagent_conf.parse(text).get("HttpProxy.Host"):
        problems.append(
            f"HttpProxy line(s) {spaced} are written 'Key = value': the agent reads them, the "
            "backup extension does not and goes without the proxy (want 'Key=value')"
        )
        new_text = waagent_conf.normalise_proxy_lines(new_text)
    if not problems and agent_older_than_conf(observation):
        return failed(
            f"{path}{via} is right, but the running agent started before it last changed: the "
            "agent still uses the settings it read at its start (restart it)",
            observed,
            desired,
        )
    if not problems:
        return passed(f"{path}{via}: " + ", ".join(s.describe() for s in states), observed, desired)
    return failed(f"{path}{via}: " + "; ".join(problems), observed, desired, new_text=new_text)


def fix_waagent_conf(observation, settings, finding: Finding) -> list[Step]:
    if finding.plan.get("by_hand"):
        return [note(finding.summary, name="waagent.conf needs a person", by_hand=True)]
    steps = []
    if "new_text" in finding.plan:
        steps.append(
            Step(
                file_content,
                {
                    "name": f"Write {settings.waagent_conf_path} (backup under {BACKUP_DIR})",
                    "path": settings.waagent_conf_path,
                    "content": finding.plan["new_text"],
                    "current": observation.get("waagent_conf"),
                },
            )
        )
    unit = agent_unit(observation)
    if unit:
        # Not conditional on the write: the fix runs only when the file or the running agent is
        # wrong, and a run interrupted after the write must restart the agent the next time.
        # A handler: it runs after linux.agent_auto_restart and linux.agent_service, so the agent
        # starts once, with its new config and unit; it restarts only an agent running since
        # before the config changed (not one linux.agent_service has just started).
        steps.append(
            shell(
                "Restart the agent to load the new configuration",
                restart_if_older_than_conf(unit, settings.waagent_conf_path),
                handler=True,
            )
        )
    return steps


def restart_if_older_than_conf(unit: str, conf: str) -> str:
    """``systemctl try-restart`` of ``unit`` when its main process started before ``conf`` last
    changed, judged on the host when the handler runs: the agent linux.agent_service has just
    started is left alone, whatever order the controls ran in. No tolerance here (unlike the
    audit's ``LOADED_TOLERANCE_S``): an agent started a moment before this run wrote the file
    has not read it; the clocks agree to about 20 ms, and a needless restart is the safe side."""
    u, f = shlex.quote(unit), shlex.quote(conf)
    return (
        f"pid=$(systemctl show -p MainPID --value {u}); "
        '[ "${pid:-0}" -gt 0 ] 2>/dev/null && read -r s < "/proc/$pid/stat" || exit 0; '
        "set -- ${s##*) }; read -r up _ < /proc/uptime; "
        # clock ticks: USER_HZ, 100 on every architecture Azure runs Linux on (as the probe)
        'awk -v now="$(date +%s.%N)" -v up="$up" -v start="${20}" -v hz=100 '
        f'-v conf="$(stat -L -c %.9Z {f})" '
        "'BEGIN { exit !(now - up + start / hz < conf) }' || exit 0; "
        f"systemctl try-restart {u}"
    )


CONTROLS.register(
    Control(
        id="linux.waagent_conf",
        title="/etc/waagent.conf enables extensions and has the desired agent options",
        platform="linux",
        disruptive=False,
        probes=("waagent_conf", "agent_loaded"),
        check=check_waagent_conf,
        fix=fix_waagent_conf,
        handler=AGENT_HANDLER,
        description="Extensions.Enabled=y by default; Provisioning.Agent, Logs.Verbose and optional "
        "AutoUpdate.*/HttpProxy.* keys, edited the way the agent parses the file.",
    )
)
