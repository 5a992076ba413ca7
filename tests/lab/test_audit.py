"""`bcdrfix audit` on real lab hosts: exactly the seeded faults, nothing changed, one round trip.

Six hosts of both flavors, four with seeded faults, one with only its flavor's own
(Debian's unit has no Restart=: ``restart-missing``) and one clean. The expected findings come
from the lab's own record of what it broke (lab.json ``known_faults``), mapped to the control
each fault must trigger. Host state is compared before and after through plain SSH commands,
not through bcdrfix.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml
from labtools import REPO, run_pyinfra

from bcdrfix.lab import lab as labmod

sys.path.insert(0, str(REPO / "tests" / "audit"))
import browser  # noqa: E402

LAB = {
    "hosts": 6,
    "faults": {
        "lab-debian-01": ["agent-stopped", "extensions-disabled"],
        "lab-rhel-02": ["agent-killed", "restart-no", "article-key"],
        "lab-debian-03": ["unit-disabled", "duplicate-keys", "verbose-off"],
        "lab-rhel-04": ["keys-missing", "messy-syntax"],
        # lab-debian-05: only restart-missing (Debian's unit); lab-rhel-06: clean
    },
}

# Which control each lab fault must make fail.
FAULT_CONTROL = {
    "agent-stopped": "linux.agent_service",
    "agent-killed": "linux.agent_service",  # seeded with restart-no here, so it stays down
    "unit-disabled": "linux.agent_service",
    "restart-no": "linux.agent_auto_restart",
    "restart-missing": "linux.agent_auto_restart",
    "extensions-disabled": "linux.waagent_conf",
    "article-key": "linux.waagent_conf",
    "duplicate-keys": "linux.waagent_conf",
    "keys-missing": "linux.waagent_conf",
    "messy-syntax": "linux.waagent_conf",
    "verbose-off": "linux.waagent_conf",
}
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")


def expected_failures(state: labmod.LabState) -> set[tuple[str, str]]:
    recorded = json.loads((labmod.LAB_DIR / "lab.json").read_text())
    return {
        (h["name"], FAULT_CONTROL[fault]) for h in recorded["hosts"] for fault in h["known_faults"]
    }


def host_state(state: labmod.LabState) -> dict[str, str]:
    """Every file under /etc with its checksum, mode and owner, plus the agent unit's state."""
    snapshot = {}
    for host in state.hosts:
        command = (
            "find /etc -xdev -type f -exec sha256sum {} + | sort; "
            "find /etc -xdev -printf '%p %m %u %g %y\\n' | sort; "
            f"systemctl show -p ActiveState -p SubState -p UnitFileState -p Restart {host.unit}"
        )
        snapshot[host.name] = labmod.ssh(state, host, command).stdout
    return snapshot


def audit_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BCDRFIX, "audit", "inventories/lab.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )


def failures(document: dict) -> set[tuple[str, str]]:
    return {
        (r["host"], r["control"])
        for r in document["results"]
        if r["status"] not in ("pass", "not-applicable")
    }


@pytest.fixture(scope="module")
def audited(lab):
    """One in-process audit, counting the commands pyinfra sends to each host over SSH."""
    from pyinfra.connectors.ssh import SSHConnector

    from bcdrfix.audit.engine import run_audit

    commands: dict[str, list[str]] = {}
    connects: dict[str, int] = {}
    sockets: dict[str, tuple[bool, str]] = {}
    real_run, real_connect = SSHConnector.run_shell_command, SSHConnector.connect

    def counting_run(self, command, *args, **kwargs):
        commands.setdefault(self.host.name, []).append(str(command))
        transport = self.client.get_transport()
        nodelay = transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        sockets[self.host.name] = (nodelay != 0, type(transport.packetizer).__name__)
        return real_run(self, command, *args, **kwargs)

    def counting_connect(self, *args, **kwargs):
        connects[self.host.name] = connects.get(self.host.name, 0) + 1
        return real_connect(self, *args, **kwargs)

    before = host_state(lab)
    SSHConnector.run_shell_command, SSHConnector.connect = counting_run, counting_connect
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        document = run_audit("inventories/lab.py")
    finally:
        os.chdir(cwd)
        SSHConnector.run_shell_command, SSHConnector.connect = real_run, real_connect
    return {
        "document": document,
        "commands": commands,
        "connects": connects,
        "sockets": sockets,
        "before": before,
        "after": host_state(lab),
    }


def test_finds_exactly_the_seeded_faults(lab, audited):
    document = audited["document"]
    assert {h["name"] for h in document["hosts"]} == {h.name for h in lab.hosts}
    assert all(h["state"] == "audited" for h in document["hosts"])
    expected = expected_failures(lab)
    assert failures(document) == expected
    assert {r["status"] for r in document["results"] if (r["host"], r["control"]) in expected} == {
        "fail"
    }
    clean = {"lab-rhel-06"}
    assert not {host for host, _ in failures(document)} & clean
    assert document["summary"]["exit_status"] == 1 and document["summary"]["compliant"] == 1


def test_evidence_and_codes_explain_each_finding(audited):
    results = {(r["host"], r["control"]): r for r in audited["document"]["results"]}
    stopped = results[("lab-debian-01", "linux.agent_service")]
    assert (
        stopped["observed"]["ActiveState"] == "inactive"
        and stopped["desired"]["ActiveState"] == "active"
    )
    assert "UserErrorGuestAgentStatusUnavailable" in stopped["codes"]
    assert (
        stopped["fix"]
        == "pyinfra inventories/lab.py bcdrfix.deploys.linux_agent --limit lab-debian-01 -y"
    )
    conf = results[("lab-debian-01", "linux.waagent_conf")]
    assert (
        conf["observed"]["Extensions.Enabled"] == "n"
        and conf["desired"]["Extensions.Enabled"] == "y"
    )


def test_one_round_trip_per_host(lab, audited):
    assert audited["connects"] == {h.name: 1 for h in lab.hosts}
    assert {name: len(sent) for name, sent in audited["commands"].items()} == {
        h.name: 1 for h in lab.hosts
    }


def test_the_audit_connects_without_nagle_and_acknowledges_at_once(lab, audited):
    """paramiko's sockets waited about 40 ms twice per host (Nagle, then delayed ACKs: see
    core/connection.py); the audit's connections have Nagle off and read through the packetizer
    that asks for quick ACKs, over the real sshd of every host."""
    assert audited["sockets"] == {h.name: (True, "PromptPacketizer") for h in lab.hosts}


def test_the_audit_changes_nothing_on_the_hosts(audited):
    assert audited["after"] == audited["before"]


@pytest.fixture(scope="module")
def cli_reports(lab, audited, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    paths = {ext: folder / f"audit.{ext}" for ext in ("json", "xml", "html")}
    proc = audit_cli(*[arg for path in paths.values() for arg in ("--report", str(path))])
    return proc, paths, folder


def test_cli_exit_status_progress_and_summary(lab, cli_reports):
    proc, paths, _ = cli_reports
    assert proc.returncode == 1, proc.stderr
    for host in lab.hosts:
        assert host.name in proc.stderr  # progress, one line per host
        assert host.name in proc.stdout  # the hosts x controls table
    assert "6 hosts: 1 pass, 5 with" in proc.stdout and "(exit 1)" in proc.stdout


def test_cli_json_report_matches_the_schema(lab, cli_reports, audited):
    from bcdrfix.reports.json_report import schema

    document = json.loads(cli_reports[1]["json"].read_text())
    jsonschema.validate(document, schema())
    assert failures(document) == expected_failures(lab)


def test_cli_junit_report_fails_exactly_the_findings(lab, cli_reports):
    xml = JUnitXml.fromfile(str(cli_reports[1]["xml"]))
    failed = {
        (suite.name, case.name)
        for suite in xml
        for case in suite
        if any(isinstance(r, Failure) for r in case.result)
    }
    assert failed == expected_failures(lab)
    cases = sum(1 for suite in xml for _ in suite)
    from bcdrfix.controls import REGISTRY

    audited_controls = [c for c in REGISTRY.all("linux") if not c.on_demand]
    assert cases == len(lab.hosts) * len(audited_controls)


@pytest.mark.skipif(
    not browser.available(), reason="chromium is not installed (`make setup` installs it)"
)
def test_cli_html_report_renders(lab, cli_reports):
    _, paths, folder = cli_reports
    dom = browser.dump_dom(paths["html"])
    assert "0 / 6" not in dom and "1 / 6" in dom
    for host in lab.hosts:
        assert host.name in dom
    assert "pyinfra inventories/lab.py bcdrfix.deploys.linux_agent --limit lab-debian-01 -y" in dom
    stats = browser.colour_stats(browser.screenshot(paths["html"], folder / "audit.png"))
    assert stats["ink"] > 0.03 and stats["red"] > 0 and stats["green"] > 0


def test_shards_merge_into_the_whole_fleet(lab, cli_reports):
    _, paths, folder = cli_reports
    shard_files = []
    for k in (1, 2):
        path = folder / f"shard{k}.json"
        proc = audit_cli("--shard", f"{k}/2", "--report", str(path), "-q")
        assert proc.returncode == 1, proc.stderr
        shard_files.append(path)
    shards = [json.loads(p.read_text()) for p in shard_files]
    names = [{h["name"] for h in doc["hosts"]} for doc in shards]
    assert not names[0] & names[1] and names[0] | names[1] == {h.name for h in lab.hosts}
    merged = folder / "merged.json"
    proc = subprocess.run(
        [BCDRFIX, "report", "merge", *map(str, shard_files), "--report", str(merged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    whole = json.loads(paths["json"].read_text())
    merged_doc = json.loads(merged.read_text())
    strip = lambda doc: sorted(
        (r["host"], r["control"], r["status"], r["summary"]) for r in doc["results"]
    )  # noqa: E731
    assert strip(merged_doc) == strip(whole)
    assert merged_doc["summary"] == whole["summary"]


def test_an_unreachable_host_fails_alone(lab, tmp_path):
    inventory = tmp_path / "lab_plus_ghost.py"
    ssh = {
        "ssh_user": "root",
        "ssh_key": lab.key,
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        "ssh_connect_timeout": 3,
    }
    hosts = [(h.name, {"ssh_hostname": h.address, **ssh}) for h in lab.hosts[:2]]
    hosts.append(("lab-ghost", {"ssh_hostname": f"{lab.subnet}.250", **ssh}))  # nothing there
    inventory.write_text(f"linux = {hosts!r}\n")
    report = tmp_path / "ghost.json"
    proc = subprocess.run(
        [BCDRFIX, "audit", str(inventory), "--report", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    hosts = {h["name"]: h for h in json.loads(report.read_text())["hosts"]}
    assert hosts["lab-ghost"]["state"] == "unreachable"
    assert all(hosts[h.name]["state"] == "audited" for h in lab.hosts[:2])


def test_after_the_fix_the_audit_finds_nothing(lab, cli_reports):
    run_pyinfra("deploys/linux_agent.py")
    _, paths, folder = cli_reports
    after = folder / "after.json"
    proc = audit_cli("--report", str(after))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(after.read_text())
    assert failures(document) == set()
    assert document["summary"]["compliant"] == 6
    # before + after merged: the later run wins for every host
    merged = folder / "before-after.html"
    proc = subprocess.run(
        [BCDRFIX, "report", "merge", str(paths["json"]), str(after), "--report", str(merged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
