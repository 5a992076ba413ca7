"""The Linux agent's unit and processes: probes and helpers shared by the agent controls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Finding,
    error,
    not_applicable,
)
from bcdrfix.core.observe import parse_key_values, probe, split_subsections

# The handler operation linux.waagent_conf and linux.agent_service share (``Control.handler``):
# after every control of the deploy, ONE operation per host restarts an agent that runs with an
# older configuration, or starts a stopped one. Two operations made every host wait at a
# barrier between the restarts and the starts, while the restarted agents' start-up (a Python
# interpreter each) took the cores the starts were waiting for.
AGENT_HANDLER = "guest agent: restart it if it runs with an older configuration, or start it"

# --- probes ---------------------------------------------------------------------------------


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
    "agent_processes",
    """
echo "@@ units"
for u in walinuxagent.service waagent.service; do
  bcdr_get "$u" LoadState; printf '%s %s\\n' "$u" "$BCDR_V"
done
# One grep over every command line (bcdr_procs), the observing processes left out; the parser
# keeps the agent's daemon and extension handler.
bcdr_procs
echo "@@ self"; printf '%s\\n' "$BCDR_OBSERVER"
echo "@@ processes"; [ -n "$BCDR_PROCS" ] && printf '%s\\n' "$BCDR_PROCS"
""",
)
def _parse_agent_processes(lines: list[str]) -> dict[str, Any]:
    """The agent units' LoadState (a masked unit is not "loaded") and the agent's processes."""
    parts = split_subsections(lines)
    units = dict(line.split(" ", 1) for line in parts.get("units", []) if " " in line)
    observer = {f"/proc/{pid}/" for line in parts.get("self", []) for pid in line.split()}
    processes = []
    for line in parts.get("processes", []):  # "/proc/PID/cmdline:ARGUMENTS" (grep's lines)
        path, _, command = line.replace("\0", " ").partition(":")
        if f"{path.rsplit('/', 1)[0]}/" in observer or "bcdrfix-probe" in command:
            continue
        if " -daemon" in command or " -run-exthandlers" in command:
            processes.append(command.strip())
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
