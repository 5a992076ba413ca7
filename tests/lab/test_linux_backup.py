"""deploys/linux_backup.py on real lab hosts with seeded faults, checked independently.

Connectivity goes only to the lab bridge (198.18.<lab id>.1), where this module starts small TCP
listeners of its own (bounded in time, stopped at the end); inventories/lab.py points every
endpoint setting there. What the extension would read is checked with Python's configparser run
inside the host (the parser the extension itself uses), not with bcdrfix's code.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest
from labtools import BIN, REPO, host_named, lab_host_view, observation_output, run_pyinfra

from bcdrfix.lab.endpoints import IMDS_PORT, STORAGE_PORTS, WIRESERVER_PORTS

LAB = {
    "hosts": 3,
    "faults": {
        "lab-debian-01": ["vmbackup-broken", "static-address"],
        "lab-rhel-02": ["vmbackup-missing-keys"],
        "lab-debian-03": ["vmbackup-template-only"],
    },
    "standins": False,  # this module starts and stops its own endpoint listeners
}
DESIRED = {"MountsToSkip": ["/mnt/resource"], "SafeFreezeWaitInSeconds": 600}
DATA = ["--data", "bcdrfix_vmbackup_conf=" + json.dumps(DESIRED)]
CLOSED_PORT = STORAGE_PORTS[1]  # never opened: the "port that is closed"
PROXY_PORT = 18444
SECRET = "s3cret-proxy-pw"
# Like HandlerUtil.get_value_from_configfile: a file the parser rejects yields no value at all.
EXTENSION_VIEW = """python3 -c '
import configparser, json
c = configparser.ConfigParser()
try:
    c.read("/etc/azure/vmbackup.conf")
    print(json.dumps(dict(c.items("SnapshotThread")) if c.has_section("SnapshotThread") else {}))
except configparser.Error:
    print("{}")
'"""


class Listeners:
    """TCP listeners on the lab bridge that accept and close; each stops after ``lifetime`` s."""

    def __init__(self, address: str, lifetime: float = 900):
        self.address, self.deadline, self.sockets = address, time.monotonic() + lifetime, {}

    def start(self, port: int) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, port))
        sock.listen(16)
        sock.settimeout(0.5)
        self.sockets[port] = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        while time.monotonic() < self.deadline:
            try:
                conn, _ = sock.accept()
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return  # stopped

    def stop(self, port: int) -> None:
        # close() alone leaves the port listening while the serving thread sits in accept() (it
        # holds the socket for up to its 0.5 s timeout): shut it down first, so it refuses now.
        sock = self.sockets.pop(port)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def stop_all(self) -> None:
        for port in list(self.sockets):
            self.stop(port)


@pytest.fixture(scope="module")
def listeners(lab):
    running = Listeners(f"{lab.subnet}.1")
    for port in (*WIRESERVER_PORTS, IMDS_PORT, STORAGE_PORTS[0]):
        running.start(port)
    try:
        yield running
    finally:
        running.stop_all()


def extension_view(lab, name: str) -> dict:
    return json.loads(lab_host_view(lab, host_named(lab, name)).check_output(EXTENSION_VIEW))


def findings(output: str) -> dict[tuple[str, str], str]:
    """``(host, control) -> message`` from what a verbose run says per host and control."""
    found = {}
    line = (
        r"\[([\w-]+)\]\s+(?:noop: )?(linux\.\w+): (?!fix: )"
        r"(?:(?:pass|not-applicable|report only|needs approval): )?(.*)"
    )
    for host, control, message in re.findall(line, output):
        found[(host, control)] = message
    return found


def changed_hosts(output: str) -> set[str]:
    return set(re.findall(r"\[([\w-]+)\]\s+Success", output))


@pytest.fixture(scope="module")
def runs(lab, listeners):
    before = {h.name: extension_view(lab, h.name) for h in lab.hosts}
    first = run_pyinfra("deploys/linux_backup.py", "-v", *DATA)
    second = run_pyinfra("deploys/linux_backup.py", "-v", *DATA)
    return {"before": before, "first": first.stdout, "second": second.stdout}


def test_seeded_vmbackup_faults_are_found_and_fixed(runs):
    # Before: the broken file gives the extension nothing, the other host lacks the keys.
    assert runs["before"] == {
        "lab-debian-01": {},
        "lab-rhel-02": {"seqsnapshot": "0"},
        "lab-debian-03": {},
    }
    write = runs["first"].split("Starting operation: bcdrfix.linux_backup | linux.vmbackup_conf: ")[
        1
    ]
    write = write.split("--> Starting operation")[0]
    assert set(re.findall(r"\[([\w-]+)\]\s+Success", write)) == {
        "lab-debian-01",
        "lab-rhel-02",
        "lab-debian-03",
    }


def test_the_extension_reads_the_desired_values_after_the_run(lab, runs):
    for lab_host in lab.hosts:
        view = extension_view(lab, lab_host.name)
        assert view["mountstoskip"] == "/mnt/resource", lab_host.name
        assert view["safefreezewaitinseconds"] == "600", lab_host.name
    assert extension_view(lab, "lab-rhel-02")["seqsnapshot"] == "0"  # other keys kept


def test_mode_comments_and_backups_are_kept(lab, runs):
    rhel = lab_host_view(lab, host_named(lab, "lab-rhel-02"))
    assert rhel.check_output("stat -c '%U %G %a' /etc/azure/vmbackup.conf") == "root root 600"
    assert rhel.file("/etc/azure/vmbackup.conf").content_string.startswith(
        "# Azure Backup settings (see the runbook)\n"
    )
    backups = rhel.run("ls /var/backups/bcdrfix/etc/azure/vmbackup.conf.*").stdout.split()
    assert rhel.run("ls /etc/azure/").stdout.split() == ["vmbackup.conf"]  # none beside it
    assert len(backups) == 1
    assert "MountsToSkip" not in rhel.file(backups[0]).content_string  # the file as it was
    debian = lab_host_view(lab, host_named(lab, "lab-debian-01"))
    text = debian.file("/etc/azure/vmbackup.conf").content_string
    assert (
        "# bcdrfix (not a key = value line, the extension could not read the file): skip /data too"
        in text
    )


def test_settings_left_in_the_template_path_are_reported(runs):
    first = runs["first"]
    assert re.search(
        r"\[lab-debian-03\]\s+linux\.vmbackup_conf_location: report only: MountsToSkip=/mnt/resource, "
        r"SafeFreezeWaitInSeconds=600 set only in the extension's template",
        first,
    )
    # Once group data puts them in /etc/azure/vmbackup.conf, the report clears.
    assert (
        "template(s) hold no setting missing"
        in findings(runs["second"])[("lab-debian-03", "linux.vmbackup_conf_location")]
    )


STATIC_NETWORK = "/etc/systemd/network/10-eth0-static.network"
NETWORK_FILES = (
    "find /etc/systemd/network /etc/network /etc/netplan /etc/sysconfig/network-scripts "
    "-type f 2>/dev/null | sort | xargs -r sha256sum"
)


def test_static_address_is_reported_and_network_config_left_alone(lab, runs):
    """Issue 10: linux.dhcp rewrote network configuration nobody asked to touch."""
    host = lab_host_view(lab, host_named(lab, "lab-debian-01"))
    text = host.file(STATIC_NETWORK).content_string
    assert "DHCP=no" in text and "DHCP=yes" not in text
    assert "198.18." in host.check_output("ip -o -4 addr show dev eth0")
    assert host.run("ls -A /var/backups/bcdrfix/etc/systemd 2>/dev/null").stdout.strip() == ""
    out = findings(runs["second"])
    # A report-only fix says so on the host's line, under the control's name.
    match = re.search(
        r"\[lab-debian-01\]\s+linux\.dhcp: report only: (eth0 uses a static address .*)",
        runs["second"],
    )
    assert match and "(systemd-networkd" in match.group(1), runs["second"]
    assert "bcdrfix reports only" in match.group(1)
    assert (
        "no netplan, NetworkManager" in out[("lab-rhel-02", "linux.dhcp")]
    )  # lab address set outside


def bcdrfix(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "bcdrfix"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )


def network_files(lab, name: str) -> list[str]:
    """The networkd files the observation reads on a lab host (its network_config probe)."""
    out = observation_output(lab, host_named(lab, name), ["network_config"])
    return re.findall(r"^@@ file networkd (\S+)$", out, re.M)


def test_networkd_files_are_read_once_and_only_where_networkd_runs(lab):
    """Issue 14: the observation read systemd-networkd's files on hosts where networkd neither
    runs nor starts at boot (netconf ignores them there), and each file twice on a merged-/usr
    host (/lib/systemd/network is /usr/lib/systemd/network)."""
    files = network_files(lab, "lab-debian-01")  # networkd enabled: a static address
    assert STATIC_NETWORK in files
    assert len(files) == len(set(os.path.basename(f) for f in files)), files
    assert not any(f.startswith("/lib/") for f in files), files
    host = lab_host_view(lab, host_named(lab, "lab-rhel-02"))
    assert host.run("systemctl is-enabled systemd-networkd").stdout.strip() != "enabled"
    assert network_files(lab, "lab-rhel-02") == []


def test_fix_by_code_leaves_a_dhcp_less_hosts_network_untouched(lab, runs):
    """Issue 10's lab proof: fix --code BackUpOperationFailed on a host with a static address."""
    host = lab_host_view(lab, host_named(lab, "lab-debian-01"))
    before = host.check_output(NETWORK_FILES)
    proc = bcdrfix(
        "fix",
        "inventories/lab.py",
        "--code",
        "BackUpOperationFailed",
        "--limit",
        "lab-debian-01",
        "--json",
    )
    report = json.loads(proc.stdout)
    (entry,) = report["hosts"]
    outcome = {o["control"]: o for o in entry["outcomes"]}
    assert outcome["linux.dhcp"]["outcome"] != "changed", outcome["linux.dhcp"]
    assert host.check_output(NETWORK_FILES) == before
    assert "DHCP=no" in host.file(STATIC_NETWORK).content_string


def test_second_run_changes_nothing(runs):
    assert changed_hosts(runs["second"]) == set()


def test_closed_port_is_found_and_open_ports_pass(lab, runs):
    bridge = f"{lab.subnet}.1"
    message = findings(runs["second"])[("lab-rhel-02", "linux.connectivity")]
    assert f"storage {bridge}:{CLOSED_PORT}: refused" in message
    for port in (*WIRESERVER_PORTS, IMDS_PORT, STORAGE_PORTS[0]):
        assert f":{port}:" not in message.split(". Open these")[0], port


def test_listener_down_and_silent_address_are_found(lab, runs, listeners):
    bridge = f"{lab.subnet}.1"
    listeners.stop(IMDS_PORT)
    try:
        out = run_pyinfra(
            "deploys/linux_backup.py",
            "-v",
            *DATA,
            "--data",
            f"bcdrfix_storage_endpoints={lab.subnet}.254",
        ).stdout
    finally:
        listeners.start(IMDS_PORT)
    message = findings(out)[("lab-debian-03", "linux.connectivity")]
    assert f"IMDS {bridge}:{IMDS_PORT}: refused" in message
    assert re.search(
        rf"storage {re.escape(lab.subnet)}\.254:{STORAGE_PORTS[0]}: (no answer in 2s|no route to host)",
        message,
    )


def test_storage_goes_through_the_agents_proxy(lab, runs, listeners, tmp_path):
    bridge = f"{lab.subnet}.1"
    lab_host = host_named(lab, "lab-rhel-02")
    host = lab_host_view(lab, lab_host)
    dropin = f"/etc/systemd/system/{lab_host.unit}.d/50-test-proxy.conf"
    host.check_output(
        f"mkdir -p /etc/systemd/system/{lab_host.unit}.d && printf '[Service]\\n"
        f"Environment=https_proxy=http://user:{SECRET}@{bridge}:{PROXY_PORT}\\n' > {dropin} && "
        f"systemctl daemon-reload && systemctl restart {lab_host.unit}"
    )
    listeners.start(PROXY_PORT)
    try:
        # The storage name does not resolve in the lab: only the proxy path can succeed.
        out = run_pyinfra(
            "deploys/linux_backup.py",
            "-v",
            *DATA,
            "--limit",
            "lab-rhel-02",
            "--data",
            "bcdrfix_storage_endpoints=blob.lab.invalid",
            "--data",
            f"bcdrfix_storage_ports={STORAGE_PORTS[0]}",
        ).stdout
        # Issue 10's lab proof: no report shows the proxy password.
        reports = [str(tmp_path / f"audit.{ext}") for ext in ("json", "xml", "html")]
        audit = bcdrfix(
            "audit",
            "inventories/lab.py",
            "--limit",
            "lab-rhel-02",
            *[arg for path in reports for arg in ("--report", path)],
        )
        fixed = bcdrfix(
            "fix",
            "inventories/lab.py",
            "--code",
            "ExtensionSnapshotFailedNoNetwork",
            "--limit",
            "lab-rhel-02",
            "--dry",
            "--json",
        )
    finally:
        listeners.stop(PROXY_PORT)
        host.check_output(
            f"rm -f {dropin} && systemctl daemon-reload && systemctl restart {lab_host.unit}"
        )
    message = findings(out)[("lab-rhel-02", "linux.connectivity")]
    assert (
        f"storage via proxy {bridge}:{PROXY_PORT} (https_proxy=http://***@{bridge}:{PROXY_PORT} in the agent's environment)"
        in message
    )
    assert SECRET not in out
    for path in reports:
        text = open(path).read()
        assert "linux.connectivity" in text and SECRET not in text, path
    for proc in (audit, fixed):
        assert SECRET not in proc.stdout + proc.stderr


def test_selinux_is_not_applicable_and_freeze_readiness_reports_the_real_mounts(runs):
    out = findings(runs["second"])
    assert out[("lab-debian-01", "linux.selinux_waagent")] == "SELinux is not enabled on this host"
    freeze = out[("lab-debian-01", "linux.freeze_readiness")]
    assert freeze.startswith("the extension would freeze")
