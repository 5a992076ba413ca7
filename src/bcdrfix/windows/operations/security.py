"""MachineKeys ACL reset, CRP certificate removal and Defender exclusions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationValueError

from bcdrfix.windows import powershell

_THUMBPRINT = re.compile(r"^[0-9A-Fa-f]{40}$")


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

# Deleted only when both the "Issued To" and the "Issued By" names are the CRP generator's.
REMOVE_CERTIFICATE = r"""
$item = Get-Item -LiteralPath ('Cert:\LocalMachine\My\' + $Thumbprint) -ErrorAction SilentlyContinue
if ($null -ne $item) {
    $simple = [System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName
    $issuedTo = $item.GetNameInfo($simple, $false)
    $issuedBy = $item.GetNameInfo($simple, $true)
    if ($issuedTo -ne $Subject -or $issuedBy -ne $Subject) { throw "certificate $Thumbprint is issued to '$issuedTo' by '$issuedBy', not to and by '$Subject'; left alone" }
    Remove-Item -LiteralPath $item.PSPath
    Write-Output "removed certificate $Thumbprint"
}
"""


def remove_certificate_script(thumbprint: str, subject: str) -> str:
    if not str(subject or "").strip():
        raise OperationValueError("an empty certificate subject would match any certificate")
    if not _THUMBPRINT.match(thumbprint or ""):
        raise OperationValueError(f"{thumbprint!r} is not a certificate thumbprint (40 hex digits)")
    return powershell.script(
        REMOVE_CERTIFICATE, {"Thumbprint": thumbprint.upper(), "Subject": subject}
    )


@operation(is_idempotent=False)
def remove_certificates(thumbprints: Iterable[str], subject: str):
    """
    Delete certificates from ``Cert:\\LocalMachine\\My``, each only if it is still issued to and
    by ``subject`` (the guest agent creates new ones when it needs them).

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
