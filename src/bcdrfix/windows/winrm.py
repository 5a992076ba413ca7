"""``@winrm``: a pyinfra connector that runs every command as PowerShell over PowerShell Remoting.

pyinfra 3 has no Windows connector (REFERENCE section 5). This one is a plugin found through the
``pyinfra.connectors`` entry point ``winrm``::

    pyinfra @winrm/vm1.contoso.com deploys/windows_agent.py --data winrm_username=CONTOSO\\ops ...

    # inventory.py
    windows = [("@winrm/vm1.contoso.com", {"winrm_username": "ops@CONTOSO.COM", "winrm_auth": "kerberos"})]

It speaks PSRP through ``pypsrp`` (WSMan over HTTPS, NTLM / Kerberos / Negotiate / CredSSP /
certificate authentication). One runspace is opened per host at connect time and every command
runs in it as a PowerShell script: never wrapped in ``sh -c``, never quoted with POSIX rules.

Success and output:

* the script's output objects become stdout lines; host UI writes (``Write-Host``) too;
* error records become stderr lines;
* the exit status is the script's ``exit N``, else the last native command's ``$LASTEXITCODE``;
  a terminating error, or any error record that is not a native command's stderr, makes it 1.
  The operation succeeds when that status is in ``_success_exit_codes`` (default ``[0]``).

Connector arguments that have no meaning on Windows (``_sudo``, ``_su_user``, ``_doas``,
``_dzdo``, ``_get_pty``, ``_stdin``, a non-PowerShell ``_shell_executable``) are refused with one
line naming the argument. ``_timeout``, ``_env``, ``_chdir`` and ``_success_exit_codes`` work.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pyinfra import logger
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.output import echo
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.util import CommandOutput, OutputLine
from typing_extensions import Unpack, override

from bcdrfix.windows.powershell import PowerShellQuoteError, env_name, quote
from bcdrfix.windows.winrm_results import (  # noqa: F401  (re-exported for users and tests)
    NATIVE_STDERR_IDS,
    CommandResult,
    command_result,
    describe_error,
    error_record_text,
    output_object_text,
)
from bcdrfix.windows.winrm_settings import (  # noqa: F401  (re-exported)
    AUTH_METHODS,
    DATA_META,
    WinRMConnectorData,
    WinRMSettings,
    WinRMSettingsError,
    check_host_name,
)

if TYPE_CHECKING:
    from pyinfra.api.arguments import ConnectorArguments

# Connector arguments that only make sense for POSIX hosts. Truthy values are refused.
REFUSED_ARGUMENTS = {
    "_sudo": "WinRM runs as the connecting account; connect as an administrator instead",
    "_sudo_user": "WinRM runs as the connecting account; connect as that user instead",
    "_use_sudo_login": "there is no sudo on Windows",
    "_sudo_password": "there is no sudo on Windows",
    "_preserve_sudo_env": "there is no sudo on Windows",
    "_su_user": "WinRM runs as the connecting account; connect as that user instead",
    "_use_su_login": "there is no su on Windows",
    "_preserve_su_env": "there is no su on Windows",
    "_su_shell": "there is no su on Windows",
    "_su_password": "there is no su on Windows",
    "_doas": "there is no doas on Windows",
    "_doas_user": "there is no doas on Windows",
    "_dzdo": "there is no dzdo on Windows",
    "_dzdo_user": "there is no dzdo on Windows",
    "_get_pty": "PowerShell Remoting has no terminal",
    "_stdin": "commands run as PowerShell scripts; pass data in the script instead",
}
# pyinfra's default shell is "sh" (config.SHELL); it is meaningless here and ignored.
ACCEPTED_SHELLS = (None, "", "sh", "powershell", "powershell.exe", "ps")
CONFIG_REFUSALS = {
    "SUDO": "_sudo",
    "SUDO_USER": "_sudo_user",
    "SU_USER": "_su_user",
    "DOAS": "_doas",
    "DOAS_USER": "_doas_user",
    "DZDO": "_dzdo",
    "DZDO_USER": "_dzdo_user",
}


# --- arguments and command text ---------------------------------------------------------------


def refused_argument(arguments: Mapping[str, Any]) -> str | None:
    """The one-line refusal for the first connector argument that makes no sense on Windows."""
    for name, reason in REFUSED_ARGUMENTS.items():
        if arguments.get(name):
            return f"bcdrfix winrm: {name} is not supported on Windows hosts ({reason})"
    shell = arguments.get("_shell_executable")
    if shell not in ACCEPTED_SHELLS:
        return (
            f"bcdrfix winrm: _shell_executable={shell!r} is not supported: commands always run "
            "as PowerShell"
        )
    return None


def wrap_command(text: str, env: Mapping[str, Any] | None = None, chdir: str | None = None) -> str:
    """The script the runspace runs for one pyinfra command.

    ``$LASTEXITCODE`` is reset so a previous command's status does not leak, the optional
    environment and directory are applied (values quoted), the command runs verbatim, and
    ``exit $LASTEXITCODE`` hands a native command's status to the host (``SetShouldExit``).
    """
    lines = ["$global:LASTEXITCODE = 0"]
    if env:
        lines.append("$global:BcdrfixSavedEnv = @{}")
        for name, value in env.items():
            q_name = quote(env_name(str(name)))
            lines.append(
                f"$global:BcdrfixSavedEnv[{q_name}] = "
                f"[System.Environment]::GetEnvironmentVariable({q_name}, 'Process')"
            )
            lines.append(
                f"[System.Environment]::SetEnvironmentVariable({q_name}, "
                f"{quote(_unmask(value))}, 'Process')"
            )
    if chdir:
        lines.append("$global:BcdrfixSavedLocation = (Get-Location).Path")
        lines.append(f"Set-Location -LiteralPath {quote(str(chdir))}")
    lines.append(text)
    lines.append("exit $LASTEXITCODE")
    return "\n".join(lines)


RESTORE_SCRIPT = """
if ($null -ne $global:BcdrfixSavedEnv) {
    foreach ($entry in $global:BcdrfixSavedEnv.GetEnumerator()) {
        [System.Environment]::SetEnvironmentVariable($entry.Key, $entry.Value, 'Process')
    }
    Remove-Variable -Name BcdrfixSavedEnv -Scope Global
}
if ($null -ne $global:BcdrfixSavedLocation) {
    Set-Location -LiteralPath $global:BcdrfixSavedLocation
    Remove-Variable -Name BcdrfixSavedLocation -Scope Global
}
""".strip()


def _unmask(value: Any) -> str:
    unmask = getattr(value, "unmask", None)
    return str(unmask() if callable(unmask) else value)


# --- the connector ----------------------------------------------------------------------------


class WinRMConnector(BaseConnector):
    """
    The ``@winrm`` connector runs PowerShell on Windows hosts over PowerShell Remoting (pypsrp).

    .. code:: shell

        pyinfra @winrm/vm1.contoso.com exec -- Get-Service WindowsAzureGuestAgent \\
            --data winrm_username=ops@CONTOSO.COM --data winrm_auth=kerberos

    HTTPS with certificate validation is the default; ``winrm_cert_validation=false`` opts out for
    one host, ``winrm_ca_cert`` trusts a private CA.
    """

    handles_execution = True
    data_cls = WinRMConnectorData
    data_meta = DATA_META

    def __init__(self, state, host) -> None:
        super().__init__(state, host)
        self._pool: Any = None  # pypsrp RunspacePool once connected
        self._ps_host: Any = None
        self._settings: WinRMSettings | None = None

    @override
    @staticmethod
    def make_names_data(name: str | None = None) -> Iterator[tuple[str, dict, list[str]]]:
        if not name:
            raise ConnectError("@winrm needs a host name: @winrm/HOSTNAME")
        for sub_name in name.split(","):
            sub_name = sub_name.strip()
            if sub_name:
                try:
                    check_host_name(sub_name)
                except WinRMSettingsError as exc:
                    raise ConnectError(f"@winrm/{sub_name}: {exc}") from None
                yield f"@winrm/{sub_name}", {"winrm_hostname": sub_name}, []

    @property
    def settings(self) -> WinRMSettings:
        if self._settings is None:
            try:
                self._settings = WinRMSettings.from_data(self.host.name, self.data)
            except WinRMSettingsError as exc:
                raise ConnectError(f"winrm: {exc}") from None
        return self._settings

    def _check_config(self) -> None:
        config = self.state.config
        for attribute, argument in CONFIG_REFUSALS.items():
            if getattr(config, attribute, None):
                raise ConnectError(refused_argument({argument: True}) or argument)

    @override
    def connect(self) -> None:
        from pypsrp.host import PSHost, PSHostUserInterface
        from pypsrp.powershell import RunspacePool
        from pypsrp.wsman import WSMan

        self._check_config()
        settings = self.settings
        try:
            wsman = WSMan(**settings.wsman_kwargs())
            self._ps_host = PSHost(None, None, False, "bcdrfix", None, PSHostUserInterface(), "1.0")
            pool = RunspacePool(
                wsman, host=self._ps_host, configuration_name=settings.configuration_name
            )
            pool.open()
        except ConnectError:
            raise
        except Exception as exc:  # noqa: BLE001 - every transport failure becomes one clear line
            raise ConnectError(describe_error(exc, settings)) from None
        self._pool = pool

    @override
    def disconnect(self) -> None:
        if self._pool is not None:
            try:
                self._pool.close()
            except Exception as exc:  # noqa: BLE001 - the host may already be gone
                logger.debug("winrm: closing the runspace of %s failed: %s", self.host.name, exc)
            self._pool = None

    def _invoke(self, script: str, timeout: int | None) -> CommandResult:
        """Run one script in the runspace; raise TimeoutError after ``timeout`` seconds."""
        from pypsrp.powershell import PowerShell, PSInvocationState

        if self._pool is None:
            raise ConnectionError(f"winrm: not connected to {self.settings.endpoint}")
        host = self._ps_host
        host.rc = None
        host.ui.stdout, host.ui.stderr = [], []
        settings = self.settings
        ps = PowerShell(self._pool)
        ps.add_script(script)
        deadline = time.monotonic() + timeout if timeout else None
        try:
            ps.begin_invoke()
            while ps.state == PSInvocationState.RUNNING:
                wait = settings.operation_timeout
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        try:
                            ps.stop()
                        except Exception:  # noqa: BLE001 - reporting the timeout matters more
                            pass
                        raise TimeoutError(
                            f"winrm: command still running after {timeout}s; stopped it"
                        )
                    wait = max(1, min(wait, int(remaining) or 1))
                ps.poll_invoke(timeout=wait)
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - transport failures are OSErrors for pyinfra
            raise ConnectionError(describe_error(exc, settings)) from None
        result = command_result(
            ps.output,
            ps.streams.error,
            ps.state == PSInvocationState.FAILED or ps.had_errors,
            host.rc,
            host.ui.stdout,
            host.ui.stderr,
        )
        try:
            ps.close()
        except Exception as exc:  # noqa: BLE001 - the result is already complete
            logger.debug("winrm: closing a pipeline on %s failed: %s", self.host.name, exc)
        return result

    @override
    def run_shell_command(
        self,
        command,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Unpack[ConnectorArguments],
    ) -> tuple[bool, CommandOutput]:
        refusal = refused_argument(arguments)
        if refusal:
            logger.error(f"{self.host.print_prefix}{refusal}")
            return False, CommandOutput([OutputLine("stderr", refusal)])
        text = command if isinstance(command, str) else command.get_raw_value()
        shown = command if isinstance(command, str) else command.get_masked_value()
        env = arguments.get("_env") or {}
        chdir = arguments.get("_chdir")
        try:
            script = wrap_command(text, env, chdir)
        except PowerShellQuoteError as exc:
            message = f"bcdrfix winrm: {exc}"
            return False, CommandOutput([OutputLine("stderr", message)])
        timeout = arguments.get("_timeout") or self.settings.command_timeout
        success_codes = list(arguments.get("_success_exit_codes") or [0])

        if print_input:
            echo(f"{self.host.print_prefix}>>> {shown}", err=True)
        try:
            result = self._invoke(script, timeout)
        finally:
            if env or chdir:
                try:
                    self._invoke(RESTORE_SCRIPT, self.settings.operation_timeout)
                except Exception as exc:  # noqa: BLE001 - keep the command's own outcome
                    logger.warning(
                        f"{self.host.print_prefix}winrm: could not restore env/dir: {exc}"
                    )
        if print_output:
            for line in result.lines:
                echo(f"{self.host.print_prefix}{line.line}", err=True)
        return result.exit_code in success_codes, result.output

    # --- files -----------------------------------------------------------------------------

    def _file_chunks(self, data: bytes) -> Iterator[list[str]]:
        """Base64 chunks for pypsrp's copy.ps1; the last one carries the SHA1 it verifies."""
        size = int((self._pool.connection.max_payload_size - 82) / 4 * 3) if self._pool else 65536
        digest = base64.b64encode(hashlib.sha1(data).hexdigest().encode()).decode()
        return file_chunks(data, size, digest)

    def _run_transfer_script(self, script: str, remote_filename: str, input=None):
        """Run pypsrp's copy.ps1/fetch.ps1; the remote path travels as an argument, not as code."""
        from pypsrp._utils import get_pwsh_script
        from pypsrp.powershell import PowerShell

        ps = PowerShell(self._pool)
        ps.add_script(get_pwsh_script(script)).add_argument(remote_filename).add_argument(False)
        try:
            ps.invoke(input=input)
        except Exception as exc:  # noqa: BLE001
            raise ConnectionError(describe_error(exc, self.settings)) from None
        return ps

    @override
    def put_file(
        self,
        filename_or_io,
        remote_filename: str,
        remote_temp_filename: str | None = None,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Unpack[ConnectorArguments],
    ) -> bool:
        """Upload through pypsrp's checked copy script; the path travels as an argument."""
        refusal = refused_argument(arguments)
        if refusal:
            raise OSError(refusal)
        with get_file_io(filename_or_io) as file_io:
            data = file_io.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        ps = self._run_transfer_script("copy.ps1", remote_filename, input=self._file_chunks(data))
        if ps.had_errors:
            raise OSError(
                "winrm: upload to "
                + remote_filename
                + " failed: "
                + "; ".join(str(e) for e in ps.streams.error)
            )
        if print_output:
            echo(f"{self.host.print_prefix}file uploaded: {remote_filename}", err=True)
        return True

    @override
    def get_file(
        self,
        remote_filename: str,
        filename_or_io,
        remote_temp_filename: str | None = None,
        print_output: bool = False,
        print_input: bool = False,
        **arguments: Unpack[ConnectorArguments],
    ) -> bool:
        """Download through pypsrp's fetch script and check its SHA1 before writing locally."""
        refusal = refused_argument(arguments)
        if refusal:
            raise OSError(refusal)
        ps = self._run_transfer_script("fetch.ps1", remote_filename)
        if ps.had_errors or len(ps.output) < 2:
            raise OSError(
                "winrm: download of "
                + remote_filename
                + " failed: "
                + "; ".join(str(e) for e in ps.streams.error)
            )
        data = decode_fetched(ps.output[0], ps.output[-1], remote_filename)
        with get_file_io(filename_or_io, "wb") as file_io:
            file_io.write(data)
        if print_output:
            echo(f"{self.host.print_prefix}file downloaded: {remote_filename}", err=True)
        return True


def file_chunks(data: bytes, size: int, digest_b64: str) -> Iterator[list[str]]:
    """What copy.ps1 reads: base64 pieces; the last list also holds the expected hash."""
    if not data:
        yield ["", digest_b64]
        return
    for offset in range(0, len(data), size):
        piece = [base64.b64encode(data[offset : offset + size]).decode()]
        if offset + size >= len(data):
            piece.append(digest_b64)
        yield piece


def decode_fetched(b64_data: Any, expected_sha1: Any, remote_filename: str) -> bytes:
    data = base64.b64decode(str(b64_data))
    actual = hashlib.sha1(data).hexdigest()
    if actual != str(expected_sha1).strip().lower():
        raise OSError(
            f"winrm: download of {remote_filename} is corrupt (sha1 {actual} != {expected_sha1})"
        )
    return data
