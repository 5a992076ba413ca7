"""Connection settings of the ``@winrm`` connector: the ``winrm_*`` host data, validated.

Every value goes through the validators of ``bcdrfix.core.settings`` (one set for the project);
a wrong value is a ``WinRMSettingsError`` with one line naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyinfra.connectors.base import ConnectorData, DataMeta

from bcdrfix.core.settings import SettingsError, as_bool, as_int_range, as_port

AUTH_METHODS = ("negotiate", "ntlm", "kerberos", "credssp", "certificate")
TRANSPORTS = ("https", "http")
ENCRYPTION = ("auto", "always", "never")


class WinRMSettingsError(SettingsError):
    """A winrm_* value is wrong; one line for the user."""


DEFAULT_COMMAND_TIMEOUT = 900
# Characters that would make the URL's authority end early (``evil.example/x?`` connected to
# ``evil.example``) or that no host name contains.
_BAD_HOST_CHARACTERS = re.compile(r"[/@#?\\\s]")


def _checked(validate: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    """Run a ``bcdrfix.core.settings`` validator; its error becomes a ``WinRMSettingsError``."""
    try:
        return validate(name, value)
    except SettingsError as exc:
        raise WinRMSettingsError(str(exc)) from None


def _seconds(name: str, value: Any, high: int = 3600) -> int:
    return _checked(as_int_range(1, high, "whole seconds"), name, value)


def check_host_name(hostname: str) -> str:
    """Refuse names that are not a plain host name or address (``a/b``, ``u@h``, ``h?x``)."""
    if not hostname or _BAD_HOST_CHARACTERS.search(hostname):
        raise WinRMSettingsError(
            f"winrm_hostname={hostname!r}: expected a host name or address "
            "(no '/', '@', '#', '?', backslash or whitespace)"
        )
    return hostname


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
        "Limit in seconds for one command (_timeout and per-step limits win).",
        DEFAULT_COMMAND_TIMEOUT,
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
    command_timeout: int
    configuration_name: str
    extra: Mapping[str, Any]

    @classmethod
    def from_data(cls, host_name: str, data: Mapping[str, Any]) -> WinRMSettings:
        get = lambda key: data.get(key, DATA_META[key].default)  # noqa: E731
        hostname = str(get("winrm_hostname") or host_name)
        if hostname.startswith("@winrm/"):
            hostname = hostname[len("@winrm/") :]
        check_host_name(hostname)
        transport = str(get("winrm_transport")).lower()
        if transport not in TRANSPORTS:
            raise WinRMSettingsError(f"winrm_transport={transport!r}: expected https or http")
        ssl = transport == "https"
        port_value = get("winrm_port")
        port = (
            _checked(as_port, "winrm_port", port_value)
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

        validate = _checked(as_bool, "winrm_cert_validation", get("winrm_cert_validation"))
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

        connect_timeout = _seconds("winrm_connect_timeout", get("winrm_connect_timeout"))
        read_timeout = _seconds("winrm_read_timeout", get("winrm_read_timeout"))
        operation_timeout = _seconds("winrm_operation_timeout", get("winrm_operation_timeout"))
        if read_timeout <= operation_timeout:
            raise WinRMSettingsError(
                f"winrm_read_timeout={read_timeout} must be greater than "
                f"winrm_operation_timeout={operation_timeout}"
            )
        # Every command is bounded: a hung host fails alone instead of stalling the fleet.
        command_timeout = _seconds(
            "winrm_command_timeout", get("winrm_command_timeout") or DEFAULT_COMMAND_TIMEOUT, 86400
        )
        if get("winrm_proxy"):
            extra["proxy"] = str(get("winrm_proxy"))
        extra["no_proxy"] = _checked(as_bool, "winrm_no_proxy", get("winrm_no_proxy"))
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
