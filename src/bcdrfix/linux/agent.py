"""Linux guest agent (WALinuxAgent) controls: service, auto-restart, waagent.conf, version."""

from __future__ import annotations

import re
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
    not_applicable,
    note,
    passed,
    shell,
)
from bcdrfix.core.observe import parse_file, parse_key_values, probe, split_subsections
from bcdrfix.core.operations.files import BACKUP_DIR, file_content
from bcdrfix.core.settings import version_tuple
from bcdrfix.core.templating import render
from bcdrfix.linux import waagent_conf
from bcdrfix.linux.agent_settings import waagent_desired

CONTROLS = ControlRegistry()

DROPIN_NAME = "zz-bcdrfix-restart.conf"  # sorts after admins' override.conf, so it wins


# --- probes -----------------------------------------------------------------------------------


@probe(
    "agent_service",
    """
[ -n "$BCDR_UNIT" ] && bcdr_show "$BCDR_UNIT" Id LoadState ActiveState SubState \
  UnitFileState Restart RestartUSec MainPID FragmentPath DropInPaths NRestarts
""",
)
def _parse_agent_service(lines: list[str]) -> dict[str, str]:
    return parse_key_values(lines)


@probe(
    "agent_restart_dropin",
    f"""
if [ -n "$BCDR_UNIT" ]; then bcdr_file "/etc/systemd/system/$BCDR_UNIT.d/{DROPIN_NAME}"
else echo missing; fi
""",
)
def _parse_dropin(lines: list[str]) -> dict | None:
    return parse_file(lines)


@probe(
    "waagent_conf",
    """
f=${BCDR_WAAGENT_CONF:-/etc/waagent.conf}
[ -L "$f" ] && printf 'link %s\\n' "$(readlink -f -- "$f")"
if [ -e "$f" ] && [ ! -r "$f" ]; then printf 'unreadable %s\\n' "$(stat -L -c '%a %U %G' "$f")"
elif [ -f "$f" ]; then
  m=${BCDR_MAX_FILE_BYTES:-1048576} n=$(stat -L -c %s "$f")
  if [ "$n" -gt "$m" ]; then printf 'toolarge %s %s\\n' "$n" "$m"
  else printf 'file %s\\n' "$(stat -L -c '%a %U %G %s' "$f")"; head -c "$m" < "$f" | base64; fi
else echo missing; fi
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
printf 'now %s %s %s\n' "$(date +%s.%N)" "$bcdr_up" "$(getconf CLK_TCK 2>/dev/null || echo 100)"
printf 'conf %s\n' "$(stat -L -c %.9Z "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" 2>/dev/null)"
bcdr_main=
[ -n "$BCDR_UNIT" ] && { bcdr_get "$BCDR_UNIT" MainPID; bcdr_main=$BCDR_V; }
if [ -n "$bcdr_main" ] && [ "$bcdr_main" != 0 ]; then
  bcdr_pids="$bcdr_main $(pgrep -P "$bcdr_main")"
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


@probe(
    "agent_version",
    """
echo "@@ version"
# What `waagent --version` prints, without starting Python (about 100 ms of CPU per run): the
# installed agent's AGENT_VERSION, and the goal-state agent of the running extension handler
# (/proc/PID/cmdline .../WALinuxAgent-X.Y.Z/... -run-exthandlers), else the installed one.
if command -v waagent >/dev/null; then
  v=$(sed -n "/^AGENT_VERSION *= *['\\"]\\([0-9][0-9.]*\\)['\\"].*/{s//\\1/p;q;}" \\
    /usr/lib/python3*/*-packages/azurelinuxagent/common/version.py \\
    /usr/lib64/python3*/*-packages/azurelinuxagent/common/version.py \\
    /usr/local/lib/python3*/*-packages/azurelinuxagent/common/version.py 2>/dev/null)
  if [ -n "$v" ]; then
    f=$(grep -a -l -E '/WALinuxAgent-[0-9]+\\.[0-9]+\\.[0-9]+.*-run-exthandlers' \\
      /proc/[0-9]*/cmdline 2>/dev/null)
    f=${f%%"$BCDR_NL"*}
    g=
    [ -n "$f" ] && g=$(grep -a -o -E '/WALinuxAgent-[0-9]+\\.[0-9]+\\.[0-9]+[.0-9]*' "$f")
    g=${g%%"$BCDR_NL"*}; g=${g#/WALinuxAgent-}
    echo "WALinuxAgent-$v"
    echo "Goal state agent: ${g:-$v}"
  else
    waagent --version 2>&1 | head -n 5
  fi
fi
echo "@@ package"
if command -v dpkg-query >/dev/null; then
  out=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' waagent walinuxagent \\
    2>/dev/null)
  ifs=$IFS; IFS=$BCDR_NL; set -f
  for l in $out; do case "$l" in *" ii"*) printf '%s\\n' "$l" ;; esac; done
  IFS=$ifs; set +f
fi
command -v rpm >/dev/null && rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE} ii\\n' \
  WALinuxAgent python-azure-agent python3-azure-agent 2>/dev/null | grep ' ii$'
echo "@@ manager"
for pm in apt-get dnf yum zypper; do command -v "$pm" >/dev/null && { echo "$pm"; break; }; done
echo "@@ os"
if [ -r /etc/os-release ]; then
  while IFS= read -r l; do
    case "$l" in ID=*) l=${l#ID=}; l=${l#\\"}; printf '%s\\n' "${l%\\"}" ;; esac
  done < /etc/os-release
fi
""",
)
def _parse_agent_version(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    text = "\n".join(parts.get("version", []))
    running = re.search(r"WALinuxAgent-(\d+(?:\.\d+)+)", text)
    goal = re.search(r"Goal state agent:\s*(\d+(?:\.\d+)+)", text)
    package = next((line.split()[:2] for line in parts.get("package", []) if line.strip()), None)
    manager = next((line.strip() for line in parts.get("manager", []) if line.strip()), None)
    os_id = next((line.strip() for line in parts.get("os", []) if line.strip()), None)
    return {
        "os_id": os_id,
        "installed": running.group(1) if running else None,
        "goal_state": goal.group(1) if goal else (running.group(1) if running else None),
        "package": package[0] if package else None,
        "package_version": package[1] if package else None,
        "package_manager": manager,
    }


@probe(
    "agent_processes",
    """
echo "@@ units"
for u in walinuxagent.service waagent.service; do
  bcdr_get "$u" LoadState; printf '%s %s\\n' "$u" "$BCDR_V"
done
echo "@@ processes"
# One grep over every command line (NUL-separated arguments become spaces), no fork per process.
grep -a -E 'waagent|WALinuxAgent' /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' |
while IFS= read -r c; do
  p=${c%%:*}; p=${p%/cmdline}; c=${c#*/cmdline:}
  case "$c" in *bcdrfix-probe*) continue ;; esac
  case "$c" in *" -daemon"*|*" -run-exthandlers"*) printf '%s %s\\n' "${p#/proc/}" "$c" ;; esac
done
""",
)
def _parse_agent_processes(lines: list[str]) -> dict[str, Any]:
    """The agent units' LoadState (a masked unit is not "loaded") and the agent's processes."""
    parts = split_subsections(lines)
    units = dict(line.split(" ", 1) for line in parts.get("units", []) if " " in line)
    processes = [
        line.split(" ", 1)[1].strip() for line in parts.get("processes", []) if " " in line
    ]
    return {
        "units": {name: state.strip() for name, state in units.items()},
        "daemon": any(" -daemon" in p for p in processes),
        "exthandlers": any(" -run-exthandlers" in p for p in processes),
    }


# --- helpers ----------------------------------------------------------------------------------


def agent_unit(observation: Mapping[str, Any]) -> str | None:
    return observation.get("agent_unit")


def _unit_for_fix(observation: Mapping[str, Any]) -> str:
    """The agent's unit; fixes run only after a check that found one."""
    unit = agent_unit(observation)
    if not unit:
        raise LookupError("the agent's systemd unit was not found")
    return unit


def masked_unit(observation: Mapping[str, Any]) -> str | None:
    units = (observation.get("agent_processes") or {}).get("units", {})
    return next((name for name, state in units.items() if state == "masked"), None)


def _no_systemd(observation: Mapping[str, Any]) -> Finding | None:
    if not observation.get("has_systemd"):
        return not_applicable("systemd is not PID 1 on this host")
    if not agent_unit(observation) and (masked := masked_unit(observation)):
        return error(f"{masked} is masked: systemd will not start the agent")
    if not agent_unit(observation):
        return error(
            "no agent unit found (walinuxagent.service or waagent.service): is the agent installed? "
            "(380008 AzureVmOffline)"
        )
    return None


# --- 1. agent service -------------------------------------------------------------------------


def check_agent_service(observation, settings) -> Finding:
    if observation.get("has_systemd") and not agent_unit(observation):
        if masked := masked_unit(observation):
            # The fix of this control is the request to run the agent: it unmasks it then.
            return failed(
                f"{masked} is masked: systemd will not start the agent",
                {"unit": masked, "LoadState": "masked"},
                {"unit": masked, "ActiveState": "active", "UnitFileState": "enabled"},
                unmask=masked,
            )
    if (missing := _no_systemd(observation)) is not None:
        return missing
    unit = agent_unit(observation)
    show = observation.get("agent_service") or {}
    active = show.get("ActiveState")
    enabled = show.get("UnitFileState")
    observed = {"unit": unit, "ActiveState": active, "UnitFileState": enabled}
    desired = {"unit": unit, "ActiveState": "active", "UnitFileState": "enabled"}
    problems = []
    if active != "active":
        problems.append(f"{unit} is {active} ({show.get('SubState')})")
    if enabled not in ("enabled", "enabled-runtime", "static", "alias"):
        problems.append(f"{unit} is {enabled} at boot")
    processes = observation.get("agent_processes") if settings.agent_check_processes else None
    by_hand = False
    if active == "active" and processes is not None and not processes.get("exthandlers"):
        observed["exthandlers"] = False
        by_hand = True
        problems.append(
            f"{unit} is active but its extension handler (-run-exthandlers) is not running: "
            "extensions such as VMSnapshotLinux do not run (the daemon starts it once it "
            "reaches the wireserver: see linux.connectivity and /var/log/waagent.log)"
        )
    if problems:
        return failed(
            "; ".join(problems),
            observed,
            desired,
            start=active != "active",
            enable=enabled not in ("enabled", "enabled-runtime", "static", "alias"),
            by_hand=by_hand,
        )
    return passed(
        f"{unit} is active and enabled"
        + (", its extension handler runs" if processes is not None else ""),
        observed,
        desired,
    )


def fix_agent_service(observation, settings, finding: Finding) -> list[Step]:
    if masked := finding.plan.get("unmask"):
        q = shlex.quote(masked)
        return [
            shell(
                f"Unmask, enable and start {masked}",
                f"systemctl unmask {q} && systemctl enable --now {q}",
            )
        ]
    unit = _unit_for_fix(observation)
    q = shlex.quote(unit)
    steps = []
    if finding.plan.get("enable") and finding.plan.get("start"):
        steps.append(shell("Enable and start the agent", f"systemctl enable --now {q}"))
    elif finding.plan.get("enable"):
        steps.append(shell("Enable the agent at boot", f"systemctl enable {q}"))
    elif finding.plan.get("start"):
        steps.append(shell("Start the agent", f"systemctl start {q}"))
    if finding.plan.get("by_hand"):
        # A restart does not help a daemon that cannot reach the wireserver; say so, do not loop.
        steps.append(
            note(
                f"{unit}: the extension handler (-run-exthandlers) is not running; a restart "
                "does not help while the daemon cannot reach the wireserver",
                name="the extension handler is not running",
                by_hand=True,
            )
        )
    return steps


CONTROLS.register(
    Control(
        id="linux.agent_service",
        title="Guest agent service is running and enabled",
        platform="linux",
        disruptive=False,
        probes=("agent_service", "agent_processes"),
        check=check_agent_service,
        fix=fix_agent_service,
        description="Detects walinuxagent.service or waagent.service on the host and starts/enables "
        "it (unmasks a masked unit); checks that the extension handler (-run-exthandlers) runs.",
    )
)


# --- 1b. restart on demand --------------------------------------------------------------------


def check_agent_restart(observation, settings) -> Finding:
    if (missing := _no_systemd(observation)) is not None:
        return missing
    if not settings.agent_restart:
        return not_applicable("no restart requested (set bcdrfix_agent_restart=true)")
    return failed(f"restart of {agent_unit(observation)} requested", desired="restarted")


def fix_agent_restart(observation, settings, finding: Finding) -> list[Step]:
    unit = _unit_for_fix(observation)
    return [shell("Restart the agent (requested)", f"systemctl restart {shlex.quote(unit)}")]


CONTROLS.register(
    Control(
        id="linux.agent_restart",
        title="Restart the guest agent on request",
        platform="linux",
        disruptive=False,
        probes=("agent_service",),
        check=check_agent_restart,
        fix=fix_agent_restart,
        on_demand=True,
        description="The articles' 'restart the agent'; runs only when bcdrfix_agent_restart is set.",
    )
)


# --- 2. auto-restart --------------------------------------------------------------------------


def dropin_path(unit: str) -> str:
    return f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}"


def dropin_content(settings) -> str:
    return render("agent-restart.conf.j2", restart_sec=settings.agent_restart_sec)


def check_agent_auto_restart(observation, settings) -> Finding:
    if (missing := _no_systemd(observation)) is not None:
        return missing
    unit = agent_unit(observation)
    restart = (observation.get("agent_service") or {}).get("Restart")
    if restart == "always":
        return passed(f"{unit} has Restart=always", {"Restart": restart}, {"Restart": "always"})
    return failed(
        f"{unit} has Restart={restart}: the agent stays down after a crash",
        {"Restart": restart},
        {"Restart": "always"},
    )


def fix_agent_auto_restart(observation, settings, finding: Finding) -> list[Step]:
    unit = _unit_for_fix(observation)
    q = shlex.quote(unit)
    write = Step(
        file_content,
        {
            "name": "Write the Restart=always drop-in",
            "path": dropin_path(unit),
            "content": dropin_content(settings),
            "current": observation.get("agent_restart_dropin"),
        },
    )
    # Keyed on the effective state, not on whether the drop-in changed: a run interrupted
    # between the write and the reload leaves the file right and Restart= still wrong.
    verify = shell(
        "Reload systemd and verify Restart=always",
        f'[ "$(systemctl show -p Restart --value {q})" = always ] || systemctl daemon-reload; '
        f"r=$(systemctl show -p Restart --value {q}) && "
        f'{{ [ "$r" = always ] || {{ echo "bcdrfix: {unit} still has Restart=$r '
        f'(a drop-in in /run or a later one overrides it)" >&2; exit 1; }}; }}',
    )
    return [write, verify]


CONTROLS.register(
    Control(
        id="linux.agent_auto_restart",
        title="systemd restarts the guest agent when it stops",
        platform="linux",
        disruptive=False,
        probes=("agent_service", "agent_restart_dropin"),
        check=check_agent_auto_restart,
        fix=fix_agent_auto_restart,
        description=f"Writes /etc/systemd/system/<unit>.d/{DROPIN_NAME} with Restart=always.",
    )
)


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
        # try-restart: only a running agent is restarted; a stopped one is started by
        # linux.agent_service and then reads the new file anyway.
        steps.append(
            shell(
                "Restart the agent to load the new configuration",
                f"systemctl try-restart {shlex.quote(unit)}",
            )
        )
    return steps


CONTROLS.register(
    Control(
        id="linux.waagent_conf",
        title="/etc/waagent.conf enables extensions and has the desired agent options",
        platform="linux",
        disruptive=False,
        probes=("waagent_conf", "agent_loaded"),
        check=check_waagent_conf,
        fix=fix_waagent_conf,
        description="Extensions.Enabled=y by default; Provisioning.Agent, Logs.Verbose and optional "
        "AutoUpdate.*/HttpProxy.* keys, edited the way the agent parses the file.",
    )
)


# --- 4. agent package / version ---------------------------------------------------------------

PACKAGE_NAMES = {
    "apt-get": "walinuxagent",  # Ubuntu and Debian
    "dnf": "WALinuxAgent",
    "yum": "WALinuxAgent",
    "zypper": "python-azure-agent",
}


def package_name(manager: str, os_id: str | None) -> str:
    """The agent's package when none is installed yet: Debian calls it waagent, Ubuntu
    walinuxagent."""
    if manager == "apt-get" and os_id == "debian":
        return "waagent"
    return PACKAGE_NAMES[manager]


def upgrade_command(manager: str, package: str) -> str:
    q = shlex.quote(package)
    return {
        # A failed list refresh is not fatal: the version check below says what was available.
        "apt-get": "{ apt-get update -q || echo 'bcdrfix: apt-get update failed, using the "
        f"package lists already on the host' >&2; }} && "
        # waagent.conf is a conffile bcdrfix may have edited: keep it, never stop at the prompt.
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        f"-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {q} </dev/null",
        "dnf": f"dnf -y install {q} && dnf -y upgrade {q}",
        "yum": f"yum -y install {q} && yum -y update {q}",
        "zypper": f"zypper -n install {q} && zypper -n update {q}",
    }[manager]


def check_agent_package(observation, settings) -> Finding:
    info = observation.get("agent_version") or {}
    minimum = settings.agent_min_version
    version = info.get("goal_state")
    observed = {k: info.get(k) for k in ("installed", "goal_state", "package", "package_version")}
    if version is None:
        return failed(
            "the guest agent is not installed (380008 AzureVmOffline)",
            observed,
            {"minimum": minimum},
        )
    if version_tuple(version) < version_tuple(minimum):
        return failed(f"agent {version} is older than {minimum}", observed, {"minimum": minimum})
    return passed(f"agent {version} (minimum {minimum})", observed, {"minimum": minimum})


def fix_agent_package(observation, settings, finding: Finding) -> list[Step]:
    info = observation.get("agent_version") or {}
    manager = info.get("package_manager")
    if not settings.agent_upgrade:
        return [
            note(
                f"{finding.summary}: set bcdrfix_agent_upgrade=true to upgrade it with {manager}",
                name="needs bcdrfix_agent_upgrade=true",
            )
        ]
    if manager not in PACKAGE_NAMES:
        return [
            note(f"{finding.summary}: no supported package manager (apt, dnf, yum, zypper) found")
        ]
    package = info.get("package") or package_name(manager, info.get("os_id"))
    minimum = settings.agent_min_version
    unit = agent_unit(observation) or ""
    verify = (
        "v=$(waagent --version 2>/dev/null | sed -n 's/.*Goal state agent: *//p' | head -n1); "
        f'if [ -z "$v" ] || [ "$(printf "%s\\n%s\\n" {shlex.quote(minimum)} "$v" | sort -V | head -n1)" '
        f'!= {shlex.quote(minimum)} ]; then echo "bcdrfix: the repository offers {package} '
        f'${{v:-nothing}}, bcdrfix needs {minimum} or newer" >&2; exit 1; fi'
    )
    restart = f" && systemctl try-restart {shlex.quote(unit)}" if unit else ""
    return [
        shell(
            f"Install/upgrade the agent package (minimum {minimum})",
            f"{upgrade_command(manager, package)} && {{ {verify}; }}{restart}",
        )
    ]


CONTROLS.register(
    Control(
        id="linux.agent_package",
        title="Guest agent is installed and not older than the minimum version",
        platform="linux",
        disruptive=False,
        probes=("agent_version",),
        check=check_agent_package,
        fix=fix_agent_package,
        description="Upgrades only through the distribution's package manager, and only when "
        "bcdrfix_agent_upgrade is set.",
    )
)
