"""``linux.agent_package``: the agent is installed and recent enough; upgrade only on request."""

from __future__ import annotations

import re
import shlex
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    failed,
    note,
    passed,
    shell,
)
from bcdrfix.core.observe import probe, split_subsections
from bcdrfix.core.settings import version_tuple
from bcdrfix.linux.agent_base import agent_unit

CONTROLS = ControlRegistry()


@probe(
    "agent_version",
    """
echo "@@ version"
# What `waagent --version` prints, without starting Python (about 100 ms of CPU per run): the
# installed agent's AGENT_VERSION, and the goal-state agent of the running extension handler
# (/proc/PID/cmdline .../WALinuxAgent-X.Y.Z/... -run-exthandlers), else the installed one.
if command -v waagent >/dev/null; then
  v=$(exec sed -n "/^AGENT_VERSION *= *['\\"]\\([0-9][0-9.]*\\)['\\"].*/{s//\\1/p;q;}" \\
    /usr/lib/python3*/*-packages/azurelinuxagent/common/version.py \\
    /usr/lib64/python3*/*-packages/azurelinuxagent/common/version.py \\
    /usr/local/lib/python3*/*-packages/azurelinuxagent/common/version.py 2>/dev/null)
  if [ -n "$v" ]; then
    # the first extension handler's .../WALinuxAgent-X.Y.Z... among the agent's command lines
    # (bcdr_procs: one grep, shared with agent_processes; the observing processes left out)
    bcdr_procs; g=; ifs=$IFS; IFS=$BCDR_NL; set -f
    for l in $BCDR_PROCS; do
      case "$l" in *" -run-exthandlers"*) ;; *) continue ;; esac
      l=${l#*/WALinuxAgent-}; l=${l%%[!.0-9]*}
      case "$l" in [0-9]*.[0-9]*.[0-9]*) g=$l; break ;; esac
    done
    IFS=$ifs; set +f
    echo "WALinuxAgent-$v"
    echo "Goal state agent: ${g:-$v}"
  else
    waagent --version 2>&1 | head -n 5
  fi
fi
echo "@@ package"
if command -v dpkg-query >/dev/null; then
  # What `dpkg-query -W` prints for the agent's package, read from dpkg's status file
  # (deb-status(5)) by one awk: dpkg-query parses every package of the database (about 5 ms of
  # CPU for a 750 kB status file; a server's is several MB). dpkg-query itself when dpkg left
  # changes in its journal (updates/: an interrupted dpkg run, merged by the next one) or keeps
  # its database elsewhere (DPKG_ADMINDIR). (BCDR_DPKG_DIR: for the unit tests; unset on hosts)
  d=${BCDR_DPKG_DIR:-/var/lib/dpkg}
  set -- "$d"/updates/[0-9]*
  if [ -e "$1" ] || [ -n "${DPKG_ADMINDIR:-}" ] || [ ! -r "$d/status" ]; then
    out=$(exec dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' waagent \\
      walinuxagent 2>/dev/null)
  else
    # the lines dpkg-query's would leave through the filter below: Status "install ... installed"
    # (ii), or "hold ... installed" (hi: held with `apt-mark hold`, installed all the same)
    out=$(exec awk -v RS= '
      /^Package: (waagent|walinuxagent)\\n/ {
        n = split($0, f, "\\n"); v = ""; s = ""
        for (i = 2; i <= n; i++) {
          if (f[i] ~ /^Version: /) v = substr(f[i], 10)
          if (f[i] ~ /^Status: /) s = substr(f[i], 9)
        }
        split(s, w, " ")
        if (w[3] == "installed" && (w[1] == "install" || w[1] == "hold"))
          print substr(f[1], 10), v, (w[1] == "hold" ? "hi" : "ii")
      }' "$d/status")
  fi
  ifs=$IFS; IFS=$BCDR_NL; set -f
  for l in $out; do case "$l" in *" ii"*|*" hi"*) printf '%s\\n' "$l" ;; esac; done
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
    # name, version and dpkg's status ("ii", or "hi" when held) of the first package line
    package = next((line.split() for line in parts.get("package", []) if line.strip()), [])
    manager = next((line.strip() for line in parts.get("manager", []) if line.strip()), None)
    os_id = next((line.strip() for line in parts.get("os", []) if line.strip()), None)
    return {
        "os_id": os_id,
        "installed": running.group(1) if running else None,
        "goal_state": goal.group(1) if goal else (running.group(1) if running else None),
        "package": package[0] if package else None,
        "package_version": package[1] if len(package) > 1 else None,
        # held with `apt-mark hold`: an upgrade would have to override the hold
        "package_held": package[2:3] == ["hi"],
        "package_manager": manager,
    }


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
    observed = {
        k: info.get(k)
        for k in ("installed", "goal_state", "package", "package_version", "package_held")
    }
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
    if info.get("package_held"):  # an administrator's `apt-mark hold`: never overridden
        return [
            note(
                f"{finding.summary}: {package} is held (apt-mark hold); bcdrfix does not override "
                f"a hold: run `apt-mark unhold {package}` first to let it upgrade",
                name="the agent's package is held",
                by_hand=True,
            )
        ]
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
