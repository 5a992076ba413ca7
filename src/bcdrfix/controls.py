"""The one place where bcdrfix's content is assembled: every control, setting and observer.

The engine (``bcdrfix.core``) knows no platform; the Linux and Windows content modules each
keep their own ``CONTROLS`` (and ``SETTINGS``). This module imports them explicitly and builds
the registry, the settings table and the observers that audit, fix, the catalog and the
deploys pass to the engine::

    from bcdrfix.controls import apply_controls        # in a deploy file
    apply_controls(["linux.waagent_conf", "linux.agent_service"])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bcdrfix.core import apply
from bcdrfix.core.model import Control, ControlRegistry, Finding, Status, Step
from bcdrfix.core.observe import observe_linux
from bcdrfix.core.settings import SHARED, Settings, SettingsTable
from bcdrfix.core.settings import load_settings as _load_settings
from bcdrfix.linux import agent as linux_agent
from bcdrfix.linux import agent_settings as linux_agent_settings
from bcdrfix.linux import backup as linux_backup
from bcdrfix.windows import controls as windows_controls

REGISTRY: ControlRegistry = ControlRegistry.combine(
    linux_agent.CONTROLS, windows_controls.CONTROLS, linux_backup.CONTROLS
)
SETTINGS: SettingsTable = SettingsTable.combine(
    SHARED, linux_agent_settings.SETTINGS, windows_controls.SETTINGS, linux_backup.SETTINGS
)
OBSERVERS: Mapping[str, apply.Observer] = {
    "linux": observe_linux,
    "windows": windows_controls.observe_windows,
}
ENGINE = apply.Engine(REGISTRY, SETTINGS, OBSERVERS)

# --- the packaged deploys (``bcdrfix.deploys``) -------------------------------------------------

# deploy function name -> its controls, in the order they run.
DEPLOYS: dict[str, tuple[str, ...]] = {
    # The unit's drop-in first (one daemon-reload while no agent is starting), then the config,
    # then the service: a stopped agent starts with its new config; a running one is restarted
    # once by the agent's handler (agent_base.AGENT_HANDLER), after all of them.
    "linux_agent": (
        "linux.agent_auto_restart",
        "linux.waagent_conf",
        "linux.agent_service",
        "linux.agent_restart",
        "linux.agent_package",
    ),
    # vmbackup.conf (MountsToSkip) is written before freeze readiness is judged.
    "linux_backup": (
        "linux.vmbackup_conf",
        "linux.vmbackup_conf_location",
        "linux.freeze_readiness",
        "linux.selinux_waagent",
        "linux.connectivity",
        "linux.dhcp",
    ),
    "windows_agent": (
        "windows.agent_services",
        "windows.agent_restart",
        "windows.agent_version",
        "windows.dotnet_version",
        "windows.dhcp",
    ),
    "windows_antivirus": ("windows.defender_exclusions",),
    # The account is fixed before a reinstall could be requested; COM+ is started last.
    "windows_com": ("windows.msdtc_account", "windows.msdtc_reinstall", "windows.comsysapp"),
    # The ACL first: the agent can only write new certificates' keys into a readable MachineKeys.
    "windows_machinekeys": ("windows.machinekeys_acl", "windows.crp_certificates"),
    "windows_msi": ("windows.msiserver", "windows.msi_reregister"),
    "windows_tls": ("windows.tls_strong_crypto",),
    # Network endpoints and the WinHTTP proxy (report only).
    "windows_network": ("windows.connectivity",),
    "windows_vss": (
        "windows.iaasvmprovider",
        "windows.vss_service",
        "windows.bcdr_snapshot_keys",
        "windows.sql_vss_copy_backup",
        "windows.vss_writers",
        "windows.vss_service_restart",
        "windows.bitlocker",
    ),
}


def deploy_for_control(control_id: str) -> str | None:
    """The importable name of the deploy that fixes a control (the one with the fewest controls),
    e.g. ``bcdrfix.deploys.linux_agent``; None when no deploy covers it."""
    owners = sorted((len(ids), name) for name, ids in DEPLOYS.items() if control_id in ids)
    return f"bcdrfix.deploys.{owners[0][1]}" if owners else None


__all__ = [
    "DEPLOYS",
    "ENGINE",
    "OBSERVERS",
    "REGISTRY",
    "SETTINGS",
    "Control",
    "Finding",
    "Settings",
    "Status",
    "Step",
    "apply_controls",
    "deploy_for_control",
    "load_settings",
]


def load_settings(data: Mapping[str, Any] | Any, host_name: str = "") -> Settings:
    """Validate one host's ``bcdrfix_*`` values against every known setting and control."""
    return _load_settings(data, host_name, table=SETTINGS, controls=REGISTRY)


def apply_controls(control_ids: Iterable[str]) -> list[tuple[Control, Finding]]:
    """Check and fix the given controls on the current pyinfra host (for deploy files)."""
    return apply.apply_controls(ENGINE, control_ids)
