"""Settings of the Linux guest agent controls (``linux.agent``) and their validators."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bcdrfix.core.settings import (
    SettingsError,
    SettingsTable,
    as_bool,
    as_choice,
    as_int_range,
    as_path,
    as_text,
    as_version,
    optional,
)
from bcdrfix.linux import waagent_conf


def as_waagent_conf(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{name}: expected a mapping of waagent.conf keys to values")
    try:
        return waagent_conf.normalise_desired(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def waagent_desired(settings: Any) -> dict[str, str]:
    """The waagent.conf keys to enforce, with the verbose-logs switch applied."""
    desired = dict(settings.waagent_conf)
    if settings.agent_verbose_logs is not None:
        desired["Logs.Verbose"] = "y" if settings.agent_verbose_logs else "n"
    return desired


SETTINGS = SettingsTable()

SETTINGS.define(
    "bcdrfix_waagent_conf",
    MappingProxyType({"Extensions.Enabled": "y"}),
    as_waagent_conf,
    "Desired /etc/waagent.conf keys (default: only what the articles need). Extensions.Enable "
    "(the articles' spelling) is accepted and written as Extensions.Enabled.",
)
SETTINGS.define(
    "bcdrfix_agent_verbose_logs",
    None,
    optional(as_bool),
    "Switch Logs.Verbose for diagnostics (overrides bcdrfix_waagent_conf when set; unset: "
    "Logs.Verbose stays as the admin set it).",
)
SETTINGS.define(
    "bcdrfix_waagent_conf_path",
    "/etc/waagent.conf",
    as_path,
    "Path of the agent configuration file.",
)
SETTINGS.define(
    "bcdrfix_agent_unit",
    None,
    optional(as_choice("walinuxagent", "waagent")),
    "Force the agent's systemd unit name; by default it is detected on each host.",
)
SETTINGS.define(
    "bcdrfix_agent_check_processes",
    True,
    as_bool,
    "linux.agent_service also checks that the agent's extension handler (-run-exthandlers) runs.",
)
SETTINGS.define(
    "bcdrfix_agent_restart_sec",
    5,
    as_int_range(0, 3600, "seconds"),
    "RestartSec= written with Restart=always in the auto-restart drop-in.",
)
SETTINGS.define(
    "bcdrfix_agent_restart",
    False,
    as_bool,
    "Restart the agent on this run even when nothing changed (the articles' 'restart the agent').",
)
SETTINGS.define(
    "bcdrfix_agent_min_version",
    "2.2.53",
    as_version,
    "Lowest acceptable guest agent version (goal-state agent) on Linux.",
)
SETTINGS.define(
    "bcdrfix_agent_upgrade",
    False,
    as_bool,
    "Install or upgrade the agent through the host's package manager when it is missing or too old.",
)
SETTINGS.define(
    "bcdrfix_logs_dir",
    "collected-logs",
    as_text,
    "Local folder where deploys/linux_logs.py puts one sub-folder of agent logs per host.",
)
SETTINGS.define(
    "bcdrfix_logs_max_mb",
    512,
    as_int_range(1, 16384, "megabytes"),
    "deploys/linux_logs.py unpacks at most this much log content per host (archive bombs stop).",
)
