"""Services (state, start type, account, restart with every dependent), MSDTC reinstall,
msiexec re-registration and the VSS writers' re-read: every wait bounded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.exceptions import OperationValueError

from bcdrfix.windows import powershell

START_MODES = {"automatic": "Auto", "auto": "Auto", "manual": "Manual", "disabled": "Disabled"}
START_TYPE_NAMES = {"Auto": "Automatic", "Manual": "Manual", "Disabled": "Disabled"}


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


SERVICE_EXISTS = (
    powershell.SERVICE_HELPERS
    + r"""
$service = Get-BcdrfixService $ServiceName
if ($null -eq $service) { throw "service $ServiceName is not installed" }
"""
)

SERVICE_START_TYPE = (
    SERVICE_EXISTS
    + r"""
Set-Service -InputObject $service -StartupType $StartupType
"""
)

SERVICE_START = (
    SERVICE_EXISTS
    + r"""
Start-BcdrfixService $service $WaitSeconds
"""
)

SERVICE_STOP = (
    SERVICE_EXISTS
    + r"""
Stop-BcdrfixService $service $WaitSeconds
"""
)

SERVICE_ACCOUNT = (
    SERVICE_EXISTS
    + r"""
$cim = Get-CimInstance -ClassName Win32_Service -Filter ('Name = ' + (ConvertTo-BcdrfixWql $service.ServiceName))
if ($null -eq $cim) { throw "service $ServiceName is not in Win32_Service" }
$change = Invoke-CimMethod -InputObject $cim -MethodName Change -Arguments @{ StartName = $Account; StartPassword = '' }
if ($change.ReturnValue -ne 0) { throw "changing the account of $ServiceName failed: Win32_Service.Change returned $($change.ReturnValue)" }
"""
)

# net stop / net start, plus: every service that depended on it (directly or not) and was running
# is started again, nearest first.
SERVICE_RESTART = (
    SERVICE_EXISTS
    + r"""
$dependents = Get-BcdrfixRunningDependents $service
Stop-BcdrfixService $service $WaitSeconds
Start-BcdrfixService $service $WaitSeconds
foreach ($name in $dependents) {
    $dependent = Get-BcdrfixService $name
    if ($null -ne $dependent) { Start-BcdrfixService $dependent $WaitSeconds }
}
if ($dependents.Count -gt 0) { Write-Output ('started again: ' + ($dependents -join ', ')) }
"""
)


def _command_timeout(*seconds: int) -> int:
    """The connector's limit for a script made of waits of these lengths, plus a margin."""
    return int(sum(seconds)) + 60


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
        yield StringCommand(script, _timeout=_command_timeout(wait_seconds))


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
    # stop + start + each dependent's start, each bounded by wait_seconds
    yield StringCommand(
        service_restart_script(service_name, wait_seconds),
        _timeout=_command_timeout(wait_seconds * 8),
    )


# --- MSDTC / COM+ -----------------------------------------------------------------------------

MSDTC_REINSTALL = (
    powershell.SERVICE_HELPERS
    + powershell.NATIVE_RUNNER
    + r"""
$msdtc = Join-Path $env:SystemRoot 'System32\msdtc.exe'
$service = Get-BcdrfixService 'MSDTC'
if ($null -ne $service) { Stop-BcdrfixService $service $WaitSeconds }
foreach ($argument in @('-uninstall', '-install')) {
    $run = Invoke-BcdrfixNative $msdtc $argument $StepSeconds
    if ($run.exit_code -ne 0) { throw ('msdtc {0} failed with exit code {1}: {2}' -f $argument, $run.exit_code, ($run.lines -join ' ')) }
}
# msdtc -install registers the service asynchronously on some versions: wait for it.
$deadline = (Get-Date).AddSeconds($WaitSeconds)
while ($null -eq ($service = Get-BcdrfixService 'MSDTC')) {
    if ((Get-Date) -gt $deadline) { throw "MSDTC did not come back within $WaitSeconds s after msdtc -install" }
    Start-Sleep -Seconds 1
}
Start-BcdrfixService $service $WaitSeconds
$complus = Get-BcdrfixService 'COMSysApp'
if ($null -eq $complus) { throw 'COMSysApp (COM+ System Application) is not installed' }
Start-BcdrfixService $complus $WaitSeconds
"""
)


def msdtc_reinstall_script(wait_seconds: int = 60, step_seconds: int = 300) -> str:
    return powershell.script(
        MSDTC_REINSTALL, {"WaitSeconds": int(wait_seconds), "StepSeconds": int(step_seconds)}
    )


@operation(is_idempotent=False)
def msdtc_reinstall(wait_seconds: int = 60, step_seconds: int = 300):
    """
    Reinstall MSDTC the way the article says: stop MSDTC, ``msdtc -uninstall``,
    ``msdtc -install``, start MSDTC, then start COM+ (``COMSysApp``).

    + wait_seconds: how long to wait for the service to stop, reappear and start
    + step_seconds: how long ``msdtc -uninstall`` and ``msdtc -install`` may each take

    **Example:**

    .. code:: python

        msdtc_reinstall(name="Reinstall MSDTC")
    """
    yield StringCommand(
        msdtc_reinstall_script(wait_seconds, step_seconds),
        _timeout=_command_timeout(wait_seconds * 4, step_seconds * 2),
    )


# --- Windows Installer ------------------------------------------------------------------------

# msiexec is a GUI program: it is run with a time limit and its exit code read as data.
MSI_REREGISTER = (
    powershell.NATIVE_RUNNER
    + r"""
$msiexec = Join-Path $env:SystemRoot 'System32\msiexec.exe'
foreach ($argument in @('/unregister', '/regserver')) {
    $run = Invoke-BcdrfixNative $msiexec $argument $StepSeconds
    if ($run.exit_code -ne 0) { throw ('msiexec {0} failed with exit code {1}' -f $argument, $run.exit_code) }
}
"""
)


def msi_reregister_script(step_seconds: int = 300) -> str:
    return powershell.script(MSI_REREGISTER, {"StepSeconds": int(step_seconds)})


@operation(is_idempotent=False)
def msi_reregister(step_seconds: int = 300):
    """
    Re-register the Windows Installer service: ``msiexec /unregister`` then ``msiexec /regserver``
    (the article writes ``/REGISTER``; ``/regserver`` is the switch msiexec documents).

    + step_seconds: how long each msiexec run may take

    **Example:**

    .. code:: python

        msi_reregister(name="Re-register msiexec")
    """
    yield StringCommand(
        msi_reregister_script(step_seconds), _timeout=_command_timeout(step_seconds * 2)
    )


# --- VSS writers -----------------------------------------------------------------------------

# Re-read the writers after their services were restarted: each must come back stable ([1])
# with a known "no error" text, else the step fails and names the writer and its state.
VSS_WRITERS_VERIFY = (
    powershell.NATIVE_RUNNER
    + r"""
$vssadmin = Join-Path $env:SystemRoot 'System32\vssadmin.exe'
$deadline = (Get-Date).AddSeconds($WaitSeconds)
while ($true) {
    $run = Invoke-BcdrfixNative $vssadmin 'list writers' $StepSeconds
    $states = @{}
    $current = $null
    $expectError = $false
    foreach ($line in $run.lines) {
        $text = $line.Trim()
        if ($text -match "[:\uff1a]\s*'(.+)'$") {
            $current = [ordered]@{ state = $null; last_error = $null }
            $states[$Matches[1]] = $current
            $expectError = $false
        }
        elseif ($null -eq $current) { }
        elseif ($expectError) {
            $current.last_error = ($text -split '[:\uff1a]', 2)[-1].Trim()
            $expectError = $false
        }
        elseif ($null -eq $current.state -and $text -match '\[(\d+)\]') {
            $current.state = [int]$Matches[1]
            $expectError = $true
        }
    }
    $bad = @(foreach ($writer in $Writers) {
            $seen = $states[$writer]
            if ($null -eq $seen) { "'$writer' is not listed" }
            elseif ($seen.state -ne 1 -or $NoErrorTexts -notcontains $seen.last_error) { "'$writer' [$($seen.state)] $($seen.last_error)" }
        })
    if ($bad.Count -eq 0) {
        Write-Output ('stable again: ' + ($Writers -join ', '))
        break
    }
    if ((Get-Date) -gt $deadline) { throw ('VSS writer(s) still not stable after the restart: ' + ($bad -join '; ')) }
    Start-Sleep -Seconds 5
}
"""
)


def vss_writers_verify_script(
    writers: Iterable[str],
    no_error_texts: Iterable[str],
    wait_seconds: int = 60,
    step_seconds: int = 120,
) -> str:
    return powershell.script(
        VSS_WRITERS_VERIFY,
        {
            "Writers": [str(w) for w in writers],
            "NoErrorTexts": [str(t) for t in no_error_texts],
            "WaitSeconds": int(wait_seconds),
            "StepSeconds": int(step_seconds),
        },
    )


@operation(is_idempotent=False)
def vss_writers_verify(
    writers: Iterable[str],
    no_error_texts: Iterable[str],
    wait_seconds: int = 60,
    step_seconds: int = 120,
):
    """
    Re-read ``vssadmin list writers`` until these writers are stable ([1]) with no error, for at
    most ``wait_seconds``; fail naming each writer still failing.

    + writers: writer names (as vssadmin prints them)
    + no_error_texts: the "Last error" texts that mean no error (localized)
    + wait_seconds: how long the writers may take to come back
    + step_seconds: how long one ``vssadmin list writers`` may take

    **Example:**

    .. code:: python

        vss_writers_verify(name="Writers are stable again", writers=["SqlServerWriter"],
                           no_error_texts=["No error"])
    """
    writers = list(writers)
    yield StringCommand(
        vss_writers_verify_script(writers, no_error_texts, wait_seconds, step_seconds),
        _timeout=_command_timeout(wait_seconds, step_seconds * 2),
    )
