"""Batched observation of a Windows host: one PowerShell invocation, every section as JSON.

``WindowsObservation`` builds one script from the sections the selected controls need
(``services``, ``registry``, ``agent``, ``vss_writers``, ``machinekeys_acl``, ``defender``,
``bitlocker``, ``dhcp``, ``crp_certificates``, ``system``). Each section runs in its own
``try``/``catch`` so a missing feature (no Defender, no BitLocker module) becomes
``{"error": ...}`` in that section instead of a failed host. The request (which services,
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
from typing import Any

from pyinfra.api import FactBase

from bcdrfix.windows import powershell

MARKER = "# bcdrfix windows observation"
HKLM = "HKEY_LOCAL_MACHINE"

PREAMBLE = r"""
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

SECTIONS: dict[str, str] = {
    "system": r"""
Invoke-BcdrfixSection 'system' {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    [ordered]@{
        computer_name = [string]$env:COMPUTERNAME
        user = [string]$identity.Name
        elevated = [bool]$principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        os_caption = [string]$os.Caption
        os_version = [string]$os.Version
        ps_version = [string]$PSVersionTable.PSVersion
        program_data = [string]$env:ProgramData
    }
}
""",
    "services": r"""
Invoke-BcdrfixSection 'services' {
    $wanted = @($BcdrfixInput.services)
    $items = @(Get-CimInstance -ClassName Win32_Service | Where-Object {
            ($wanted -contains $_.Name) -or ($_.Name -eq 'MSSQLSERVER') -or ($_.Name -like 'MSSQL$*')
        } | ForEach-Object {
            [ordered]@{
                name = [string]$_.Name
                display_name = [string]$_.DisplayName
                state = [string]$_.State
                start_mode = [string]$_.StartMode
                delayed_auto_start = [bool]$_.DelayedAutoStart
                account = [string]$_.StartName
                path = [string]$_.PathName
            }
        })
    [ordered]@{ items = $items }
}
""",
    "registry": r"""
Invoke-BcdrfixSection 'registry' {
    $items = @(foreach ($request in @($BcdrfixInput.registry)) {
            $entry = [ordered]@{
                path = [string]$request.path; name = [string]$request.name
                key_exists = $false; exists = $false; kind = $null; data = $null
            }
            $key = Get-Item -LiteralPath ('Registry::' + $request.path) -ErrorAction SilentlyContinue
            if ($null -ne $key) {
                $entry.key_exists = $true
                if ($key.GetValueNames() -contains $request.name) {
                    $entry.exists = $true
                    $entry.kind = [string]$key.GetValueKind($request.name)
                    $value = $key.GetValue($request.name, $null, 'DoNotExpandEnvironmentNames')
                    if ($value -is [byte[]]) { $value = [System.Convert]::ToBase64String($value) }
                    $entry.data = $value
                }
                $key.Close()
            }
            $entry
        })
    [ordered]@{ items = $items }
}
""",
    "agent": r"""
Invoke-BcdrfixSection 'agent' {
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='WindowsAzureGuestAgent'"
    $image = $null
    $exe = $null
    if ($null -ne $service) {
        $image = [string]$service.PathName
        if ($image -match '^\s*"([^"]+)"') { $exe = $Matches[1] }
        elseif ($image -match '^\s*(.+?\.exe)') { $exe = $Matches[1] }
    }
    $file_version = $null
    $product_version = $null
    if ($exe -and (Test-Path -LiteralPath $exe)) {
        $info = (Get-Item -LiteralPath $exe).VersionInfo
        $file_version = [string]$info.FileVersion
        $product_version = [string]$info.ProductVersion
    }
    $legacy = Join-Path $env:SystemDrive 'WindowsAzure\Packages\WaAppAgent.exe'
    $legacy_version = $null
    if (Test-Path -LiteralPath $legacy) { $legacy_version = [string](Get-Item -LiteralPath $legacy).VersionInfo.FileVersion }
    $folders = @(Get-ChildItem -LiteralPath (Join-Path $env:SystemDrive 'WindowsAzure') -Directory -Filter 'GuestAgent_*' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.Name })
    [ordered]@{
        image_path = $image; exe = $exe; file_version = $file_version; product_version = $product_version
        waappagent_path = $legacy; waappagent_version = $legacy_version; folders = $folders
    }
}
""",
    "vss_writers": r"""
Invoke-BcdrfixSection 'vss_writers' {
    # vssadmin writes its errors to stdout or stderr depending on the version: keep both as text.
    $ErrorActionPreference = 'Continue'
    $vssadmin = Join-Path $env:SystemRoot 'System32\vssadmin.exe'
    $lines = @(& $vssadmin list writers 2>&1 | ForEach-Object { [string]$_ })
    [ordered]@{ exit_code = [int]$LASTEXITCODE; lines = $lines }
}
""",
    "machinekeys_acl": r"""
Invoke-BcdrfixSection 'machinekeys_acl' {
    $path = Join-Path $env:ProgramData 'Microsoft\Crypto\RSA\MachineKeys'
    $acl = Get-Acl -LiteralPath $path
    $rules = @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) | ForEach-Object {
            $rule = $_
            $account = [string]$rule.IdentityReference.Value
            try { $account = [string]$rule.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { }
            [ordered]@{
                sid = [string]$rule.IdentityReference.Value
                account = $account
                type = [string]$rule.AccessControlType
                rights = [int64][int]$rule.FileSystemRights
                rights_text = [string]$rule.FileSystemRights
                inherited = [bool]$rule.IsInherited
                inheritance = [string]$rule.InheritanceFlags
                propagation = [string]$rule.PropagationFlags
            }
        })
    [ordered]@{ path = $path; owner = [string]$acl.Owner; protected = [bool]$acl.AreAccessRulesProtected; sddl = [string]$acl.Sddl; rules = $rules }
}
""",
    "defender": r"""
Invoke-BcdrfixSection 'defender' {
    if (-not (Get-Command -Name Get-MpPreference -ErrorAction SilentlyContinue)) {
        return [ordered]@{ available = $false; exclusion_paths = @() }
    }
    $preference = Get-MpPreference
    $running = $null
    try { $running = [bool](Get-MpComputerStatus).AMServiceEnabled } catch { }
    [ordered]@{
        available = $true
        service_enabled = $running
        exclusion_paths = @($preference.ExclusionPath | Where-Object { $_ } | ForEach-Object { [string]$_ })
    }
}
""",
    "bitlocker": r"""
Invoke-BcdrfixSection 'bitlocker' {
    if (-not (Get-Command -Name Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
        return [ordered]@{ available = $false; volumes = @() }
    }
    $volumes = @(Get-BitLockerVolume | ForEach-Object {
            [ordered]@{
                mount_point = [string]$_.MountPoint
                lock_status = [string]$_.LockStatus
                protection_status = [string]$_.ProtectionStatus
                volume_status = [string]$_.VolumeStatus
            }
        })
    [ordered]@{ available = $true; volumes = $volumes }
}
""",
    "dhcp": r"""
Invoke-BcdrfixSection 'dhcp' {
    $adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = TRUE' | ForEach-Object {
            [ordered]@{
                index = [int]$_.InterfaceIndex
                description = [string]$_.Description
                dhcp_enabled = [bool]$_.DHCPEnabled
                addresses = @($_.IPAddress | ForEach-Object { [string]$_ })
            }
        })
    [ordered]@{ adapters = $adapters }
}
""",
    "crp_certificates": r"""
Invoke-BcdrfixSection 'crp_certificates' {
    $subject = [string]$BcdrfixInput.crp_subject
    $simple = [System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName
    $items = @(Get-ChildItem -LiteralPath 'Cert:\LocalMachine\My' | Where-Object {
            $_.GetNameInfo($simple, $false) -eq $subject
        } | ForEach-Object {
            $certificate = $_
            $readable = $false
            try { $readable = $null -ne $certificate.PrivateKey } catch { }
            [ordered]@{
                thumbprint = [string]$certificate.Thumbprint
                subject = [string]$certificate.Subject
                issuer = [string]$certificate.Issuer
                not_after = $certificate.NotAfter.ToUniversalTime().ToString('o')
                has_private_key = [bool]$certificate.HasPrivateKey
                private_key_readable = [bool]$readable
            }
        })
    [ordered]@{ subject = $subject; items = $items }
}
""",
}

EPILOGUE = "ConvertTo-Json -InputObject $BcdrfixResult -Depth 8 -Compress"


def build_script(sections: Iterable[str], request: Mapping[str, Any]) -> str:
    """The one observation script for these sections; ``request`` is quoted as JSON."""
    names = sorted(set(sections))
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
ENGLISH_NO_ERROR = "no error"


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


def _classify_last_errors(writers: list[dict[str, Any]]) -> None:
    """Mark ``last_error_ok``: True for "No error", False for an error, None when unknown.

    Localized output has no English "No error": the text that most writers share (more than
    half, at least two writers) is taken as "no error"; any other text is an error.
    """
    texts = [w["last_error"] for w in writers if w["last_error"]]
    common = None
    if texts:
        top = max(set(texts), key=texts.count)
        if texts.count(top) >= 2 and texts.count(top) * 2 > len(texts):
            common = top
    for writer in writers:
        text = writer["last_error"]
        if text is None:
            writer["last_error_ok"] = None
        elif text.strip().lower() == ENGLISH_NO_ERROR:
            writer["last_error_ok"] = True
        elif re.match(r"^[\x00-\x7f]+$", text):
            writer["last_error_ok"] = False  # English output, and not "No error"
        elif common is not None:
            writer["last_error_ok"] = text == common
        else:
            writer["last_error_ok"] = None


def registry_key(path: str, name: str) -> str:
    return f"{path}\\{name}".lower()


def parse_observation(output: Iterable[str]) -> dict[str, Any]:
    """The script's JSON turned into plain data with lookups by service name and registry value."""
    text = "\n".join(output).strip()
    start = text.find("{")
    if start < 0:
        raise ValueError("the Windows observation printed no JSON")
    data = json.loads(text[start:])
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
        lines = vss.get("lines") or []
        writers = parse_vss_writers(lines)
        result["vss_writers"] = {
            "exit_code": vss.get("exit_code"),
            "writers": writers,
            "lines": lines,
        }
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
