"""How a finished PowerShell pipeline and a failed request look to pyinfra.

* the script's output objects become stdout lines; host UI writes (``Write-Host``) too;
* error records become stderr lines;
* the exit status is the script's ``exit N``, else the last native command's ``$LASTEXITCODE``;
  a terminating error, or any error record that is not a native command's stderr, makes it 1;
* a failed connection or request is one line naming the endpoint and the likely cause.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyinfra.connectors.util import CommandOutput, OutputLine

from bcdrfix.windows.winrm_settings import WinRMSettings

NATIVE_STDERR_IDS = ("NativeCommandError", "NativeCommandErrorMessage")


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
    # Imported here: pyinfra's CLI monkey-patches ssl (gevent) before connectors connect, and
    # requests must not be imported before that.
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
