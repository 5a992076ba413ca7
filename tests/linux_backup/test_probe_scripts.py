"""The probe scripts run for real under sh; connectivity goes to loopback listeners only."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
from importlib import resources

import pytest

from bcdrfix.controls import REGISTRY, load_settings
from bcdrfix.core.observe import (
    PROBES,
    Probe,
    build_script,
    linux_probe_variables,
    parse_output,
)
from bcdrfix.linux import script
from bcdrfix.linux.connectivity import connectivity_targets

OUR_PROBES = (
    "vmbackup_conf",
    "vmbackup_templates",
    "freeze_mounts",
    "selinux",
    "connectivity",
    "network_config",
)


def loopback_settings(open_port: int, closed_port: int, **extra):
    # Every endpoint on 127.0.0.1: tests never send traffic to Azure's addresses.
    return load_settings(
        {
            "bcdrfix_wireserver_address": "127.0.0.1",
            "bcdrfix_wireserver_ports": [open_port, closed_port],
            "bcdrfix_imds_address": "127.0.0.1",
            "bcdrfix_imds_port": open_port,
            "bcdrfix_storage_endpoints": [],
            "bcdrfix_connect_timeout": 2,
            **extra,
        }
    )


@pytest.fixture
def ports():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the port is closed
    try:
        yield listener.getsockname()[1], closed.getsockname()[1]
    finally:
        listener.close()
        closed.close()


def test_scripts_are_valid_posix_sh(ports):
    script = build_script(OUR_PROBES, None, linux_probe_variables(loopback_settings(*ports)))
    assert subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0


def test_endpoints_only_from_settings(ports):
    settings = loopback_settings(*ports)
    assert {host for _, host, _ in connectivity_targets(settings)} == {"127.0.0.1"}
    variables = dict(linux_probe_variables(settings))
    assert (
        "168.63.129.16" not in variables["BCDR_ENDPOINTS"]
        and "169.254" not in variables["BCDR_ENDPOINTS"]
    )


def test_connectivity_probe_against_loopback_listener(ports):
    open_port, closed_port = ports
    settings = loopback_settings(open_port, closed_port)
    script = build_script(["connectivity", "waagent_conf"], None, linux_probe_variables(settings))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    observation = parse_output(out.stdout.splitlines())
    finding = REGISTRY.get("linux.connectivity").evaluate(observation, settings)
    assert finding.observed["endpoints"] == [
        f"wireserver 127.0.0.1:{open_port}: open",
        f"wireserver 127.0.0.1:{closed_port}: refused (nothing listens, or a firewall rejects it)",
        f"IMDS 127.0.0.1:{open_port}: open",
    ]


SCRIPTS = sorted(resources.files("bcdrfix.linux").glob("*.sh"))


def test_probe_scripts_ship_as_package_data():
    names = {path.name for path in SCRIPTS}
    assert {f"{name}.sh" for name in OUR_PROBES if name != "vmbackup_conf"} <= names
    assert resources.files("bcdrfix.linux").joinpath("freeze_mounts.sh").read_text() == script(
        "freeze_mounts.sh"
    )


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_probe_scripts_pass_shellcheck():
    proc = subprocess.run(
        ["shellcheck", "--shell=sh", "--format=gcc", *map(str, SCRIPTS)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


LINUX_PROBE_SCRIPTS = [name for name in OUR_PROBES if name != "vmbackup_conf"]


@pytest.mark.parametrize("name", LINUX_PROBE_SCRIPTS)
def test_probes_write_nothing_on_the_host(name):
    """Issue 10: the audit wrote the proxy (with its password) to /tmp/.bcdrfix-proxy.<pid>."""
    text = script(f"{name}.sh")
    assert "/tmp" not in text and "mktemp" not in text
    for target in re.findall(r"(?<![0-9&<])>{1,2}\s*([^\s;|&)]+)", text):
        assert target in ("/dev/null",) or target.startswith("&"), (name, target)


def fake_systemctl(folder, echoes: str) -> None:
    """A `systemctl` in ``folder`` whose `show -p ... -- UNIT...` prints one block per unit,
    blank-line separated like systemd: MainPID=0, the shell ``echoes``, Id and LoadState=loaded."""
    fake = folder / "systemctl"
    fake.write_text(
        "#!/bin/sh\nfirst=1\n"
        'for a; do case "$a" in *.service) ;; *) continue ;; esac\n'
        '  [ "$first" = 1 ] || echo; first=0\n'
        f"  echo MainPID=0; {echoes}\n"
        '  echo "Id=$a"; echo LoadState=loaded\n'
        "done\n"
    )
    fake.chmod(0o755)


def test_connectivity_probe_masks_proxy_credentials(tmp_path, ports):
    fake_systemctl(
        tmp_path, "echo 'Environment=https_proxy=http://user:s3cret@127.0.0.1:9 no_proxy=x'"
    )
    settings = loopback_settings(*ports)
    variables = linux_probe_variables(settings)
    body = build_script(["connectivity", "waagent_conf"], "waagent", variables)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30, env=env)
    assert "s3cret" not in out.stdout and "user:" not in out.stdout
    observation = parse_output(out.stdout.splitlines())
    assert "127.0.0.1:9" in observation["connectivity"]["results"]
    finding = REGISTRY.get("linux.connectivity").evaluate(observation, settings)
    assert "s3cret" not in repr(finding)


def test_network_config_one_ip_and_the_shared_tar_parse_like_separate_calls(tmp_path, monkeypatch):
    """Issue 14: one `ip -batch`, and the configuration files through bcdr_file (the
    observation's one tar), report what separate calls did: the text and what stat says."""
    netplan = tmp_path / "50-cloud-init.yaml"
    netplan.write_text("network:\n  ethernets:\n    eth0:\n      dhcp4: true\n")
    netplan.chmod(0o640)
    ip = [
        "default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100 ",
        "2: eth0    inet 10.0.0.4/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever",
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT",
    ]
    fake = "".join(f"echo {shlex.quote(line)}\n" for line in ["@@ ip", *ip])
    fake += f'echo "@@ file netplan {netplan}"; bcdr_file "{netplan}"\n'
    parse = PROBES["network_config"].parse
    monkeypatch.setitem(PROBES, "network_config", Probe("network_config", fake, parse))
    out = subprocess.run(
        ["sh", "-c", build_script(["network_config"])], capture_output=True, text=True, check=True
    )
    facts = parse_output(out.stdout.splitlines())["network_config"]
    assert (facts["route"], facts["addr"], facts["link"]) == ([ip[0]], [ip[1]], [ip[2]])
    content = facts["netplan"][str(netplan)]
    assert content["text"] == netplan.read_text()
    stat = subprocess.run(
        ["stat", "-c", "%a %U %G %s", str(netplan)], capture_output=True, text=True
    )
    assert [content[k] for k in ("mode", "owner", "group")] + [str(content["size"])] == (
        stat.stdout.split()
    )  # what stat said, from tar's headers


def test_freeze_mounts_one_lsblk_one_awk_one_stat(tmp_path):
    """Issue 14: the freezable mounts come from one lsblk and one awk, statfs from one stat."""
    (tmp_path / "lsblk").write_text(
        "#!/bin/sh\n"
        'echo \'NAME="a" KNAME="a" TYPE="part" FSTYPE="ext4" MOUNTPOINT="/proc"\'\n'
        'echo \'NAME="b" KNAME="b" TYPE="part" FSTYPE="xfs" MOUNTPOINT="/no/such/mnt"\'\n'
        'echo \'NAME="c" KNAME="c" TYPE="part" FSTYPE="vfat" MOUNTPOINT="/boot/efi"\'\n'
        'echo \'NAME="d" KNAME="d" TYPE="disk" FSTYPE="" MOUNTPOINT=""\'\n'
    )
    (tmp_path / "dumpe2fs").write_text(
        "#!/bin/sh\necho 'Filesystem state:         clean'\necho 'Other: x'\n"
    )
    for name in ("lsblk", "dumpe2fs"):
        (tmp_path / name).chmod(0o755)
    body = build_script(["freeze_mounts"])
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30, env=env)
    facts = parse_output(out.stdout.splitlines())["freeze_mounts"]
    assert facts["state"] == {
        "a": {"responds": "yes", "Filesystem state": "clean"},
        "b": {"responds": "no"},
    }
    assert [d["kname"] for d in facts["devices"]] == ["a", "b", "c", "d"]
    # the mount table comes from the same awk, whole (no `read` loop in the shell)
    with open("/proc/self/mounts") as table:
        points = {line.split()[1] for line in table}
    assert "/proc" in facts["mounts"] and len(facts["mounts"]) >= len(points) - 2


def test_files_travel_as_one_base64_line(tmp_path):
    """Issue 14: a file's content is one output line (the controller pays per line), and every
    byte survives the trip, non-UTF-8 ones included."""
    conf = tmp_path / "vmbackup.conf"
    data = (
        b"[SnapshotThread]\n" + b"".join(b"key%d = %d\n" % (i, i) for i in range(400)) + b"\xff\n"
    )
    conf.write_bytes(data)
    variables = [("BCDR_VMBACKUP_CONF", str(conf)), ("BCDR_MAX_FILE_BYTES", "1048576")]
    body = build_script(["vmbackup_conf"], None, variables)
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30)
    lines = out.stdout.splitlines()
    start = lines.index("@@bcdrfix-probe vmbackup_conf")
    end = lines.index("@@bcdrfix-probe-end vmbackup_conf")
    assert lines[start + 1 : end] == [f"@@bcdrfix-file {conf}"]  # read by the one tar, then:
    start = lines.index("@@bcdrfix-probe @files")
    end = lines.index("@@bcdrfix-probe-end @files")
    assert end - start - 1 == 2  # the limit, and the whole tar on one line
    parsed = parse_output(lines)["vmbackup_conf"]
    assert parsed["text"].encode("utf-8", "surrogateescape") == data


def test_connectivity_probe_tries_the_waagent_conf_proxy(tmp_path, ports):
    """HttpProxy.Host/Port (comments, quotes and blanks cut off, the last of each) is probed."""
    conf = tmp_path / "waagent.conf"
    conf.write_text(
        'HttpProxy.Host=10.9.9.9\nHttpProxy.Host = "127.0.0.1"  # the proxy\nHttpProxy.Port=9\n'
    )
    settings = loopback_settings(*ports, bcdrfix_waagent_conf_path=str(conf))
    body = build_script(["connectivity", "waagent_conf"], None, linux_probe_variables(settings))
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30)
    results = parse_output(out.stdout.splitlines())["connectivity"]["results"]
    assert "127.0.0.1:9" in results and "10.9.9.9:9" not in results


def test_connectivity_probe_reads_the_units_environment_files(tmp_path, ports):
    """The proxy variables of an EnvironmentFiles= file (any case, `export`, a last line with no
    newline) are shown masked and their proxy is probed; other lines are left out. The last
    HttpProxy.Port of waagent.conf wins even when it is the file's last line, with no newline."""
    envfile = tmp_path / "agent.env"
    envfile.write_text(
        "# proxy for the agent\nLANG=C\nexport HTTPS_PROXY=http://u:s3cret@127.0.0.1:7\n"
        "  no_proxy=168.63.129.16\nhttps_proxy_extra=1"
    )
    fake_systemctl(tmp_path, f'echo "EnvironmentFiles={envfile} (ignore_errors=no)"')
    conf = tmp_path / "waagent.conf"
    conf.write_text(
        "HttpProxy.Host=127.0.0.1\nHttpProxy.Port=8\n# HttpProxy.Port=6\nHttpProxy.Port=5"
    )
    settings = loopback_settings(*ports, bcdrfix_waagent_conf_path=str(conf))
    body = build_script(
        ["connectivity", "waagent_conf"], "waagent", linux_probe_variables(settings)
    )
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30, env=env)
    assert "s3cret" not in out.stdout
    facts = parse_output(out.stdout.splitlines())["connectivity"]
    assert facts["envfiles"] == [
        "export HTTPS_PROXY=http://***@127.0.0.1:7",
        "  no_proxy=168.63.129.16",
    ]
    assert {"127.0.0.1:7", "127.0.0.1:5"} <= set(facts["results"])
    assert "127.0.0.1:8" not in facts["results"]


@pytest.fixture
def silent_port():
    """A loopback port whose connects hang: a listener with a full queue (SYNs are dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port), timeout=2)  # fills the queue
    try:
        yield port
    finally:
        queued.close()
        listener.close()


@pytest.mark.parametrize("silent_first", [True, False])
def test_an_endpoint_that_hangs_does_not_hide_the_others(ports, silent_port, silent_first):
    """Every endpoint that answers (or refuses) has its line whatever the order, the last one
    included (tried in the probe's own bash, the others in forked subshells); the one that hangs
    is cut at the timeout (124)."""
    open_port, closed_port = ports
    if silent_first:
        wire, imds = [silent_port, open_port], closed_port
    else:
        wire, imds = [open_port, closed_port], silent_port
    settings = loopback_settings(
        open_port,
        closed_port,
        bcdrfix_wireserver_ports=wire,
        bcdrfix_imds_port=imds,
        bcdrfix_connect_timeout=1,
    )
    body = build_script(["connectivity"], None, linux_probe_variables(settings))
    out = subprocess.run(["sh", "-c", body], capture_output=True, text=True, timeout=30)
    results = parse_output(out.stdout.splitlines())["connectivity"]["results"]
    assert results[f"127.0.0.1:{open_port}"]["rc"] == 0
    assert "refused" in results[f"127.0.0.1:{closed_port}"]["message"].lower()
    assert results[f"127.0.0.1:{silent_port}"]["rc"] == 124
