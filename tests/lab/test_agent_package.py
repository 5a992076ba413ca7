"""linux.agent_package on real hosts: the package as Debian's dpkg-query reports it; report only
by default; upgrade fails clearly when the repository has nothing newer; an unreachable host
fails alone while the others are fixed."""

from __future__ import annotations

import re

from labtools import lab_host_view, observation_output, run_pyinfra

from bcdrfix.core.observe import parse_output

LAB = {"hosts": 2, "faults": {"lab-debian-01": ["agent-stopped"], "lab-rhel-02": ["agent-stopped"]}}


def test_bad_data_value_stops_plain_pyinfra_with_one_line_before_any_change(lab):
    proc = run_pyinfra(
        "deploys/linux_agent.py",
        "--data",
        "bcdrfix_waagent_conf_path=etc/waagent.conf",
        check=False,
    )
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert "bcdrfix_waagent_conf_path='etc/waagent.conf': expected an absolute path" in last
    assert "Traceback" not in proc.stdout
    for host in lab.hosts:  # the seeded stopped agents were not touched
        assert (
            lab_host_view(lab, host).run(f"systemctl is-active {host.unit}").stdout.strip()
            == "inactive"
        )


def test_minimum_not_met_is_reported_without_upgrade_flag(lab):
    proc = run_pyinfra("deploys/linux_agent.py", "--data", "bcdrfix_agent_min_version=99.0")
    assert "linux.agent_package" in proc.stdout
    assert not re.search(r"Install/upgrade the agent package", proc.stdout)


def test_upgrade_fails_clearly_when_the_repository_offers_nothing_newer(lab):
    proc = run_pyinfra(
        "deploys/linux_agent.py",
        "--limit",
        "lab-debian-01",
        "--data",
        "bcdrfix_agent_min_version=99.0",
        "--data",
        "bcdrfix_agent_upgrade=true",
        check=False,
    )
    assert proc.returncode != 0
    assert (
        "bcdrfix: the repository offers waagent 2.7.3.0, bcdrfix needs 99.0 or newer" in proc.stdout
    )


def test_unreachable_host_fails_alone(lab, tmp_path):
    for host in lab.hosts:
        lab_host_view(lab, host).run(f"systemctl stop {host.unit}")
    inventory = tmp_path / "with_dead_host.py"
    inventory.write_text(
        "import runpy\n"
        "lab = runpy.run_path('inventories/lab.py')\n"
        "linux = lab['linux'] + [('dead-vm', {**lab['linux'][0][1], 'ssh_hostname': '198.18.%d.250',"
        " 'ssh_connect_retries': 0, 'ssh_paramiko_connect_kwargs': {'timeout': 2}})]\n"
        % int(lab.subnet.split(".")[-1])
    )
    proc = run_pyinfra_inventory(str(inventory))
    assert re.search(r"\[dead-vm\]\s+Could not connect", proc.stdout), proc.stdout
    # the stopped agents on the reachable hosts were started anyway
    assert re.search(r"\[lab-debian-01\]\s+Success", proc.stdout)
    assert re.search(r"\[lab-rhel-02\]\s+Success", proc.stdout)


def run_pyinfra_inventory(inventory: str):
    import subprocess

    from labtools import BIN, REPO

    return subprocess.run(
        [str(BIN / "pyinfra"), "-y", inventory, "deploys/linux_agent.py"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


# name, version and status of packages, as Debian's dpkg-query says
DPKG_FORMAT = "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'"
# the installed one of the agent's package names (Debian: waagent)
DPKG_QUERY = f"{DPKG_FORMAT} waagent walinuxagent | grep ' ii'"


def agent_version(lab, host) -> dict:
    """The agent_version probe's data, observed on a lab host."""
    return parse_output(observation_output(lab, host, ["agent_version"]).splitlines())[
        "agent_version"
    ]


def observed_package(lab, host) -> dict:
    info = agent_version(lab, host)
    return {k: info[k] for k in ("package", "package_version")}


def test_the_package_is_what_dpkg_query_says_with_or_without_dpkgs_journal(lab):
    """Issue 14: the probe reads the agent's package from dpkg's status file with one awk instead
    of dpkg-query (which parses every package of the database), and asks dpkg-query while dpkg's
    journal holds changes (an interrupted dpkg run). Judged by Debian's own dpkg-query."""
    host = lab.hosts[0]
    view = lab_host_view(lab, host)
    name, version = view.check_output(DPKG_QUERY).split()[:2]
    assert observed_package(lab, host) == {"package": name, "package_version": version}
    stanza = view.check_output(f"awk -v RS= '/^Package: {name}\\n/' /var/lib/dpkg/status")
    journal = "/var/lib/dpkg/updates/0000"
    view.run(f"cat > {journal} <<'EOF'\n{stanza.replace(version, '99.9.9-1')}\nEOF")
    try:
        assert view.check_output(DPKG_QUERY).split()[:2] == [name, "99.9.9-1"]
        assert observed_package(lab, host) == {"package": name, "package_version": "99.9.9-1"}
    finally:
        view.run(f"rm -f {journal}")
    assert view.check_output(DPKG_QUERY).split()[:2] == [name, version]


def test_a_held_package_is_reported_installed_and_held(lab):
    """`apt-mark hold` on the agent's package (dpkg's "hi"): the probe reports it installed and
    held, as Debian's dpkg-query does; it was reported as no package at all."""
    host = lab.hosts[0]
    view = lab_host_view(lab, host)
    name, version = view.check_output(DPKG_QUERY).split()[:2]
    view.check_output(f"apt-mark hold {name}")
    try:
        held = view.check_output(f"{DPKG_FORMAT} {name}")
        assert held.split() == [name, version, "hi"]
        info = agent_version(lab, host)
        package = {k: info[k] for k in ("package", "package_version")}
        assert package == {"package": name, "package_version": version}
        assert info["package_held"] is True
    finally:
        view.check_output(f"apt-mark unhold {name}")
    assert observed_package(lab, host) == {"package": name, "package_version": version}
