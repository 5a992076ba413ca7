"""The audit engine without the lab: control selection, an unreachable host failing alone.

The reachable host is this machine through pyinfra's @local connector: the real batched
observation runs here (read-only), whatever this machine has. The unreachable one is an SSH
host on a closed port of 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from bcdrfix.audit.engine import audit_controls, deploy_for_controls, fix_command
from bcdrfix.controls import REGISTRY, load_settings

REPO = Path(__file__).resolve().parents[2]
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_audit_checks_every_linux_control_except_on_demand_actions_and_skipped_ones():
    settings = load_settings({"bcdrfix_skip_controls": ["linux.agent_package"]})
    ids = [c.id for c in audit_controls("linux", settings)]
    expected = [
        c.id for c in REGISTRY.all("linux") if not c.on_demand and c.id != "linux.agent_package"
    ]
    assert ids == expected
    assert "linux.agent_restart" not in ids  # "restart now" is an action, not a compliance check


def test_fix_commands_point_at_the_deploy_that_contains_the_control():
    deploys = deploy_for_controls(str(REPO))
    assert deploys["linux.waagent_conf"] == "bcdrfix.deploys.linux_agent"
    assert deploys["linux.dhcp"] == "bcdrfix.deploys.linux_backup"
    assert fix_command("inventories/azure.py", "deploys/linux_agent.py", "@winrm/sql 01", True) == (
        "pyinfra inventories/azure.py deploys/linux_agent.py --limit '@winrm/sql 01' -y "
        "--data bcdrfix_allow_disruptive=true"
    )


def test_an_unreachable_host_fails_alone(tmp_path):
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        "linux = [\n"
        '    ("@local", {}),\n'
        f'    ("down-01", {{"ssh_hostname": "127.0.0.1", "ssh_port": {closed_port()}, '
        '"ssh_connect_timeout": 3}),\n'
        "]\n"
    )
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [BCDRFIX, "audit", str(inventory), "--report", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    document = json.loads(report.read_text())
    hosts = {h["name"]: h for h in document["hosts"]}
    assert hosts["down-01"]["state"] == "unreachable" and hosts["down-01"]["message"]
    assert hosts["@local"]["state"] == "audited"
    local_controls = {r["control"] for r in document["results"] if r["host"] == "@local"}
    assert local_controls == {c.id for c in REGISTRY.all("linux") if not c.on_demand}
    assert "down-01" in proc.stdout and "unreachable" in proc.stdout
    assert document["summary"]["not_audited"] == 1 and document["summary"]["exit_status"] == 2
