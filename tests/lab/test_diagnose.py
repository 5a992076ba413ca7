"""``bcdrfix diagnose`` and ``bcdrfix fix --from-guest-status`` on real hosts.

The lab seeds the backup extension's status files and log in the extension's own format (lab
faults ``backup-*``) next to ordinary misconfigurations. diagnose must name each host's internal
code, the catalog code and the controls that fail now; fix --from-guest-status must change
exactly the hosts whose own last backup failed with a code bcdrfix can fix, and a second run
must change nothing. Hosts are checked independently (testinfra, the agent's own parser).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pyinfra_cli.inventory  # noqa: F401  (patches gevent on import: before any thread)
import pytest
from labtools import BIN, REPO, host_named, lab_host_view

LAB = {
    "hosts": 7,
    "faults": {
        "lab-debian-01": ["backup-no-network", "extensions-disabled"],
        "lab-rhel-02": ["backup-freeze-failed", "vmbackup-broken"],
        "lab-debian-03": ["backup-freeze-timeout", "vmbackup-broken"],
        "lab-rhel-04": ["backup-snapshot-limit"],
        "lab-debian-05": ["backup-success", "vmbackup-broken"],
        "lab-rhel-06": ["backup-stale-failure", "extensions-disabled"],
        "lab-debian-07": [],
    },
}
EXTENSIONS_ENABLED = (
    'python3 -c "from azurelinuxagent.common import conf; '
    "conf.load_conf_from_file('/etc/waagent.conf'); "
    "print(conf.__conf__.values.get('Extensions.Enabled'))\""
)


def bcdrfix(*args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), *args, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert proc.stdout.startswith("{"), f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode, json.loads(proc.stdout)


def backups(document: dict) -> dict[str, dict]:
    return {h["name"]: h.get("backup") or {} for h in document["hosts"]}


def failing(backup: dict) -> list[str]:
    return sorted(f["control"] for f in backup["failing_controls"])


def changed(report: dict) -> dict[str, list[str]]:
    return {
        h["name"]: sorted(o["control"] for o in h["outcomes"] if o["outcome"] == "changed")
        for group in report["groups"]
        for h in group["report"]["hosts"]
    }


@pytest.fixture(scope="module")
def hosts(lab):
    return {h.name: lab_host_view(lab, h) for h in lab.hosts}


def test_diagnose_is_one_command_per_host_and_changes_nothing(lab, hosts):
    from pyinfra.connectors.ssh import SSHConnector

    from bcdrfix.audit.diagnose import run_diagnose

    commands: dict[str, list[str]] = {}
    real_run = SSHConnector.run_shell_command

    def counting_run(self, command, *args, **kwargs):
        commands.setdefault(self.host.name, []).append(str(command))
        return real_run(self, command, *args, **kwargs)

    state = "md5sum /etc/waagent.conf /etc/azure/vmbackup.conf 2>/dev/null; find /var/lib/waagent -newer /etc/hostname | wc -l"
    before = {name: h.run(state).stdout for name, h in hosts.items()}
    SSHConnector.run_shell_command = counting_run
    cwd = os.getcwd()
    started = time.monotonic()
    try:
        os.chdir(REPO)
        document = run_diagnose("inventories/lab.py")
    finally:
        os.chdir(cwd)
        SSHConnector.run_shell_command = real_run
    elapsed = time.monotonic() - started
    print(f"diagnose of {len(hosts)} hosts: {elapsed:.2f} s")
    assert {name: len(sent) for name, sent in commands.items()} == {name: 1 for name in hosts}
    assert document["summary"]["diagnosed"] == len(hosts)
    assert {name: h.run(state).stdout for name, h in hosts.items()} == before


def test_diagnose_names_each_hosts_code_and_failing_controls(lab, hosts):
    code, document = bcdrfix("diagnose", "inventories/lab.py")
    assert code == 1  # some host's last backup failed
    found = backups(document)
    summary = {
        name: (
            b["guest"],
            b.get("result"),
            b.get("code_name"),
            (b.get("mapping") or {}).get("catalog_code"),
        )
        for name, b in found.items()
    }
    assert summary == {
        "lab-debian-01": (
            "reported",
            "failed",
            "FailedRetryableSnapshotFailedNoNetwork",
            "ExtensionSnapshotFailedNoNetwork",
        ),
        "lab-rhel-02": (
            "reported",
            "failed",
            "FailedRetryableFsFreezeFailed",
            "UserErrorFsFreezeFailed",
        ),
        "lab-debian-03": (
            "reported",
            "failed",
            "FailedRetryableFsFreezeTimeout",
            "UserErrorFsFreezeFailed",
        ),
        "lab-rhel-04": (
            "reported",
            "failed",
            "FailedSnapshotLimitReached",
            "ExtensionFailedSnapshotLimitReachedError",
        ),
        "lab-debian-05": ("reported", "success", "success", None),
        "lab-rhel-06": ("reported", "success", "success", None),  # the newer success wins
        "lab-debian-07": ("no-extension", None, None, None),
    }
    assert found["lab-debian-01"]["version"] == "1.0.9190.0"
    assert found["lab-debian-01"]["code"] == 76
    assert failing(found["lab-debian-01"]) == ["linux.waagent_conf"]
    assert "linux.vmbackup_conf" in failing(found["lab-rhel-02"])
    assert "linux.vmbackup_conf" in failing(found["lab-debian-03"])
    assert found["lab-debian-01"]["fix_command"] == (
        "bcdrfix fix inventories/lab.py --code ExtensionSnapshotFailedNoNetwork --limit lab-debian-01"
    )
    assert found["lab-rhel-04"]["failing_controls"] == []
    assert "only Azure" in found["lab-rhel-04"]["advice"]
    # evidence: observed vs desired of the failing control
    (conf,) = found["lab-debian-01"]["failing_controls"]
    assert conf["status"] == "fail" and conf["observed"]
    # successful hosts carry no failing controls even where a control would fail
    assert found["lab-debian-05"]["failing_controls"] == []
    assert document["summary"]["last_backup_failed"] == 4


def test_audit_reports_carry_each_hosts_last_backup_result(lab, tmp_path):
    report = tmp_path / "audit.json"
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "audit", "inventories/lab.py", "-q", "--report", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr  # the audit's own findings decide its exit status
    guest = {h["name"]: h["backup_in_guest"] for h in json.loads(report.read_text())["hosts"]}
    assert guest["lab-debian-01"]["code_name"] == "FailedRetryableSnapshotFailedNoNetwork"
    assert guest["lab-debian-01"]["mapping"]["catalog_code"] == "ExtensionSnapshotFailedNoNetwork"
    assert guest["lab-rhel-06"]["result"] == "success"
    assert guest["lab-debian-07"]["guest"] == "no-extension"


def test_fix_from_guest_status_fixes_exactly_those_hosts(lab, hosts):
    code, dry = bcdrfix("fix", "inventories/lab.py", "--from-guest-status", "--dry")
    assert code == 1
    assert not any(changed(dry).values())
    assert hosts["lab-debian-01"].check_output(EXTENSIONS_ENABLED) == "n"

    code, report = bcdrfix("fix", "inventories/lab.py", "--from-guest-status")
    groups = {g["code"]: g["hosts"] for g in report["groups"]}
    assert groups == {
        "ExtensionSnapshotFailedNoNetwork": ["lab-debian-01"],
        "UserErrorFsFreezeFailed": ["lab-debian-03", "lab-rhel-02"],
    }
    fixed = changed(report)
    assert fixed["lab-debian-01"] == ["linux.waagent_conf"]
    assert "linux.vmbackup_conf" in fixed["lab-rhel-02"]
    assert "linux.vmbackup_conf" in fixed["lab-debian-03"]
    assert {r["host"] for r in report["attention"]} == {"lab-rhel-04"}  # only Azure can fix it
    assert {r["host"] for r in report["left_alone"]} == {
        "lab-debian-05",
        "lab-rhel-06",
        "lab-debian-07",
    }
    assert code == 1  # the snapshot limit waits for a person
    # independently: the fixed hosts are fixed, the others untouched
    assert hosts["lab-debian-01"].check_output(EXTENSIONS_ENABLED) == "y"
    assert hosts["lab-rhel-06"].check_output(EXTENSIONS_ENABLED) == "n"  # succeeded: left alone
    assert (
        "[SnapshotThread]" in hosts["lab-rhel-02"].file("/etc/azure/vmbackup.conf").content_string
    )
    assert (
        "skip /data too" in hosts["lab-debian-05"].file("/etc/azure/vmbackup.conf").content_string
    )


def test_second_run_changes_nothing_and_diagnose_shows_nothing_left_to_fix(lab, hosts):
    code, report = bcdrfix("fix", "inventories/lab.py", "--from-guest-status")
    assert not any(changed(report).values())
    assert code == 1  # the snapshot limit still waits for a person
    code, document = bcdrfix("diagnose", "inventories/lab.py")
    found = backups(document)
    for name in ("lab-debian-01", "lab-rhel-02", "lab-debian-03"):
        assert found[name]["result"] == "failed"  # history does not change...
        assert found[name]["failing_controls"] == [], name  # ...but nothing fails now
        assert found[name]["fix_command"] is None
        assert "retry the backup" in found[name]["advice"]


def test_hostile_status_is_unreadable_and_breaks_nothing(lab, hosts, tmp_path):
    host = hosts["lab-debian-07"]
    folder = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9190.0/status"
    host.run(
        f"mkdir -p {folder} && head -c 3000000 /dev/urandom > {folder}/1.status && "
        f"printf '<b>x</b>\\377' >> {folder}/1.status"
    )
    report = tmp_path / "diagnosis.html"
    code, document = bcdrfix("diagnose", "inventories/lab.py", "--report", str(report))
    assert code == 2
    found = backups(document)
    assert found["lab-debian-07"]["guest"] == "unreadable"
    assert found["lab-debian-01"]["result"] == "failed"  # the others are still diagnosed
    html = report.read_text()
    assert "unreadable status" in html and "<b>x</b>" not in html
    host.run(f"rm -rf {folder.rsplit('/', 1)[0]}")
    assert host_named(lab, "lab-debian-07")
