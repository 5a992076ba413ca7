"""Desired state from inventory and group data, validated before any host is touched.

Every setting bcdrfix reads from host data is declared here once with its default, its
validator and a one-line description. ``group_data/*.py`` documents the same names for users.
A wrong value raises ``SettingsError`` with one line that names the host, the setting and
what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pyinfra.api.exceptions import PyinfraError

from bcdrfix.linux import waagent_conf


class SettingsError(PyinfraError, ValueError):
    """A desired-state value is wrong; the message is one line meant for the user.

    A PyinfraError, so that pyinfra's CLI prints it as one line (no traceback) and stops the run
    while deploys are prepared, before any operation is executed on any host.
    """


Validator = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    validate: Validator
    doc: str


SETTINGS: dict[str, Setting] = {}


def define(name: str, default: Any, validate: Validator, doc: str) -> None:
    if name in SETTINGS:
        raise ValueError(f"setting {name} defined twice")
    SETTINGS[name] = Setting(name, default, validate, doc)


# --- validators ---------------------------------------------------------------------------

_TRUE = {"y", "yes", "true", "on", "1"}
_FALSE = {"n", "no", "false", "off", "0", ""}


def as_bool(name: str, value: Any) -> bool:
    """Accept Python booleans and the strings pyinfra's ``--data key=value`` produces."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise SettingsError(f"{name}={value!r}: expected a boolean (true/false, y/n)")


def optional(validate: Validator) -> Validator:
    def check(name: str, value: Any) -> Any:
        return None if value is None or value == "" else validate(name, value)

    return check


_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")


def as_version(name: str, value: Any) -> str:
    text = str(value).strip()
    if not _VERSION.match(text):
        raise SettingsError(f"{name}={value!r}: expected a dotted version such as 2.7.41491.1010")
    return text


def as_port(name: str, value: Any) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise SettingsError(f"{name}={value!r}: expected a TCP port 1-65535")
    return port


def as_int_range(low: int, high: int, what: str = "a whole number") -> Validator:
    """A whole number from ``low`` to ``high``; ``what`` names it in the error ("seconds")."""

    def check(name: str, value: Any) -> int:
        try:
            number = int(str(value))
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise SettingsError(f"{name}={value!r}: expected {what} between {low} and {high}")
        return number

    return check


def as_path(name: str, value: Any) -> str:
    text = str(value)
    if not text.startswith("/") or "\n" in text or "\0" in text:
        raise SettingsError(f"{name}={value!r}: expected an absolute path")
    return text


def as_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or "\n" in value or "\0" in value:
        raise SettingsError(f"{name}={value!r}: expected a single-line string")
    return value


def as_choice(*choices: str) -> Validator:
    def check(name: str, value: Any) -> str:
        text = str(value).strip()
        if text not in choices:
            raise SettingsError(f"{name}={value!r}: expected one of {', '.join(choices)}")
        return text

    return check


def as_waagent_conf(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{name}: expected a mapping of waagent.conf keys to values")
    try:
        return waagent_conf.normalise_desired(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


# --- the settings every platform shares -----------------------------------------------------

define(
    "bcdrfix_allow_disruptive",
    False,
    as_bool,
    "Allow fixes that can hurt production (service restarts other than the agent, reinstalls, "
    "unmount/fsck). Off: such fixes are reported as 'needs approval'.",
)
define(
    "bcdrfix_skip_controls",
    (),
    lambda name, value: _as_control_list(name, value),
    "Control ids this host must not check or fix (for example a VM you manage by hand).",
)

# --- Linux guest agent ----------------------------------------------------------------------

define(
    "bcdrfix_waagent_conf",
    MappingProxyType(
        {"Extensions.Enabled": "y", "Provisioning.Agent": "auto", "Logs.Verbose": "n"}
    ),
    as_waagent_conf,
    "Desired /etc/waagent.conf keys. Extensions.Enable (the articles' spelling) is accepted "
    "and written as Extensions.Enabled.",
)
define(
    "bcdrfix_agent_verbose_logs",
    None,
    optional(as_bool),
    "Switch Logs.Verbose for diagnostics (overrides bcdrfix_waagent_conf when set).",
)
define(
    "bcdrfix_waagent_conf_path",
    "/etc/waagent.conf",
    as_path,
    "Path of the agent configuration file.",
)
define(
    "bcdrfix_agent_unit",
    None,
    optional(as_choice("walinuxagent", "waagent")),
    "Force the agent's systemd unit name; by default it is detected on each host.",
)
define(
    "bcdrfix_agent_restart_sec",
    5,
    as_int_range(0, 3600, "seconds"),
    "RestartSec= written with Restart=always in the auto-restart drop-in.",
)
define(
    "bcdrfix_agent_restart",
    False,
    as_bool,
    "Restart the agent on this run even when nothing changed (the articles' 'restart the agent').",
)
define(
    "bcdrfix_agent_min_version",
    "2.2.53",
    as_version,
    "Lowest acceptable guest agent version (goal-state agent) on Linux.",
)
define(
    "bcdrfix_agent_upgrade",
    False,
    as_bool,
    "Install or upgrade the agent through the host's package manager when it is missing or too old.",
)
define(
    "bcdrfix_logs_dir",
    "collected-logs",
    as_text,
    "Local folder where deploys/linux_logs.py puts one sub-folder of agent logs per host.",
)


def _as_control_list(name: str, value: Any) -> tuple[str, ...]:
    from bcdrfix.controls import REGISTRY  # late: controls import settings

    items = [value] if isinstance(value, str) else list(value or ())
    items = [i.strip() for item in items for i in str(item).split(",") if i.strip()]
    for item in items:
        if item not in REGISTRY:
            raise SettingsError(f"{name}: unknown control {item!r}")
    return tuple(items)


# --- loading ----------------------------------------------------------------------------------


class Settings(Mapping[str, Any]):
    """Validated settings of one host; attribute access without the ``bcdrfix_`` prefix."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getattr__(self, item: str) -> Any:
        try:
            return self._values[f"bcdrfix_{item}"]
        except KeyError:
            raise AttributeError(item) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def waagent_desired(self) -> dict[str, str]:
        """The waagent.conf keys to enforce, with the verbose-logs switch applied."""
        desired = dict(self.waagent_conf)
        if self.agent_verbose_logs is not None:
            desired["Logs.Verbose"] = "y" if self.agent_verbose_logs else "n"
        return desired


def load_settings(data: Mapping[str, Any] | Any, host_name: str = "") -> Settings:
    """Validate the bcdrfix_* values of one host's data.

    ``data`` is a mapping or pyinfra's ``HostData``. Unknown ``bcdrfix_*`` names are refused so
    that a typo does not silently fall back to a default.
    """
    import bcdrfix.controls  # noqa: F401  (control modules define their own settings)

    if hasattr(data, "dict"):
        raw = dict(data.dict())
    else:
        raw = dict(data)
    prefix = f"host {host_name}: " if host_name else ""
    for key in raw:
        if key.startswith("bcdrfix_") and key not in SETTINGS:
            near = [name for name in SETTINGS if name[:12] == key[:12]]
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise SettingsError(f"{prefix}unknown setting {key}{hint}")
    values = {}
    for setting in SETTINGS.values():
        value = raw.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.validate(setting.name, value)
        except SettingsError as exc:
            raise SettingsError(f"{prefix}{exc}") from None
    return Settings(values)
