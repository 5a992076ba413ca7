"""Registry values under HKLM: written only when their type or data differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationValueError

from bcdrfix.windows import powershell

HKLM_PREFIXES = ("HKEY_LOCAL_MACHINE\\", "HKLM\\", "HKLM:\\")
REGISTRY_KINDS = {
    "string": "String",
    "reg_sz": "String",
    "expandstring": "ExpandString",
    "reg_expand_sz": "ExpandString",
    "dword": "DWord",
    "reg_dword": "DWord",
    "qword": "QWord",
    "reg_qword": "QWord",
    "multistring": "MultiString",
    "reg_multi_sz": "MultiString",
}


# --- registry ---------------------------------------------------------------------------------


def registry_subkey(path: str) -> str:
    """``SOFTWARE\\...`` below HKLM; other hives are refused (bcdrfix only needs HKLM)."""
    for prefix in HKLM_PREFIXES:
        if path.upper().startswith(prefix.upper()):
            subkey = path[len(prefix) :].strip("\\")
            if subkey:
                return subkey
    raise OperationValueError(f"registry path {path!r}: expected HKEY_LOCAL_MACHINE\\<key>")


def registry_kind(kind: str) -> str:
    try:
        return REGISTRY_KINDS[str(kind).lower()]
    except KeyError:
        raise OperationValueError(
            f"registry type {kind!r}: expected String, ExpandString, DWord, QWord or MultiString"
        ) from None


def registry_data_equal(kind: str, desired: Any, observed: Any) -> bool:
    if kind in ("DWord", "QWord"):
        try:
            mask = 0xFFFFFFFF if kind == "DWord" else 0xFFFFFFFFFFFFFFFF
            return (int(observed) & mask) == (int(desired) & mask)
        except (TypeError, ValueError):
            return False
    if kind == "MultiString":
        observed_list = [observed] if isinstance(observed, str) else list(observed or [])
        return observed_list == list(desired)
    return isinstance(observed, str) and observed == str(desired)


def registry_matches(current: Mapping[str, Any] | None, kind: str, value: Any) -> bool:
    """The observed value has the desired type and data."""
    if not current or not current.get("exists"):
        return False
    return str(current.get("kind") or "").lower() == kind.lower() and registry_data_equal(
        kind, value, current.get("data")
    )


REGISTRY_SET = r"""
$root = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64)
$key = $root.CreateSubKey($SubKey)
try {
    $key.SetValue($Name, $Value, [Microsoft.Win32.RegistryValueKind]$Kind)
}
finally {
    $key.Close()
    $root.Close()
}
"""


def registry_value_script(path: str, name: str, value: Any, kind: str) -> str:
    kind = registry_kind(kind)
    if kind in ("DWord", "QWord"):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise OperationValueError(
                f"{path}\\{name}: {kind} needs a number, got {value!r}"
            ) from None
    elif kind == "MultiString":
        value = [str(v) for v in ([value] if isinstance(value, str) else value)]
    else:
        value = str(value)
    body = REGISTRY_SET
    if kind == "MultiString":
        body = "$Value = [string[]]$Value\n" + REGISTRY_SET.lstrip("\n")
    return powershell.script(
        body, {"SubKey": registry_subkey(path), "Name": name, "Value": value, "Kind": kind}
    )


@operation()
def registry_value(
    path: str, value_name: str, value: Any, kind: str = "String", current: Mapping | None = None
):
    """
    Make a registry value under HKLM have this type and data.

    + path: ``HKEY_LOCAL_MACHINE\\SOFTWARE\\...`` (the key is created when missing)
    + value_name: the value's name
    + value: data (a number for DWord/QWord, a list for MultiString)
    + kind: String, ExpandString, DWord, QWord or MultiString
    + current: the value as observed (``{"exists", "kind", "data"}``); nothing is written when
      type and data already match

    **Example:**

    .. code:: python

        registry_value(
            name="Snapshot without threads",
            path=r"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys",
            value_name="SnapshotWithoutThreads",
            value="True",
            kind="String",
            current=observation["registry"].get(...),
        )
    """
    kind = registry_kind(kind)
    if registry_matches(current, kind, value):
        host.noop(f"{path}\\{value_name} is already {kind} {value!r}")
        return
    yield StringCommand(registry_value_script(path, value_name, value, kind))
