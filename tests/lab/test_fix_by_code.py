"""Fix by error code on real hosts: ``bcdrfix fix`` and ``deploys/fix_error_code.py``.

Each code changes exactly what its controls cover (checked on the hosts with testinfra, not with
bcdrfix's facts), a dry run changes nothing, a second run changes nothing, and an unreachable
host fails alone. The tests of this module run in order against one lab.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from labtools import BIN, REPO, lab_host_view, run_pyinfra

LAB = {
    "hosts": 2,
    "faults": {
        "lab-debian-01": [
            "agent-stopped",
            "extensions-disabled",
            "restart-no",
            "vmbackup-template-only",
        ],
        "lab-rhel-02": ["article-key", "static-address"],
    },
}
STATIC_NETWORK = "/etc/systemd/network/10-eth0-static.network"


def bcdrfix_fix(*args: str, inventory: str = "inventories/lab.py") -> tuple[int, dict]:
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "fix", inventory, *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert proc.stdout.startswith("{"), f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def outcomes(report: dict, host: str) -> dict[str, str]:
    (entry,) = [h for h in report["hosts"] if h["name"] == host]
    return {o["control"]: o["outcome"] for o in entry["outcomes"]}


def changed(report: dict) -> dict[str, list[str]]:
    return {
        h["name"]: sorted(o["control"] for o in h["outcomes"] if o["outcome"] == "changed")
        for h in report["hosts"]
    }


def conf_value(host, key: str) -> str | None:
    """What the agent itself reads for ``key`` (its own parser, inside the host)."""
    script = (
        "from azurelinuxagent.common import conf; conf.load_conf_from_file('/etc/waagent.conf'); "
        f"print(conf.__conf__.values.get({key!r}))"
    )
    return host.check_output(f'python3 -c "{script}"')


@pytest.fixture(scope="module")
def hosts(lab):
    return {h.name: lab_host_view(lab, h) for h in lab.hosts}


def test_dry_run_reports_what_would_change_and_changes_nothing(lab, hosts):
    code, report = bcdrfix_fix("--code", "151099", "--dry")
    assert code == 1  # something would change
    assert report["dry"] is True
    debian = outcomes(report, "lab-debian-01")
    assert "linux.waagent_conf" not in debian  # not the cause of "agent not ready" (issue 10)
    assert debian["linux.agent_service"] == "would-change"
    assert debian["linux.agent_auto_restart"] == "would-change"
    assert debian["linux.agent_package"] == "already-right"
    assert not any(changed(report).values())
    # nothing changed on the hosts
    assert not hosts["lab-debian-01"].service("walinuxagent").is_running
    assert conf_value(hosts["lab-debian-01"], "Extensions.Enabled") == "n"
    assert conf_value(hosts["lab-rhel-02"], "Extensions.Enabled") == "None"


def test_a_code_changes_only_what_its_controls_cover(lab, hosts):
    # 380008 AzureVmOffline: the agent must be installed and running; waagent.conf is not its business.
    code, report = bcdrfix_fix("--code", "380008/AzureVmOffline")
    assert code == 0, report
    assert changed(report) == {
        "lab-debian-01": ["linux.agent_auto_restart", "linux.agent_service"],
        "lab-rhel-02": [],
    }
    (service,) = [
        o
        for h in report["hosts"]
        if h["name"] == "lab-debian-01"
        for o in h["outcomes"]
        if o["control"] == "linux.agent_service"
    ]
    assert service["steps"] == ["Start the agent"]  # this host's own step, not another host's
    debian = hosts["lab-debian-01"]
    assert debian.service("walinuxagent").is_running
    assert debian.check_output("systemctl show -p Restart --value walinuxagent") == "always"
    assert conf_value(debian, "Extensions.Enabled") == "n"  # left alone
    assert conf_value(hosts["lab-rhel-02"], "Extensions.Enabled") == "None"  # left alone

    # 151099 (agent not ready / out of date): update, process check and auto-restart only; it
    # does not rewrite waagent.conf either (issue 10), so nothing is left to change.
    code, report = bcdrfix_fix("--code", "151099")
    assert code == 0, report
    assert not any(changed(report).values())
    assert conf_value(debian, "Extensions.Enabled") == "n"
    assert debian.service("walinuxagent").is_running


def test_second_run_changes_nothing(lab, hosts):
    code, report = bcdrfix_fix("--code", "151099")
    assert code == 0, report
    assert not any(changed(report).values())
    for host in report["hosts"]:
        assert {o["outcome"] for o in host["outcomes"]} <= {"already-right", "not-applicable"}


def test_snapshot_status_code_fixes_the_config_and_only_reports_the_network(lab, hosts):
    before = hosts["lab-rhel-02"].file(STATIC_NETWORK).content_string
    assert "DHCP=no" in before
    code, report = bcdrfix_fix("--code", "GuestAgentSnapshotTaskStatusError")
    assert code == 1, report  # the static address is left to a person
    assert changed(report) == {
        "lab-debian-01": ["linux.waagent_conf"],
        "lab-rhel-02": ["linux.waagent_conf"],
    }
    assert outcomes(report, "lab-rhel-02")["linux.dhcp"] == "not-changed"
    assert hosts["lab-rhel-02"].file(STATIC_NETWORK).content_string == before  # issue 10
    assert conf_value(hosts["lab-debian-01"], "Extensions.Enabled") == "y"
    assert conf_value(hosts["lab-rhel-02"], "Extensions.Enabled") == "y"

    # UserErrorFsFreezeFailed: the template-only MountsToSkip is reported, not silently "fixed".
    code, report = bcdrfix_fix("--code", "UserErrorFsFreezeFailed", "--limit", "lab-debian-01")
    debian = outcomes(report, "lab-debian-01")
    assert set(debian) == {
        "linux.freeze_readiness",
        "linux.vmbackup_conf",
        "linux.vmbackup_conf_location",
    }
    assert debian["linux.vmbackup_conf_location"] == "not-changed"
    assert code == 1
    assert not hosts["lab-debian-01"].file("/etc/azure/vmbackup.conf").exists


def test_plain_pyinfra_deploy_does_the_same(lab, hosts):
    debian = hosts["lab-debian-01"]
    debian.run("systemctl stop walinuxagent")
    proc = run_pyinfra(
        "deploys/fix_error_code.py", "--data", "error_code=usererrorguestagentstatusunavailable"
    )
    assert "linux.agent_service: fix: Start the agent" in proc.stdout
    assert debian.service("walinuxagent").is_running
    code, report = bcdrfix_fix("--code", "UserErrorGuestAgentStatusUnavailable", "--dry")
    assert code == 0 and not any(changed(report).values())
    # an unknown code stops the deploy with one pyinfra error line
    proc = run_pyinfra("deploys/fix_error_code.py", "--data", "error_code=NoSuchCode", check=False)
    assert proc.returncode != 0
    assert "unknown error code or message 'NoSuchCode'" in proc.stdout


def test_unreachable_host_fails_alone(lab, hosts, tmp_path):
    hosts["lab-debian-01"].run("systemctl stop walinuxagent")
    inventory = tmp_path / "with_dead_host.py"
    inventory.write_text(
        "import runpy\n"
        f"lab = runpy.run_path({str(REPO / 'inventories/lab.py')!r})\n"
        "linux = lab['linux'] + [('dead-vm', {**lab['linux'][0][1], 'ssh_hostname': '127.0.0.1',"
        " 'ssh_port': 1, 'ssh_connect_retries': 0})]\n"
    )
    code, report = bcdrfix_fix("--code", "151099", inventory=str(inventory))
    assert code == 2  # unreachable: the same exit status as the audit's
    dead = [h for h in report["hosts"] if h["name"] == "dead-vm"][0]
    assert dead["reachable"] is False and "Could not connect" in dead["error"]
    assert changed(report)["lab-debian-01"] == ["linux.agent_service"]
    assert hosts["lab-debian-01"].service("walinuxagent").is_running
