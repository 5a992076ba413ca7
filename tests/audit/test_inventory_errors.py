"""A broken inventory or bad option fails with one clear line before anything is contacted.

Each inventory points its hosts at a TCP listener on 127.0.0.1 that the test owns; after the
command the listener must have had no connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.3)
    yield sock
    sock.close()


def contacted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


def audit(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BCDRFIX, "audit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert proc.stdout == ""
    return lines[0]


def inventory(tmp_path: Path, port: int, extra: str = "", body: str | None = None) -> str:
    path = tmp_path / "inv.py"
    path.write_text(
        body
        if body is not None
        else (
            f'linux = [("vm-a", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}{extra}}}),\n'
            f'         ("vm-b", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}}})]\n'
        )
    )
    return str(path)


def test_syntax_error(tmp_path, listener):
    path = inventory(tmp_path, 0, body="linux = [\n  ('vm-a', {'ssh_hostname': '127.0.0.1'}\n")
    line = one_error_line(audit(path))
    assert "syntax error" in line and "inv.py" in line


def test_missing_file(tmp_path):
    line = one_error_line(audit(str(tmp_path / "nope.py")))
    assert "nope.py" in line and "no such file" in line


def test_code_that_raises(tmp_path):
    path = inventory(tmp_path, 0, body="import json\nlinux = json.loads('[oops')\n")
    line = one_error_line(audit(path))
    assert "JSONDecodeError" in line or "bad JSON" in line


def test_host_without_address(tmp_path, listener):
    port = listener.getsockname()[1]
    path = inventory(
        tmp_path,
        port,
        body=(
            f'linux = [("vm-a", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}}}),\n'
            '         ("vm-b", {"ssh_hostname": ""})]\n'
        ),
    )
    line = one_error_line(audit(path))
    assert "vm-b" in line and "no address" in line
    assert not contacted(listener)


def test_unknown_setting_is_refused_before_any_host_is_contacted(tmp_path, listener):
    port = listener.getsockname()[1]
    path = inventory(tmp_path, port, extra=', "bcdrfix_allow_disruptiv": True')
    line = one_error_line(audit(path))
    assert (
        "vm-a" in line and "bcdrfix_allow_disruptiv" in line and "bcdrfix_allow_disruptive" in line
    )
    assert not contacted(listener)


def test_bad_setting_value(tmp_path, listener):
    port = listener.getsockname()[1]
    path = inventory(tmp_path, port, extra=', "bcdrfix_agent_min_version": "latest"')
    line = one_error_line(audit(path))
    assert "bcdrfix_agent_min_version" in line and "dotted version" in line
    assert not contacted(listener)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--shard", "3/2"], "--shard"),
        (["--shard", "x"], "expected K/N"),
        (["--limit", "nothing-like-this"], "matches no host"),
        (["--report", "out.pdf"], "unknown format .pdf"),
        (["--report", "/no/such/folder/out.json"], "does not exist"),
    ],
)
def test_bad_options(tmp_path, listener, args, message):
    port = listener.getsockname()[1]
    path = inventory(tmp_path, port)
    line = one_error_line(audit(path, *args))
    assert message in line
    assert not contacted(listener)


def test_lab_inventory_without_a_lab(tmp_path):
    line = one_error_line(audit("inventories/lab.py", env={"BCDRFIX_LAB_DIR": str(tmp_path)}))
    assert "no lab is running" in line


# --- one loader for every command (issue 9) ----------------------------------------------------

# command words, then the inventory, then options
COMMANDS = {
    "audit": (["audit"], []),
    "fix": (["fix"], ["--code", "151099"]),
    "inventory hosts": (["inventory", "hosts"], []),
}


def bcdrfix(command: tuple[list[str], list[str]], path: str, *extra: str):
    words, options = command
    return subprocess.run(
        [BCDRFIX, *words, path, *options, *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "body, message",
    [
        ("linux = [\n  ('vm-a', {'ssh_hostname': '127.0.0.1'}\n", "syntax error"),
        ("import json\nlinux = json.loads('[oops')\n", "JSONDecodeError"),
        (
            "linux = [('vm-a', {'ssh_hostname': '127.0.0.1', 'ssh_port': PORT}),\n"
            "         ('vm-a', {'ssh_hostname': '127.0.0.2', 'ssh_port': PORT})]\n",
            "host vm-a is listed twice in group linux",
        ),
        (
            "linux = [('vm-a', {'ssh_hostname': '127.0.0.1', 'ssh_port': PORT}),\n"
            "         ('vm-b', {'ssh_hostname': ''})]\n",
            "host vm-b has no address",
        ),
    ],
)
def test_every_command_refuses_a_malformed_inventory_with_one_line(
    tmp_path, listener, command, body, message
):
    port = str(listener.getsockname()[1])
    path = inventory(tmp_path, 0, body=body.replace("PORT", port))
    line = one_error_line(bcdrfix(COMMANDS[command], path))
    assert message in line and "inv.py" in line
    assert not contacted(listener)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_the_same_limit_rule(tmp_path, listener, command):
    port = listener.getsockname()[1]
    path = inventory(tmp_path, port)
    line = one_error_line(bcdrfix(COMMANDS[command], path, "--limit", "vm-a,nothing-like-this"))
    assert "--limit nothing-like-this: matches no host or group of the inventory" in line
    assert not contacted(listener)
