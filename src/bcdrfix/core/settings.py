"""Desired state from inventory and group data, validated before any host is touched.

The settings framework: ``Setting``, ``SettingsTable`` (each content module declares its own
settings once with default, validator and a one-line description; ``bcdrfix.controls`` combines
the tables), the shared validators, the settings every platform shares (``SHARED``) and
``load_settings``. ``group_data/*.py`` documents the same names for users. A wrong value raises
``SettingsError`` with one line that names the host, the setting and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra.api.exceptions import PyinfraError


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


class SettingsTable(dict[str, Setting]):
    """Settings by name, in definition order (the order in which they are validated)."""

    def define(self, name: str, default: Any, validate: Validator, doc: str) -> None:
        if name in self:
            raise ValueError(f"setting {name} defined twice")
        self[name] = Setting(name, default, validate, doc)

    @classmethod
    def combine(cls, *tables: Mapping[str, Setting]) -> SettingsTable:
        combined = cls()
        for table in tables:
            for setting in table.values():
                combined.define(setting.name, setting.default, setting.validate, setting.doc)
        return combined


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


def version_tuple(version: str | None) -> tuple[int, ...]:
    """``"2.7.41491.1010"`` -> ``(2, 7, 41491, 1010)``: versions compare as tuples of numbers."""
    return tuple(int(part) for part in re.findall(r"\d+", version or ""))


def _int_in(value: Any, low: int, high: int) -> int | None:
    """``value`` as a whole number from ``low`` to ``high``, else None."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if low <= number <= high else None


def as_port(name: str, value: Any) -> int:
    port = _int_in(value, 1, 65535)
    if port is None:
        raise SettingsError(f"{name}={value!r}: expected a TCP port 1-65535")
    return port


def as_int_range(low: int, high: int, what: str = "a whole number") -> Validator:
    """A whole number from ``low`` to ``high``; ``what`` names it in the error ("seconds")."""

    def check(name: str, value: Any) -> int:
        number = _int_in(value, low, high)
        if number is None:
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


def as_id_list(name: str, value: Any) -> tuple[str, ...]:
    """Names given as a list or as one comma-separated string."""
    items = [value] if isinstance(value, str) else list(value or ())
    return tuple(i.strip() for item in items for i in str(item).split(",") if i.strip())


# --- the settings every platform shares -----------------------------------------------------

SHARED = SettingsTable()
SHARED.define(
    "bcdrfix_allow_disruptive",
    False,
    as_bool,
    "Allow fixes that can hurt production (service restarts other than the agent, reinstalls, "
    "unmount/fsck). Off: such fixes are reported as 'needs approval'.",
)
SHARED.define(
    "bcdrfix_fail_on_findings",
    False,
    as_bool,
    "Fail a host's operation when a control needs approval, is only reported, or leaves work "
    "by hand (for CI); by default these are reported and the run succeeds.",
)
SHARED.define(
    "bcdrfix_skip_controls",
    (),
    as_id_list,  # checked against the control registry by load_settings
    "Control ids this host must not check or fix (for example a VM you manage by hand).",
)

# --- connections and locks (every platform) -------------------------------------------------

SHARED.define(
    "bcdrfix_ssh_keepalive",
    10,
    as_int_range(1, 3600, "seconds"),
    "Seconds between SSH keepalives on every connection bcdrfix uses.",
)
SHARED.define(
    "bcdrfix_ssh_dead_after",
    30,
    as_int_range(5, 3600, "seconds"),
    "A connection whose data stays unacknowledged this long is dead (TCP_USER_TIMEOUT): that "
    "host fails alone, the others go on. A cut host fails within keepalive + dead-after seconds.",
)
SHARED.define(
    "bcdrfix_lock_wait",
    60,
    as_int_range(0, 3600, "seconds"),
    "Seconds a run waits for another bcdrfix run's lock on a host before that host fails.",
)
SHARED.define(
    "bcdrfix_lock_ttl",
    1800,
    as_int_range(10, 86400, "seconds"),
    "A run's host lock is released at its end, when its connection closes, or after this long.",
)
SHARED.define(
    "bcdrfix_max_file_bytes",
    1048576,
    as_int_range(1024, 1073741824, "bytes"),
    "Largest file the observation reads; a larger one is reported as an error, never edited.",
)

# --- loading ----------------------------------------------------------------------------------


class Settings(Mapping[str, Any]):
    """Validated settings of one host; attribute access without the ``bcdrfix_`` prefix."""

    def __init__(self, values: Mapping[str, Any], error_code: str | None = None):
        self._values = dict(values)
        # The error code a ``fix --code`` run is for (host data ``error_code``), else None:
        # some fixes apply only for the codes whose articles ask for them.
        self.error_code = error_code

    def __getattr__(self, item: str) -> Any:
        try:
            return self._values[f"bcdrfix_{item}"]
        except KeyError:
            raise AttributeError(item) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def load_settings(
    data: Mapping[str, Any] | Any,
    host_name: str = "",
    *,
    table: Mapping[str, Setting],
    controls: Container[str],
) -> Settings:
    """Validate the bcdrfix_* values of one host's data against ``table``.

    ``data`` is a mapping or pyinfra's ``HostData``; ``controls`` holds the known control ids
    (for ``bcdrfix_skip_controls``). Unknown ``bcdrfix_*`` names are refused so that a typo
    does not silently fall back to a default.
    """
    if hasattr(data, "dict"):
        raw = dict(data.dict())
    else:
        raw = dict(data)
    prefix = f"host {host_name}: " if host_name else ""
    for key in raw:
        if key.startswith("bcdrfix_") and key not in table:
            near = [name for name in table if name[:12] == key[:12]]
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise SettingsError(f"{prefix}unknown setting {key}{hint}")
    values = {}
    for setting in table.values():
        value = raw.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.validate(setting.name, value)
        except SettingsError as exc:
            raise SettingsError(f"{prefix}{exc}") from None
        if setting.name == "bcdrfix_skip_controls":
            for item in values[setting.name]:
                if item not in controls:
                    raise SettingsError(f"{prefix}{setting.name}: unknown control {item!r}")
    code = raw.get("error_code")
    return Settings(values, str(code).strip() if code not in (None, "") else None)
