"""The @winrm connector, tested as far as it can be without a Windows machine: settings, refusal
of POSIX-only arguments, the command wrapper, result mapping with pypsrp's own objects, and
connection errors against local ports that refuse or hang (short, bounded timeouts)."""

import socket
import subprocess
import sys
import time

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import ConnectError
from pypsrp.complex_objects import ErrorRecord

from bcdrfix.windows.winrm import (
    REFUSED_ARGUMENTS,
    WinRMConnector,
    WinRMSettings,
    WinRMSettingsError,
    command_result,
    decode_fetched,
    file_chunks,
    refused_argument,
    wrap_command,
)

FAST = {
    "winrm_connect_timeout": 1,
    "winrm_read_timeout": 2,
    "winrm_operation_timeout": 1,
    "winrm_auth": "ntlm",
    "winrm_username": "bcdr",
    "winrm_password": "secret",
}


def connector_for(data, name="@winrm/127.0.0.1"):
    inventory = Inventory(([(name, data)], {}))
    state = State(inventory, Config())
    host = inventory.get_host(name)
    return host.connector, state


# --- settings ---------------------------------------------------------------------------------


def test_defaults_are_https_with_certificate_validation():
    settings = WinRMSettings.from_data("@winrm/vm1", {})
    kwargs = settings.wsman_kwargs()
    assert (kwargs["server"], kwargs["port"], kwargs["ssl"], kwargs["cert_validation"]) == (
        "vm1",
        5986,
        True,
        True,
    )
    assert kwargs["auth"] == "negotiate" and kwargs["reconnection_retries"] == 0


def test_opting_out_of_validation_is_explicit_per_host():
    assert WinRMSettings.from_data("vm1", {"winrm_cert_validation": False}).cert_validation is False
    assert (
        WinRMSettings.from_data("vm1", {"winrm_cert_validation": "false"}).cert_validation is False
    )
    assert (
        WinRMSettings.from_data("vm1", {"winrm_ca_cert": "/etc/ca.pem"}).cert_validation
        == "/etc/ca.pem"
    )


@pytest.mark.parametrize(
    "auth,extra",
    [
        ("ntlm", {"winrm_username": "u", "winrm_password": "p"}),
        ("kerberos", {"winrm_username": "u@REALM"}),
        (
            "credssp",
            {
                "winrm_username": "u",
                "winrm_password": "p",
                "winrm_credssp_auth_mechanism": "kerberos",
            },
        ),
        ("certificate", {"winrm_certificate_pem": "/c.pem", "winrm_certificate_key_pem": "/k.pem"}),
    ],
)
def test_each_auth_method_builds_wsman_arguments(auth, extra):
    kwargs = WinRMSettings.from_data("vm1", {"winrm_auth": auth, **extra}).wsman_kwargs()
    assert kwargs["auth"] == auth
    if auth == "certificate":
        assert kwargs["certificate_pem"] == "/c.pem" and kwargs["certificate_key_pem"] == "/k.pem"
    if auth == "credssp":
        assert kwargs["credssp_auth_mechanism"] == "kerberos"
    # pypsrp accepts exactly these arguments
    from pypsrp.wsman import WSMan

    WSMan(**kwargs)


def test_http_uses_5985_and_keeps_message_encryption():
    settings = WinRMSettings.from_data("vm1", {"winrm_transport": "http", **FAST})
    assert (settings.port, settings.ssl, settings.encryption) == (5985, False, "auto")


@pytest.mark.parametrize(
    "data,message",
    [
        ({"winrm_auth": "basic"}, "basic auth is not offered"),
        ({"winrm_auth": "ntlm"}, "needs winrm_username and winrm_password"),
        ({"winrm_auth": "certificate", "winrm_transport": "http"}, "needs winrm_transport=https"),
        ({"winrm_auth": "certificate"}, "needs winrm_certificate_pem"),
        ({"winrm_transport": "ssh"}, "expected https or http"),
        ({"winrm_transport": "http", "winrm_message_encryption": "never"}, "clear text"),
        ({"winrm_port": "59860"}, None),
        ({"winrm_port": "0"}, "winrm_port"),
        ({"winrm_ca_cert": "/ca.pem", "winrm_cert_validation": False}, "pick one"),
        ({"winrm_cert_validation": "maybe"}, "expected a boolean"),
        ({"winrm_read_timeout": 10, "winrm_operation_timeout": 20}, "must be greater than"),
        ({"winrm_hostname": "bad host"}, "winrm_hostname"),
        ({"winrm_password": "p"}, "winrm_username is not"),
    ],
)
def test_bad_connection_settings_are_one_line_errors(data, message):
    if message is None:
        assert WinRMSettings.from_data("vm1", data).port == 59860
        return
    with pytest.raises(WinRMSettingsError, match=message) as info:
        WinRMSettings.from_data("vm1", data)
    assert "\n" not in str(info.value)


def test_password_is_not_in_the_settings_repr():
    assert "secret" not in repr(WinRMSettings.from_data("vm1", FAST))


def test_entry_point_and_names():
    from pyinfra.api.connectors import get_all_connectors

    assert get_all_connectors()["winrm"] is WinRMConnector
    assert list(WinRMConnector.make_names_data("a.example,b.example")) == [
        ("@winrm/a.example", {"winrm_hostname": "a.example"}, []),
        ("@winrm/b.example", {"winrm_hostname": "b.example"}, []),
    ]


# --- arguments and the command wrapper --------------------------------------------------------


@pytest.mark.parametrize("argument", sorted(REFUSED_ARGUMENTS))
def test_posix_only_arguments_are_refused(argument):
    connector, _state = connector_for(FAST)
    ok, output = connector.run_shell_command(
        "Get-Date", **{argument: True if "user" not in argument else "x"}
    )
    assert ok is False
    assert output.stderr_lines == [
        f"bcdrfix winrm: {argument} is not supported on Windows hosts "
        f"({REFUSED_ARGUMENTS[argument]})"
    ]


def test_non_powershell_shell_is_refused_and_defaults_are_accepted():
    assert "always run as PowerShell" in refused_argument({"_shell_executable": "cmd"})
    assert refused_argument({"_shell_executable": "sh", "_sudo": False, "_su_user": None}) is None


def test_sudo_in_config_is_refused_before_connecting():
    connector, state = connector_for(FAST)
    state.config.SUDO = True
    with pytest.raises(ConnectError, match="_sudo is not supported on Windows hosts"):
        connector.connect()


def test_wrapper_runs_the_command_verbatim_as_powershell():
    script = wrap_command("Get-Service | Where-Object { $_.Status -eq 'Running' }")
    assert script.splitlines() == [
        "$global:LASTEXITCODE = 0",
        "Get-Service | Where-Object { $_.Status -eq 'Running' }",
        "exit $LASTEXITCODE",
    ]
    assert "sh -c" not in script


def test_wrapper_refuses_bad_environment_names():
    from bcdrfix.windows.powershell import PowerShellQuoteError

    with pytest.raises(PowerShellQuoteError):
        wrap_command("x", {"A;B": "1"})


# --- results ----------------------------------------------------------------------------------


def error_record(message, fq_error, command_name=None):
    record = ErrorRecord()
    record.exception = None
    record.fq_error = fq_error
    record.command_name = command_name
    record.message = message
    record.details_message = None
    record._to_string = message  # the record's ToString(), as pypsrp deserializes it
    return record


def test_output_and_exit_code_mapping():
    ok = command_result(["line 1\r\nline 2", 42, True], [], failed=False, host_rc=0)
    assert ok.exit_code == 0
    assert [l.line for l in ok.lines] == ["line 1", "line 2", "42", "True"]
    assert command_result([], [], failed=False, host_rc=3).exit_code == 3


def test_native_stderr_is_output_not_failure():
    result = command_result(
        ["done"], [error_record("warning: progress", "NativeCommandError")], failed=False, host_rc=0
    )
    assert result.exit_code == 0
    assert result.output.stderr_lines == ["warning: progress"]


def test_error_records_and_terminating_errors_fail():
    record = error_record(
        "Cannot find any service with service name 'nope'.",
        "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
        "Get-Service",
    )
    result = command_result([], [record], failed=False, host_rc=None)
    assert result.exit_code == 1
    assert result.output.stderr_lines[0].startswith("Get-Service: Cannot find any service")
    assert command_result([], [], failed=True, host_rc=None).exit_code == 1


def test_record_without_text_falls_back_to_its_category_message():
    record = error_record("Access denied", "UnauthorizedAccess")
    record._to_string = None
    assert command_result([], [record], failed=False, host_rc=0).output.stderr_lines == [
        "Access denied (UnauthorizedAccess)"
    ]


def test_host_ui_output_is_kept():
    result = command_result(
        [], [], failed=False, host_rc=0, ui_stdout=["hello", "\r\n", "world\r\n"]
    )
    assert result.output.stdout_lines == ["hello", "world"]


def test_file_transfer_chunks_and_hash():
    import base64
    import hashlib

    data = bytes(range(256)) * 10
    digest = base64.b64encode(hashlib.sha1(data).hexdigest().encode()).decode()
    pieces = list(file_chunks(data, 1000, digest))
    assert b"".join(base64.b64decode(p[0]) for p in pieces) == data
    assert pieces[-1][-1] == digest and all(len(p) == 1 for p in pieces[:-1])
    assert list(file_chunks(b"", 1000, digest)) == [["", digest]]
    encoded = base64.b64encode(data).decode()
    assert decode_fetched(encoded, hashlib.sha1(data).hexdigest(), "C:\\x") == data
    with pytest.raises(OSError, match="corrupt"):
        decode_fetched(encoded, "0" * 40, "C:\\x")


# --- connection errors against 127.0.0.1 ------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_connection_is_one_clear_line():
    port = free_port()
    connector, _ = connector_for({**FAST, "winrm_port": port})
    started = time.monotonic()
    with pytest.raises(ConnectError) as info:
        connector.connect()
    assert str(info.value) == (
        f"winrm: connection refused by https://127.0.0.1:{port} "
        f"(is a WinRM HTTPS listener on port {port}?)"
    )
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("transport", ["https", "http"])
def test_hanging_listener_times_out_quickly(transport):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)  # accepts TCP in the kernel, never answers
        port = server.getsockname()[1]
        connector, _ = connector_for({**FAST, "winrm_port": port, "winrm_transport": transport})
        started = time.monotonic()
        with pytest.raises(ConnectError) as info:
            connector.connect()
        elapsed = time.monotonic() - started
    assert "did not answer in time (timeout; connect 1s, read 2s)" in str(info.value)
    assert "\n" not in str(info.value)
    assert elapsed < 8


def test_bad_settings_fail_at_connect_with_one_line():
    connector, _ = connector_for({"winrm_auth": "basic"})
    with pytest.raises(ConnectError, match="^winrm: winrm_auth='basic'"):
        connector.connect()


def test_not_connected_command_is_a_connection_error():
    connector, _ = connector_for(FAST)
    with pytest.raises(ConnectionError, match="not connected"):
        connector.run_shell_command("Get-Date")


def test_pyinfra_cli_reports_a_refused_host_in_one_line(tmp_path):
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            "@winrm/127.0.0.1",
            "exec",
            "-y",
            "--data",
            f"winrm_port={port}",
            "--data",
            "winrm_auth=ntlm",
            "--data",
            "winrm_username=u",
            "--data",
            "winrm_password=p",
            "--",
            "Get-Service",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        f"[@winrm/127.0.0.1] winrm: connection refused by https://127.0.0.1:{port}"
        in result.stderr + result.stdout
    )
    assert "Traceback" not in result.stderr


def test_kerberos_and_credssp_work_after_the_readme_install():
    """pypsrp[kerberos,credssp]: the auth back ends of the documented examples are installed."""
    from pypsrp.wsman import WSMan
    from spnego._gss import GSSAPIProxy

    assert "kerberos" in GSSAPIProxy.available_protocols()  # gssapi + krb5 present
    built = {}
    for auth in ("kerberos", "credssp"):
        settings = WinRMSettings.from_data(
            "vm1.test", {"winrm_auth": auth, "winrm_username": "u@TEST", "winrm_password": "p"}
        )
        session = WSMan(**settings.wsman_kwargs()).transport._build_session()
        built[auth] = type(session.auth).__name__
    assert built == {"kerberos": "HTTPNegotiateAuth", "credssp": "HttpCredSSPAuth"}
