"""Guest agent controls: services, restart on request, version and .NET (report), and the
backup extension's VSS provider service."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Finding,
    Step,
    error,
    failed,
    not_applicable,
    passed,
    report_only,
)
from bcdrfix.core.settings import version_tuple
from bcdrfix.windows.controls.base import (
    AGENT_SERVICES,
    NDP_V4_FULL,
    _guard,
    _register,
    _section,
    registry_of,
    restart_step,
    service_of,
    service_problems,
    service_step,
)

# --- guest agent ------------------------------------------------------------------------------


@_guard
def check_agent_services(observation, settings) -> Finding:
    observed, problems, missing = {}, [], []
    for name in AGENT_SERVICES:
        service = service_of(observation, name)
        if service is None:
            missing.append(name)
            continue
        observed[name] = {"state": service.get("state"), "start_mode": service.get("start_mode")}
        problems += service_problems(service)
    desired = {name: {"state": "Running", "start_mode": "Auto"} for name in AGENT_SERVICES}
    if missing:
        return error(
            f"{', '.join(missing)} not installed: install the Azure VM agent "
            "(380008 AzureVmOffline)",
            observed,
        )
    if problems:
        return failed("; ".join(problems), observed, desired)
    return passed("WindowsAzureGuestAgent and RdAgent are running and Automatic", observed, desired)


def fix_agent_services(observation, settings, finding: Finding) -> list[Step]:
    return [
        service_step(
            name,
            f"Start {name} and set it Automatic",
            service_of(observation, name),
            settings,
            running=True,
            start_mode="Automatic",
        )
        for name in AGENT_SERVICES
    ]


_register(
    id="windows.agent_services",
    title="Guest agent services are running and start automatically",
    disruptive=False,
    probes=("services",),
    check=check_agent_services,
    fix=fix_agent_services,
    description="WindowsAzureGuestAgent and RdAgent: Running, start type Automatic.",
)


@_guard
def check_agent_restart(observation, settings) -> Finding:
    if not settings.agent_restart:
        return not_applicable("no restart requested (set bcdrfix_agent_restart=true)")
    missing = [name for name in AGENT_SERVICES if service_of(observation, name) is None]
    if missing:
        return error(f"{', '.join(missing)} not installed: nothing to restart")
    return failed("restart of WindowsAzureGuestAgent and RdAgent requested", desired="restarted")


def fix_agent_restart(observation, settings, finding: Finding) -> list[Step]:
    return [restart_step(name, settings, f"Restart {name} (requested)") for name in AGENT_SERVICES]


_register(
    id="windows.agent_restart",
    title="Restart the guest agent on request",
    disruptive=False,
    probes=("services",),
    check=check_agent_restart,
    fix=fix_agent_restart,
    on_demand=True,
    description="The articles' 'restart the agent'; only with bcdrfix_agent_restart.",
)


def agent_version(info: Mapping[str, Any]) -> str | None:
    """The running agent's version: its executable, else the newest GuestAgent_<v> folder."""
    for candidate in (info.get("file_version"), info.get("product_version")):
        if candidate and version_tuple(candidate):
            return ".".join(str(p) for p in version_tuple(candidate)[:4])
    folders = [
        m.group(1)
        for f in info.get("folders") or ()
        if (m := re.match(r"GuestAgent_(\d+(?:\.\d+){1,3})", f))
    ]
    if folders:
        return max(folders, key=version_tuple)
    legacy = info.get("waappagent_version")
    if legacy and version_tuple(legacy):
        return ".".join(str(p) for p in version_tuple(legacy)[:4])
    return None


@_guard
def check_agent_version(observation, settings) -> Finding:
    info = _section(observation, "agent")
    minimum = settings.windows_agent_min_version
    version = agent_version(info)
    observed = {"version": version, "path": info.get("exe") or info.get("waappagent_path")}
    if version is None:
        return failed(
            "no guest agent found (380008 AzureVmOffline)", observed, {"minimum": minimum}
        )
    if version_tuple(version) < version_tuple(minimum):
        return failed(
            f"guest agent {version} is older than {minimum}", observed, {"minimum": minimum}
        )
    return passed(f"guest agent {version} (minimum {minimum})", observed, {"minimum": minimum})


fix_agent_version = report_only(
    "install the current Azure VM agent MSI from Microsoft "
    "(https://go.microsoft.com/fwlink/?LinkID=394789)"
)

_register(
    id="windows.agent_version",
    title="Guest agent is not older than the minimum version",
    disruptive=False,
    probes=("agent",),
    check=check_agent_version,
    fix=fix_agent_version,
    description="Reads the version of the agent executable the service runs (report only).",
)


@_guard
def check_dotnet_version(observation, settings) -> Finding:
    release = registry_of(observation, NDP_V4_FULL, "Release") or {}
    minimum = settings.dotnet_min_release
    value = release.get("data") if release.get("exists") else None
    observed = {"Release": value}
    if value is None:
        return failed(
            ".NET Framework 4.5 or newer is not installed (no NDP\\v4\\Full Release)",
            observed,
            {"minimum": minimum},
        )
    if int(value) < minimum:
        return failed(
            f".NET Framework Release {value} is older than {minimum}",
            observed,
            {"minimum": minimum},
        )
    return passed(
        f".NET Framework Release {value} (minimum {minimum})", observed, {"minimum": minimum}
    )


fix_dotnet_version = report_only("install .NET Framework 4.5 or newer")

_register(
    id="windows.dotnet_version",
    title=".NET Framework 4.5 or newer is installed",
    disruptive=False,
    probes=("registry",),
    check=check_dotnet_version,
    fix=fix_dotnet_version,
    description="HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full Release (report only).",
)

# --- backup extension's VSS provider ----------------------------------------------------------


@_guard
def check_iaasvmprovider(observation, settings) -> Finding:
    service = service_of(observation, "iaasvmprovider")
    if service is None:
        return not_applicable("iaasvmprovider is not installed (the backup extension installs it)")
    observed = {"state": service.get("state"), "start_mode": service.get("start_mode")}
    problems = service_problems(service)
    if problems:
        return failed("; ".join(problems), observed, {"state": "Running", "start_mode": "Auto"})
    return passed("iaasvmprovider is running and Automatic", observed)


def fix_iaasvmprovider(observation, settings, finding: Finding) -> list[Step]:
    return [
        service_step(
            "iaasvmprovider",
            "Start iaasvmprovider and set it Automatic",
            service_of(observation, "iaasvmprovider"),
            settings,
            running=True,
            start_mode="Automatic",
        )
    ]


_register(
    id="windows.iaasvmprovider",
    title="The backup extension's VSS provider service runs",
    disruptive=False,
    probes=("services",),
    check=check_iaasvmprovider,
    fix=fix_iaasvmprovider,
)
