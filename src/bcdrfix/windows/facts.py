"""Batched observation of a Windows host: one PowerShell invocation, every section as JSON.

``WindowsObservation`` builds one script from the sections the selected controls need
(``services``, ``registry``, ``agent``, ``vss_writers``, ``machinekeys_acl``, ``defender``,
``bitlocker``, ``dhcp``, ``crp_certificates``, ``system``). Each section runs in its own
``try``/``catch`` so a missing feature (no Defender, no BitLocker module) becomes
``{"error": ...}`` in that section instead of a failed host. The sections are the
``scripts/observe_<name>.ps1`` files beside this module. The request (which services,
which registry values, the certificate subject) travels as one JSON string literal quoted by
``bcdrfix.windows.powershell``; the section bodies are constants.

Facts are plain data. ``vssadmin list writers`` is returned as raw lines and parsed here by
structure (quoted writer name, GUIDs, the bracketed state number), because its labels are
localized. Nothing here decides what is right: that is the controls' job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from pyinfra.api import FactBase

from bcdrfix.windows import powershell

MARKER = "# bcdrfix windows observation"
HKLM = "HKEY_LOCAL_MACHINE"

PREAMBLE = (
    powershell.NATIVE_RUNNER
    + r"""
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$BcdrfixResult = [ordered]@{ schema = 1 }
function Invoke-BcdrfixSection {
    param([string]$Name, [scriptblock]$Body)
    try {
        $BcdrfixResult[$Name] = & $Body
    }
    catch {
        $BcdrfixResult[$Name] = [ordered]@{ error = [string]$_.Exception.Message }
    }
}
"""
)

# Each section is a script beside this module (package data), so it reads as PowerShell.
SECTION_NAMES = (
    "system",
    "services",
    "registry",
    "agent",
    "vss_writers",
    "machinekeys_acl",
    "defender",
    "bitlocker",
    "dhcp",
    "crp_certificates",
    "connectivity",
)
SECTIONS: dict[str, str] = {
    name: (resources.files("bcdrfix.windows") / "scripts" / f"observe_{name}.ps1").read_text(
        encoding="utf-8"
    )
    for name in SECTION_NAMES
}

# A failed probe must not leave its status behind: the connector would fail the whole command.
EPILOGUE = """$global:LASTEXITCODE = 0
ConvertTo-Json -InputObject $BcdrfixResult -Depth 8 -Compress"""


def build_script(sections: Iterable[str], request: Mapping[str, Any]) -> str:
    """The one observation script for these sections; ``request`` is quoted as JSON."""
    # "system" always runs: it says whether the session is elevated.
    names = sorted(set(sections) | {"system"})
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown Windows observation section(s): {', '.join(unknown)}")
    parts = [
        MARKER,
        PREAMBLE.strip(),
        f"$BcdrfixInput = ConvertFrom-Json -InputObject {powershell.json_literal(dict(request))}",
    ]
    parts += [SECTIONS[name].strip() for name in names]
    parts.append(EPILOGUE)
    return "\n".join(parts)


# --- parsing ----------------------------------------------------------------------------------

_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?"
)
_STATE = re.compile(r"\[(\d+)\]\s*(.*)$")
_COLON = re.compile(r"[:\uff1a]")
# "Last error" texts that mean no error, by display language (vssadmin localizes them). Anything
# else with a stable state is unknown: reported, never acted on.
NO_ERROR_TEXTS = (
    "No error",  # English
    "エラーなし",  # Japanese
    "오류 없음",  # Korean
)
# English texts of real errors (vssadmin's own vocabulary).
ENGLISH_ERRORS = (
    "Retryable error",
    "Non-retryable error",
    "Timed out",
    "Inconsistent shadow copy",
    "Out of resources",
    "Unexpected error",
)


def _value_after_label(line: str) -> str | None:
    parts = _COLON.split(line, maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else None


def parse_vss_writers(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Writers from ``vssadmin list writers`` output, whatever the display language.

    A block starts at a line whose value (after the first colon) is a quoted name; the first GUID
    after it is the writer id, the second the instance id; the line with ``[n]`` is the state;
    the line after the state is the last error.
    """
    writers: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    expect_last_error = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        value = _value_after_label(line)
        if value and len(value) >= 2 and value[0] == "'" and value[-1] == "'":
            current = {
                "name": value[1:-1],
                "writer_id": None,
                "instance_id": None,
                "state": None,
                "state_text": None,
                "last_error": None,
            }
            writers.append(current)
            expect_last_error = False
            continue
        if current is None:
            continue
        if expect_last_error:
            current["last_error"] = value if value is not None else line
            expect_last_error = False
            continue
        guid = _GUID.search(line)
        if guid and current["state"] is None:
            key = "writer_id" if current["writer_id"] is None else "instance_id"
            current[key] = guid.group(1).lower()
            continue
        state = _STATE.search(line)
        if state and current["state"] is None:
            current["state"] = int(state.group(1))
            current["state_text"] = state.group(2).strip()
            expect_last_error = True
    _classify_last_errors(writers)
    return writers


def _normalise_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def _classify_last_errors(
    writers: list[dict[str, Any]], no_error_texts: Iterable[str] = NO_ERROR_TEXTS
) -> None:
    """Mark ``last_error_ok``: True for a known "no error" text, False for a known error text,
    None when the text is unknown (another language): such a writer is reported, never acted on.
    """
    ok = {_normalise_text(t) for t in no_error_texts}
    errors = {_normalise_text(t) for t in ENGLISH_ERRORS}
    for writer in writers:
        text = writer["last_error"]
        if text is None:
            writer["last_error_ok"] = None
        elif _normalise_text(text) in ok:
            writer["last_error_ok"] = True
        elif _normalise_text(text) in errors:
            writer["last_error_ok"] = False
        else:
            writer["last_error_ok"] = None


def registry_key(path: str, name: str) -> str:
    return f"{path}\\{name}".lower()


class MalformedObservation(ValueError):
    """The observation script's output is not what it prints."""


def parse_observation(output: Iterable[str]) -> dict[str, Any]:
    """The script's JSON turned into plain data with lookups by service name and registry value.

    Output that cannot be read is this host's problem, not the run's: the result then carries
    ``observation_error`` (every control of the host reports it) instead of raising.
    """
    lines = list(output)
    try:
        return _parse_observation(lines)
    except (MalformedObservation, ValueError, KeyError, TypeError, AttributeError) as exc:
        first = next((line.strip() for line in lines if line.strip()), "")
        shown = f"; it printed {first[:120]!r}" if first else ""
        return {
            "platform": "windows",
            "observation_error": f"unreadable observation output ({exc}){shown}",
        }


def _parse_observation(lines: list[str]) -> dict[str, Any]:
    text = "\n".join(lines).strip()
    start = text.find("{")
    if start < 0:
        raise MalformedObservation("no JSON")
    data = json.loads(text[start:])
    if not isinstance(data, dict):
        raise MalformedObservation("not a JSON object")
    result: dict[str, Any] = {"platform": "windows"}
    for name, section in data.items():
        if name == "schema":
            continue
        result[name] = section
    services = data.get("services")
    if isinstance(services, dict) and "items" in services:
        result["services"] = {s["name"].lower(): s for s in services.get("items") or []}
    registry = data.get("registry")
    if isinstance(registry, dict) and "items" in registry:
        result["registry"] = {
            registry_key(r["path"], r["name"]): r for r in registry.get("items") or []
        }
    vss = data.get("vss_writers")
    if isinstance(vss, dict) and "lines" in vss:
        vss_lines = [str(line) for line in vss.get("lines") or []]
        result["vss_writers"] = {
            "exit_code": vss.get("exit_code"),
            "writers": parse_vss_writers(vss_lines),
            "lines": vss_lines,
        }
    system = data.get("system")
    if isinstance(system, dict) and system.get("elevated") is False:
        user = system.get("user") or "the connecting account"
        result["observation_error"] = (
            f"the session of {user} is not elevated: run as an administrator "
            "(a member of BUILTIN\\Administrators, with UAC remote restrictions lifted for "
            "local accounts)"
        )
    return result


class WindowsObservation(FactBase):
    """
    Everything the selected bcdrfix Windows controls need, gathered by one PowerShell script.

    + sections: observation sections to run (see ``bcdrfix.windows.facts.SECTIONS``)
    + request: what the sections read (service names, registry values, certificate subject)

    .. code:: python

        host.get_fact(WindowsObservation, sections=("services",), request={"services": ["VSS"]})
        {"platform": "windows",
         "services": {"vss": {"name": "VSS", "state": "Stopped", "start_mode": "Manual", ...}}}
    """

    def command(self, sections=(), request=None):
        return build_script(sections, request or {})

    def process(self, output):
        return parse_observation(list(output))
