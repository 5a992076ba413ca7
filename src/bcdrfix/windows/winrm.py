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
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyinfra import logger
from pyinfra.api.exceptions import ConnectError
from pyinfra.api.output import echo
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector, ConnectorData, DataMeta
from pyinfra.connectors.util import CommandOutput, OutputLine
from typing_extensions import Unpack, override

from bcdrfix.windows.powershell import PowerShellQuoteError, env_name, quote

if TYPE_CHECKING:
    from pyinfra.api.arguments import ConnectorArguments

AUTH_METHODS = ("negotiate", "ntlm", "kerberos", "credssp", "certificate")
TRANSPORTS = ("https", "http")
ENCRYPTION = ("auto", "always", "never")

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
NATIVE_STDERR_IDS = ("NativeCommandError", "NativeCommandErrorMessage")


class WinRMSettingsError(ValueError):
    """A winrm_* value is wrong; one line for the user."""


class WinRMConnectorData(ConnectorData, total=False):
    winrm_hostname: str
    winrm_port: Any
    winrm_transport: str
    winrm_username: str
    winrm_password: str
    winrm_auth: str
    winrm_cert_validation: Any
    winrm_ca_cert: str
    winrm_certificate_pem: str
    winrm_certificate_key_pem: str
    winrm_message_encryption: str
    winrm_connect_timeout: Any
    winrm_read_timeout: Any
    winrm_operation_timeout: Any
    winrm_command_timeout: Any
    winrm_configuration_name: str
    winrm_path: str
    winrm_credssp_auth_mechanism: str
    winrm_negotiate_service: str
    winrm_negotiate_hostname_override: str
    winrm_proxy: str
    winrm_no_proxy: Any


DATA_META = {
    "winrm_hostname": DataMeta(
        "Host name or address of the Windows machine (default: the host name)."
    ),
    "winrm_port": DataMeta("WinRM port (default 5986 for https, 5985 for http)."),
    "winrm_transport": DataMeta("https (default) or http; http needs message encryption.", "https"),
    "winrm_username": DataMeta("Account to connect as (DOMAIN\\user, user@REALM or a local user)."),
    "winrm_password": DataMeta(
        "Password (not needed for Kerberos with a ticket or certificate auth)."
    ),
    "winrm_auth": DataMeta(
        "negotiate (default), ntlm, kerberos, credssp or certificate.", "negotiate"
    ),
    "winrm_cert_validation": DataMeta(
        "Validate the server's TLS certificate (default true). Opting out is explicit, per host: "
        "set it to false. A CA bundle goes in winrm_ca_cert.",
        True,
    ),
    "winrm_ca_cert": DataMeta(
        "Path of a PEM CA bundle that signs the WinRM listener's certificate."
    ),
    "winrm_certificate_pem": DataMeta("Client certificate (PEM) for certificate auth."),
    "winrm_certificate_key_pem": DataMeta("Client certificate key (PEM) for certificate auth."),
    "winrm_message_encryption": DataMeta("auto (default), always or never.", "auto"),
    "winrm_connect_timeout": DataMeta("Seconds to wait for the TCP/TLS connection.", 30),
    "winrm_read_timeout": DataMeta(
        "Seconds to wait for any HTTP answer (> operation timeout).", 30
    ),
    "winrm_operation_timeout": DataMeta("WSMan operation timeout in seconds (< read timeout).", 20),
    "winrm_command_timeout": DataMeta(
        "Default limit in seconds for one command (_timeout wins).", None
    ),
    "winrm_configuration_name": DataMeta(
        "PowerShell session configuration.", "Microsoft.PowerShell"
    ),
    "winrm_path": DataMeta("URL path of the WinRM listener.", "wsman"),
    "winrm_credssp_auth_mechanism": DataMeta("auto, ntlm or kerberos (CredSSP only).", "auto"),
    "winrm_negotiate_service": DataMeta("Kerberos service class of the SPN.", "WSMAN"),
    "winrm_negotiate_hostname_override": DataMeta("Host name used in the Kerberos SPN."),
    "winrm_proxy": DataMeta("HTTP proxy URL."),
    "winrm_no_proxy": DataMeta("Ignore proxy environment variables.", False),
}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise WinRMSettingsError(f"{name}={value!r}: expected true or false")


def _as_seconds(name: str, value: Any, low: int = 1, high: int = 86400) -> int:
    try:
        seconds = int(str(value))
    except ValueError:
        seconds = -1
    if not low <= seconds <= high:
        raise WinRMSettingsError(
            f"{name}={value!r}: expected whole seconds between {low} and {high}"
        )
    return seconds


@dataclass(frozen=True)
class WinRMSettings:
    """Validated connection settings of one host; ``wsman_kwargs`` feeds ``pypsrp.wsman.WSMan``."""

    hostname: str
    port: int
    ssl: bool
    auth: str
    username: str | None
    password: str | None = field(repr=False)
    cert_validation: bool | str
    encryption: str
    connect_timeout: int
    read_timeout: int
    operation_timeout: int
    command_timeout: int | None
    configuration_name: str
    extra: Mapping[str, Any]

    @classmethod
    def from_data(cls, host_name: str, data: Mapping[str, Any]) -> WinRMSettings:
        get = lambda key: data.get(key, DATA_META[key].default)  # noqa: E731
        hostname = str(get("winrm_hostname") or host_name)
        if hostname.startswith("@winrm/"):
            hostname = hostname[len("@winrm/") :]
        if not hostname or any(ch.isspace() for ch in hostname):
            raise WinRMSettingsError(
                f"winrm_hostname={hostname!r}: expected a host name or address"
            )
        transport = str(get("winrm_transport")).lower()
        if transport not in TRANSPORTS:
            raise WinRMSettingsError(f"winrm_transport={transport!r}: expected https or http")
        ssl = transport == "https"
        port_value = get("winrm_port")
        port = (
            _as_seconds("winrm_port", port_value, 1, 65535)
            if port_value not in (None, "")
            else (5986 if ssl else 5985)
        )
        auth = str(get("winrm_auth")).lower()
        if auth not in AUTH_METHODS:
            raise WinRMSettingsError(
                f"winrm_auth={auth!r}: expected one of {', '.join(AUTH_METHODS)} "
                "(basic auth is not offered: it sends the password in every request)"
            )
        username = get("winrm_username")
        password = get("winrm_password")
        extra: dict[str, Any] = {}
        if auth == "certificate":
            if not ssl:
                raise WinRMSettingsError("winrm_auth=certificate needs winrm_transport=https")
            for key in ("winrm_certificate_pem", "winrm_certificate_key_pem"):
                if not get(key):
                    raise WinRMSettingsError(f"winrm_auth=certificate needs {key}")
            extra["certificate_pem"] = str(get("winrm_certificate_pem"))
            extra["certificate_key_pem"] = str(get("winrm_certificate_key_pem"))
        elif auth in ("ntlm", "credssp") and not (username and password):
            raise WinRMSettingsError(f"winrm_auth={auth} needs winrm_username and winrm_password")
        elif auth == "negotiate" and password and not username:
            raise WinRMSettingsError("winrm_password is set but winrm_username is not")
        if auth == "credssp":
            mechanism = str(get("winrm_credssp_auth_mechanism")).lower()
            if mechanism not in ("auto", "ntlm", "kerberos"):
                raise WinRMSettingsError(
                    f"winrm_credssp_auth_mechanism={mechanism!r}: expected auto, ntlm or kerberos"
                )
            extra["credssp_auth_mechanism"] = mechanism
        if auth in ("negotiate", "kerberos", "ntlm"):
            extra["negotiate_service"] = str(get("winrm_negotiate_service"))
            if get("winrm_negotiate_hostname_override"):
                extra["negotiate_hostname_override"] = str(get("winrm_negotiate_hostname_override"))

        validate = _as_bool("winrm_cert_validation", get("winrm_cert_validation"))
        ca_cert = get("winrm_ca_cert")
        if ca_cert and not validate:
            raise WinRMSettingsError(
                "winrm_ca_cert is set but winrm_cert_validation is false: pick one"
            )
        cert_validation: bool | str = str(ca_cert) if ca_cert else validate

        encryption = str(get("winrm_message_encryption")).lower()
        if encryption not in ENCRYPTION:
            raise WinRMSettingsError(
                f"winrm_message_encryption={encryption!r}: expected auto, always or never"
            )
        if not ssl and encryption == "never":
            raise WinRMSettingsError(
                "winrm_transport=http with winrm_message_encryption=never would send commands and "
                "credentials in clear text: use https"
            )
        if not ssl and auth == "certificate":
            raise WinRMSettingsError("winrm_auth=certificate needs winrm_transport=https")

        connect_timeout = _as_seconds(
            "winrm_connect_timeout", get("winrm_connect_timeout"), 1, 3600
        )
        read_timeout = _as_seconds("winrm_read_timeout", get("winrm_read_timeout"), 1, 3600)
        operation_timeout = _as_seconds(
            "winrm_operation_timeout", get("winrm_operation_timeout"), 1, 3600
        )
        if read_timeout <= operation_timeout:
            raise WinRMSettingsError(
                f"winrm_read_timeout={read_timeout} must be greater than "
                f"winrm_operation_timeout={operation_timeout}"
            )
        command_timeout = get("winrm_command_timeout")
        if command_timeout not in (None, ""):
            command_timeout = _as_seconds("winrm_command_timeout", command_timeout)
        else:
            command_timeout = None
        if get("winrm_proxy"):
            extra["proxy"] = str(get("winrm_proxy"))
        extra["no_proxy"] = _as_bool("winrm_no_proxy", get("winrm_no_proxy"))
        extra["path"] = str(get("winrm_path"))
        return cls(
            hostname=hostname,
            port=port,
            ssl=ssl,
            auth=auth,
            username=str(username) if username else None,
            password=str(password) if password else None,
            cert_validation=cert_validation,
            encryption=encryption,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            operation_timeout=operation_timeout,
            command_timeout=command_timeout,
            configuration_name=str(get("winrm_configuration_name")),
            extra=extra,
        )

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.hostname}:{self.port}"

    def wsman_kwargs(self) -> dict[str, Any]:
        return {
            "server": self.hostname,
            "port": self.port,
            "ssl": self.ssl,
            "auth": self.auth,
            "username": self.username,
            "password": self.password,
            "cert_validation": self.cert_validation,
            "encryption": self.encryption,
            "connection_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "operation_timeout": self.operation_timeout,
            # A refused or hanging host must fail fast and clearly, not after retries.
            "reconnection_retries": 0,
            **self.extra,
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


# --- results ----------------------------------------------------------------------------------


def _text_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if text else []


def output_object_text(obj: Any) -> str:
    """A pipeline output object as text (strings as they are, objects by ToString or properties)."""
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return "True" if obj else "False"
    if isinstance(obj, (str, int, float)):
        return str(obj)
    to_string = getattr(obj, "to_string", None)
    if to_string:
        return str(to_string)
    props: dict[str, Any] = {}
    for attr in ("adapted_properties", "extended_properties"):
        props.update(getattr(obj, attr, None) or {})
    if props:
        return "; ".join(f"{key}: {value}" for key, value in props.items())
    return str(obj)


def error_record_text(record: Any) -> str:
    text = str(record)
    if text in ("", "None"):
        text = str(
            getattr(record, "details_message", None) or getattr(record, "message", None) or "error"
        )
    fq_error = getattr(record, "fq_error", None)
    if fq_error in NATIVE_STDERR_IDS:
        return text
    command_name = getattr(record, "command_name", None)
    prefix = f"{command_name}: " if command_name else ""
    suffix = f" ({fq_error})" if fq_error else ""
    return f"{prefix}{text}{suffix}"


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    lines: list[OutputLine]

    @property
    def output(self) -> CommandOutput:
        return CommandOutput(self.lines)


def command_result(
    output: Iterable[Any],
    errors: Iterable[Any],
    failed: bool,
    host_rc: int | None,
    ui_stdout: Iterable[str] = (),
    ui_stderr: Iterable[str] = (),
) -> CommandResult:
    """Map a finished pipeline to pyinfra's (status, output) model (see the module docstring)."""
    lines: list[OutputLine] = []
    for obj in output:
        lines += [OutputLine("stdout", line) for line in _text_lines(output_object_text(obj))]
    ui_text = "".join(ui_stdout)
    lines += [OutputLine("stdout", line) for line in _text_lines(ui_text.rstrip("\r\n"))]
    real_errors = False
    for record in errors:
        if getattr(record, "fq_error", None) not in NATIVE_STDERR_IDS:
            real_errors = True
        lines += [OutputLine("stderr", line) for line in _text_lines(error_record_text(record))]
    lines += [OutputLine("stderr", line) for line in _text_lines("".join(ui_stderr).rstrip("\r\n"))]
    if host_rc:
        exit_code = host_rc
    elif failed or real_errors:
        exit_code = 1
    else:
        exit_code = 0
    return CommandResult(exit_code, lines)


# --- errors -----------------------------------------------------------------------------------


def describe_error(exc: BaseException, settings: WinRMSettings) -> str:
    """One line for a failed connection or request: refused, timeout, TLS, credentials, HTTP."""
    import requests
    from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError

    where = settings.endpoint
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in chain)

    if isinstance(exc, AuthenticationError) or "401" in text and "Unauthorized" in text:
        user = settings.username or "(no user)"
        return f"winrm: authentication failed for {user} at {where} with {settings.auth} (bad credentials?)"
    if isinstance(exc, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            f"winrm: TLS certificate of {where} could not be verified; give its CA in "
            "winrm_ca_cert (or opt out for this host with winrm_cert_validation=false)"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"winrm: no connection to {where} within {settings.connect_timeout}s (timeout)"
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError, socket.timeout)):
        return (
            f"winrm: {where} accepted the connection but did not answer in time "
            f"(timeout; connect {settings.connect_timeout}s, read {settings.read_timeout}s)"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return f"winrm: connection refused by {where} (is a WinRM {'HTTPS' if settings.ssl else 'HTTP'} listener on port {settings.port}?)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = str(chain[-1]).splitlines()[0] if chain else str(exc)
        return f"winrm: cannot connect to {where}: {reason}"
    if isinstance(exc, WSManFaultError):
        reason = (exc.reason or exc.message or str(exc)).strip().splitlines()[0]
        return f"winrm: {where} refused the request: {reason}"
    if isinstance(exc, WinRMTransportError):
        return f"winrm: {where} answered HTTP {exc.code}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"winrm: {where}: {type(exc).__name__}: {first}"


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
