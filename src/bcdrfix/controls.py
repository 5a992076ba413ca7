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

__all__ = [
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
    "load_settings",
]


def load_settings(data: Mapping[str, Any] | Any, host_name: str = "") -> Settings:
    """Validate one host's ``bcdrfix_*`` values against every known setting and control."""
    return _load_settings(data, host_name, table=SETTINGS, controls=REGISTRY)


def apply_controls(control_ids: Iterable[str]) -> list[tuple[Control, Finding]]:
    """Check and fix the given controls on the current pyinfra host (for deploy files)."""
    return apply.apply_controls(ENGINE, control_ids)
