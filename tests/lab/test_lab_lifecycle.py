"""`bcdrfix lab up/status/down` through the real command: hosts boot with systemd as PID 1, have
no default route, and `down` leaves no mounts, namespaces, veths, cgroups or processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labtools import lab_host_view

from bcdrfix.lab import lab as labmod

BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")


def bcdrfix(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BCDRFIX, *args], capture_output=True, text=True, timeout=300)


def leftovers() -> dict[str, list[str]]:
    tag = labmod.LAB_TAG
    mounts = [
        line
        for line in Path("/proc/mounts").read_text().splitlines()
        if f"{labmod.LAB_DIR}/" in line
    ]
    netns = [
        n
        for n in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True
        ).stdout.split()
        if n.startswith(tag)
    ]
    links = [
        l
        for l in subprocess.run(
            ["ip", "-br", "link"], capture_output=True, text=True
        ).stdout.splitlines()
        if l.startswith((tag, f"bl{labmod.LAB_ID}h"))
    ]
    cgroups = [str(root / tag) for root in labmod.CGROUP_ROOTS if (root / tag).exists()]
    procs = subprocess.run(
        ["pgrep", "-f", f"systemd-nspawn.*{labmod.LAB_DIR}/"], capture_output=True, text=True
    ).stdout.split()
    return {
        "mounts": mounts,
        "netns": netns,
        "links": links,
        "cgroups": cgroups,
        "processes": procs,
    }


def test_up_status_down_leaves_nothing_behind():
    bcdrfix("lab", "down")
    up = bcdrfix("lab", "up", "--hosts", "2", "--fault", "lab-rhel-02=agent-stopped,restart-no")
    assert up.returncode == 0, up.stderr
    try:
        status = json.loads(bcdrfix("lab", "status", "--json").stdout)
        assert [(h["name"], h["unit"], h["running"]) for h in status] == [
            ("lab-debian-01", "walinuxagent.service", True),
            ("lab-rhel-02", "waagent.service", True),
        ]
        assert status[1]["faults"] == ["agent-stopped", "restart-no"]
        state = labmod.LabState.load()
        for host in state.hosts:
            view = lab_host_view(state, host)
            assert view.check_output("cat /proc/1/comm") == "systemd"
            assert view.check_output("ip route show default") == ""  # no way out
            other = "waagent.service" if host.flavor == "debian" else "walinuxagent.service"
            assert (
                view.run(f"systemctl show -p LoadState --value {other}").stdout.strip()
                == "not-found"
            )
        rhel = lab_host_view(state, state.hosts[1])
        assert rhel.run("systemctl is-active waagent.service").stdout.strip() == "inactive"
        assert rhel.check_output("systemctl show -p Restart --value waagent.service") == "no"
    finally:
        down = bcdrfix("lab", "down")
    assert down.returncode == 0, down.stderr
    assert leftovers() == {"mounts": [], "netns": [], "links": [], "cgroups": [], "processes": []}


def test_bad_fault_and_host_names_are_one_line_errors():
    bad = bcdrfix("lab", "up", "--hosts", "1", "--fault", "lab-debian-01=agent-sleepy")
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: lab-debian-01: unknown fault 'agent-sleepy'")
    )
    bad = bcdrfix("lab", "up", "--hosts", "1", "--fault", "vm-9=agent-stopped")
    assert bad.returncode == 2 and "unknown host(s): vm-9" in bad.stderr
