"""Windows operations: registry values, services and the articles' repair procedures.

Every operation compares what the observation saw with what is wanted and does nothing (with a
``noop`` message) when they match, like Ansible's ``win_regedit`` / ``win_service``: a registry
value is rewritten only when its type or its data differ, a service property only when that
property differs. Commands are PowerShell scripts whose data arrives as quoted variable
assignments (``bcdrfix.windows.powershell.script``); the script bodies are constants.

Each operation's script comes from a pure ``*_script`` function so that tests can parse every
script with a PowerShell grammar and check that hostile values stay literal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
START_MODES = {"automatic": "Auto", "auto": "Auto", "manual": "Manual", "disabled": "Disabled"}
START_TYPE_NAMES = {"Auto": "Automatic", "Manual": "Manual", "Disabled": "Disabled"}
_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")


def _cmd(body: str, **values: Any) -> StringCommand:
    return powershell.command(body, values)


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


# --- services ---------------------------------------------------------------------------------


def normalise_account(account: str | None) -> str:
    """Compare service accounts the way Windows treats them (case, spaces, LocalSystem)."""
    text = (account or "").strip().lower().replace(" ", "")
    return {"localsystem": "ntauthority\\system", ".\\localsystem": "ntauthority\\system"}.get(
        text, text
    )


def start_mode_value(value: str) -> str:
    try:
        return START_MODES[str(value).lower()]
    except KeyError:
        raise OperationValueError(
            f"start mode {value!r}: expected Automatic, Manual or Disabled"
        ) from None


SERVICE_EXISTS = r"""
$service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($null -eq $service) { throw "service $ServiceName is not installed" }
"""

SERVICE_START_TYPE = (
    SERVICE_EXISTS
    + r"""
Set-Service -Name $ServiceName -StartupType $StartupType
"""
)

SERVICE_START = (
    SERVICE_EXISTS
    + r"""
if ($service.Status -ne 'Running') {
    Start-Service -Name $ServiceName
    $service.WaitForStatus('Running', [TimeSpan]::FromSeconds($WaitSeconds))
}
"""
)

SERVICE_STOP = (
    SERVICE_EXISTS
    + r"""
if ($service.Status -ne 'Stopped') {
    Stop-Service -Name $ServiceName -Force
    $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($WaitSeconds))
}
"""
)

SERVICE_ACCOUNT = (
    SERVICE_EXISTS
    + r"""
$cim = Get-CimInstance -ClassName Win32_Service -Filter ("Name='{0}'" -f $service.ServiceName)
$change = Invoke-CimMethod -InputObject $cim -MethodName Change -Arguments @{ StartName = $Account; StartPassword = '' }
if ($change.ReturnValue -ne 0) { throw "changing the account of $ServiceName failed: Win32_Service.Change returned $($change.ReturnValue)" }
"""
)

# net stop / net start, plus: dependents that were running are started again afterwards.
SERVICE_RESTART = (
    SERVICE_EXISTS
    + r"""
$dependents = @($service.DependentServices | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name })
if ($service.Status -ne 'Stopped') {
    Stop-Service -Name $ServiceName -Force
    $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($WaitSeconds))
}
Start-Service -Name $ServiceName
$service.WaitForStatus('Running', [TimeSpan]::FromSeconds($WaitSeconds))
foreach ($dependent in $dependents) { Start-Service -Name $dependent }
"""
)


def service_scripts(
    name: str,
    running: bool | None = None,
    mode: str | None = None,
    account: str | None = None,
    current: Mapping | None = None,
    wait_seconds: int = 60,
) -> list[tuple[str, str]]:
    """(what, script) for each service property that differs from ``current``."""
    values = {"ServiceName": name, "WaitSeconds": int(wait_seconds)}
    changes = []
    observed = current or {}
    if account is not None and normalise_account(observed.get("account")) != normalise_account(
        account
    ):
        changes.append(
            (
                f"set the account of {name} to {account}",
                powershell.script(SERVICE_ACCOUNT, {**values, "Account": account}),
            )
        )
    if mode is not None:
        wanted = start_mode_value(mode)
        if observed.get("start_mode") != wanted:
            changes.append(
                (
                    f"set {name} to start {START_TYPE_NAMES[wanted]}",
                    powershell.script(
                        SERVICE_START_TYPE, {**values, "StartupType": START_TYPE_NAMES[wanted]}
                    ),
                )
            )
    if running is True and observed.get("state") != "Running":
        changes.append((f"start {name}", powershell.script(SERVICE_START, values)))
    if running is False and observed.get("state") != "Stopped":
        changes.append((f"stop {name}", powershell.script(SERVICE_STOP, values)))
    return changes


@operation()
def service(
    service_name: str,
    running: bool | None = None,
    start_mode: str | None = None,
    account: str | None = None,
    current: Mapping | None = None,
    wait_seconds: int = 60,
):
    """
    Make a Windows service have this state, start type and account; each is compared on its own.

    + service_name: the service's name (not its display name)
    + running: True to start it, False to stop it, None to leave it
    + start_mode: Automatic, Manual or Disabled (None leaves it)
    + account: the account it runs as, e.g. ``NT AUTHORITY\\NetworkService`` (None leaves it)
    + current: the service as observed (``state``, ``start_mode``, ``account``)
    + wait_seconds: how long to wait for it to reach the state

    **Example:**

    .. code:: python

        service(
            name="Start the guest agent",
            service_name="WindowsAzureGuestAgent",
            running=True,
            start_mode="Automatic",
            current=observation["services"]["windowsazureguestagent"],
        )
    """
    changes = service_scripts(service_name, running, start_mode, account, current, wait_seconds)
    if not changes:
        host.noop(f"service {service_name} already has the desired state")
        return
    for _what, script in changes:
        yield StringCommand(script)


def service_restart_script(name: str, wait_seconds: int = 60) -> str:
    return powershell.script(
        SERVICE_RESTART, {"ServiceName": name, "WaitSeconds": int(wait_seconds)}
    )


@operation(is_idempotent=False)
def service_restart(service_name: str, wait_seconds: int = 60):
    """
    Restart a Windows service (``net stop`` + ``net start``); dependents that were running are
    started again.

    + service_name: the service's name
    + wait_seconds: how long to wait for each transition

    **Example:**

    .. code:: python

        service_restart(name="Restart SQLWriter", service_name="SQLWriter")
    """
    yield StringCommand(service_restart_script(service_name, wait_seconds))


# --- MSDTC / COM+ -----------------------------------------------------------------------------

MSDTC_REINSTALL = r"""
$msdtc = Join-Path $env:SystemRoot 'System32\msdtc.exe'
$service = Get-Service -Name MSDTC -ErrorAction SilentlyContinue
if ($null -ne $service -and $service.Status -ne 'Stopped') {
    Stop-Service -Name MSDTC -Force
    $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($WaitSeconds))
}
& $msdtc -uninstall
if ($LASTEXITCODE -ne 0) { throw "msdtc -uninstall failed with exit code $LASTEXITCODE" }
& $msdtc -install
if ($LASTEXITCODE -ne 0) { throw "msdtc -install failed with exit code $LASTEXITCODE" }
# msdtc -install registers the service asynchronously on some versions: wait for it.
$deadline = (Get-Date).AddSeconds($WaitSeconds)
while ($null -eq (Get-Service -Name MSDTC -ErrorAction SilentlyContinue)) {
    if ((Get-Date) -gt $deadline) { throw 'MSDTC did not come back after msdtc -install' }
    Start-Sleep -Seconds 1
}
Start-Service -Name MSDTC
(Get-Service -Name MSDTC).WaitForStatus('Running', [TimeSpan]::FromSeconds($WaitSeconds))
Start-Service -Name COMSysApp
"""


def msdtc_reinstall_script(wait_seconds: int = 60) -> str:
    return powershell.script(MSDTC_REINSTALL, {"WaitSeconds": int(wait_seconds)})


@operation(is_idempotent=False)
def msdtc_reinstall(wait_seconds: int = 60):
    """
    Reinstall MSDTC the way the article says: stop MSDTC, ``msdtc -uninstall``,
    ``msdtc -install``, start MSDTC, then start COM+ (``COMSysApp``).

    + wait_seconds: how long to wait for the service to stop, reappear and start

    **Example:**

    .. code:: python

        msdtc_reinstall(name="Reinstall MSDTC")
    """
    yield StringCommand(msdtc_reinstall_script(wait_seconds))


# --- Windows Installer ------------------------------------------------------------------------

# msiexec is a GUI program: Start-Process -Wait is the way to get its exit code.
MSI_REREGISTER = r"""
foreach ($argument in @('/unregister', '/regserver')) {
    $process = Start-Process -FilePath (Join-Path $env:SystemRoot 'System32\msiexec.exe') -ArgumentList $argument -Wait -PassThru -WindowStyle Hidden
    if ($process.ExitCode -ne 0) { throw "msiexec $argument failed with exit code $($process.ExitCode)" }
}
"""


def msi_reregister_script() -> str:
    return powershell.script(MSI_REREGISTER)


@operation(is_idempotent=False)
def msi_reregister():
    """
    Re-register the Windows Installer service: ``msiexec /unregister`` then ``msiexec /regserver``
    (the article writes ``/REGISTER``; ``/regserver`` is the switch msiexec documents).

    **Example:**

    .. code:: python

        msi_reregister(name="Re-register msiexec")
    """
    yield StringCommand(msi_reregister_script())


# --- MachineKeys ACL --------------------------------------------------------------------------

EVERYONE_SID = "S-1-1-0"
ADMINISTRATORS_SID = "S-1-5-32-544"
# icacls "(R,W)" = FILE_GENERIC_READ | FILE_GENERIC_WRITE; "(F)" = FILE_ALL_ACCESS.
RIGHTS_READ_WRITE = 0x12019F
RIGHTS_FULL = 0x1F01FF

MACHINEKEYS_RESET = r"""
$path = Join-Path $env:ProgramData 'Microsoft\Crypto\RSA\MachineKeys'
$backupDir = Join-Path $env:ProgramData 'bcdrfix'
$null = New-Item -ItemType Directory -Path $backupDir -Force
$backup = Join-Path $backupDir ('machinekeys-acl-{0}.sddl' -f (Get-Date -Format 'yyyyMMddTHHmmss'))
Set-Content -LiteralPath $backup -Value (Get-Acl -LiteralPath $path).Sddl -Encoding ASCII
$acl = New-Object System.Security.AccessControl.DirectorySecurity
$acl.SetAccessRuleProtection($true, $false)
$everyone = New-Object System.Security.Principal.SecurityIdentifier($EveryoneSid)
$administrators = New-Object System.Security.Principal.SecurityIdentifier($AdministratorsSid)
$none = [System.Security.AccessControl.InheritanceFlags]::None
$noPropagation = [System.Security.AccessControl.PropagationFlags]::None
$allow = [System.Security.AccessControl.AccessControlType]::Allow
$acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($everyone, [System.Security.AccessControl.FileSystemRights]$ReadWriteRights, $none, $noPropagation, $allow)))
$acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($administrators, [System.Security.AccessControl.FileSystemRights]$FullRights, $none, $noPropagation, $allow)))
# A fresh DirectorySecurity carries only the DACL: the owner is left as it is.
(New-Object System.IO.DirectoryInfo($path)).SetAccessControl($acl)
Write-Output "previous ACL saved to $backup"
"""


def machinekeys_acl_reset_script() -> str:
    return powershell.script(
        MACHINEKEYS_RESET,
        {
            "EveryoneSid": EVERYONE_SID,
            "AdministratorsSid": ADMINISTRATORS_SID,
            "ReadWriteRights": RIGHTS_READ_WRITE,
            "FullRights": RIGHTS_FULL,
        },
    )


@operation(is_idempotent=False)
def machinekeys_acl_reset():
    """
    Reset the MachineKeys folder ACL to the Windows default: Everyone (R,W) and
    BUILTIN\\Administrators (F), this folder only, not inherited. The previous ACL is saved as
    SDDL in ``%ProgramData%\\bcdrfix\\machinekeys-acl-<time>.sddl``.

    **Example:**

    .. code:: python

        machinekeys_acl_reset(name="Reset the MachineKeys ACL")
    """
    yield StringCommand(machinekeys_acl_reset_script())


# --- certificates -----------------------------------------------------------------------------

REMOVE_CERTIFICATE = r"""
$item = Get-Item -LiteralPath ('Cert:\LocalMachine\My\' + $Thumbprint) -ErrorAction SilentlyContinue
if ($null -ne $item) {
    $simple = [System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName
    if ($item.GetNameInfo($simple, $false) -ne $Subject) { throw "certificate $Thumbprint is not issued to $Subject; left alone" }
    Remove-Item -LiteralPath $item.PSPath
    Write-Output "removed certificate $Thumbprint"
}
"""


def remove_certificate_script(thumbprint: str, subject: str) -> str:
    if not _THUMBPRINT.match(thumbprint or ""):
        raise OperationValueError(f"{thumbprint!r} is not a certificate thumbprint (40 hex digits)")
    return powershell.script(
        REMOVE_CERTIFICATE, {"Thumbprint": thumbprint.upper(), "Subject": subject}
    )


@operation(is_idempotent=False)
def remove_certificates(thumbprints: Iterable[str], subject: str):
    """
    Delete certificates from ``Cert:\\LocalMachine\\My``, each only if it is still issued to
    ``subject`` (the guest agent creates new ones when it needs them).

    + thumbprints: the certificates to delete
    + subject: the "Issued To" name every one of them must have

    **Example:**

    .. code:: python

        remove_certificates(
            name="Remove CRP certificates",
            thumbprints=["0123..."],
            subject="Windows Azure CRP Certificate Generator",
        )
    """
    thumbprints = list(thumbprints)
    if not thumbprints:
        host.noop(f"no certificate issued to {subject}")
        return
    for thumbprint in thumbprints:
        yield StringCommand(remove_certificate_script(thumbprint, subject))


# --- Defender ---------------------------------------------------------------------------------

DEFENDER_ADD = r"""
Add-MpPreference -ExclusionPath $Paths
"""


def defender_exclusions_script(paths: Iterable[str]) -> str:
    return powershell.script(DEFENDER_ADD, {"Paths": [str(p) for p in paths]})


def missing_exclusions(paths: Iterable[str], current: Iterable[str]) -> list[str]:
    have = {str(p).rstrip("\\").lower() for p in current or ()}
    return [p for p in paths if str(p).rstrip("\\").lower() not in have]


@operation()
def defender_exclusions(paths: Iterable[str], current: Iterable[str] | None = None):
    """
    Add folders to Microsoft Defender's path exclusions (``Add-MpPreference``); existing
    exclusions are kept, paths compare case-insensitively.

    + paths: folders to exclude
    + current: the exclusion paths as observed

    **Example:**

    .. code:: python

        defender_exclusions(
            name="Exclude the VMSnapshot folders",
            paths=[r"C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot"],
            current=observation["defender"]["exclusion_paths"],
        )
    """
    missing = missing_exclusions(paths, current or ())
    if not missing:
        host.noop("Defender already excludes " + ", ".join(paths))
        return
    yield StringCommand(defender_exclusions_script(missing))


# Every script builder, for tests that parse each generated script.
SCRIPT_BUILDERS = {
    "registry_value": registry_value_script,
    "service": service_scripts,
    "service_restart": service_restart_script,
    "msdtc_reinstall": msdtc_reinstall_script,
    "msi_reregister": msi_reregister_script,
    "machinekeys_acl_reset": machinekeys_acl_reset_script,
    "remove_certificate": remove_certificate_script,
    "defender_exclusions": defender_exclusions_script,
}
