"""bcdrfix as a user gets it (issue 13): a wheel built from this tree, installed into a fresh
venv, used from an empty folder against lab hosts, with the three workflows:

1. ``pyinfra INVENTORY bcdrfix.deploys.linux_agent`` (plain pyinfra, the packaged deploy;
   its templates come from the wheel), truthful: one line per control with true counts, a host
   without /etc/waagent.conf fails with the reason and the run exits non-zero; ``--diff``;
2. ``bcdrfix audit`` with HTML/JUnit/JSON reports whose fix lines name the packaged deploy and
   the inventory as given, and with an Ansible INI inventory using group_vars/;
3. ``bcdrfix fix INVENTORY --code CODE``.

Host state is checked independently (testinfra, the agent's own parser).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from labtools import REPO, host_named, lab_host_view

from bcdrfix.lab import lab as labmod
from bcdrfix.lab.endpoints import lab_endpoint_data
from bcdrfix.linux.agent_base import AGENT_HANDLER

LAB = {
    "hosts": 2,
    "faults": {"lab-debian-01": ["agent-stopped", "extensions-disabled", "restart-no"]},
}
NO_CONF = "lab-rhel-02"  # its /etc/waagent.conf is removed


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel (and its ``ansible`` extra) installed; nothing from the tree."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        # sdist first, then the wheel from it: what a release builds, and nothing left over
        # in the work tree (a stale build/ folder) can slip into the wheel
        [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("bcdrfix-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[ansible]"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv / "bin"


@pytest.fixture(scope="module")
def folder(lab, tmp_path_factory) -> Path:
    """An empty folder with the user's inventories: a pyinfra one and an Ansible INI one."""
    labmod.ssh(lab, host_named(lab, NO_CONF), "rm -f /etc/waagent.conf")
    here = tmp_path_factory.mktemp("user")
    ssh = {
        "ssh_user": "root",
        "ssh_key": lab.key,
        "ssh_known_hosts_file": lab.known_hosts,
        "ssh_strict_host_key_checking": "yes",
    }
    hosts = [(h.name, {"ssh_hostname": h.address, **ssh}) for h in lab.hosts]
    endpoints = "from bcdrfix.lab.endpoints import lab_endpoint_data\n"
    (here / "inventory.py").write_text(
        endpoints
        + f"linux = {hosts!r}\n"
        + f"for _name, _data in linux:\n    _data.update(lab_endpoint_data({lab.subnet!r}))\n"
    )
    lines = ["[web]"] + [
        f"{h.name} ansible_host={h.address} ansible_user=root"
        f" ansible_ssh_private_key_file={lab.key}"
        for h in lab.hosts
    ]
    (here / "hosts.ini").write_text("\n".join(lines + ["", "[linux:children]", "web", ""]))
    (here / "group_vars").mkdir()
    endpoint_data = lab_endpoint_data(lab.subnet)
    (here / "group_vars" / "linux.yml").write_text(
        json.dumps(
            {
                **endpoint_data,
                "ssh_known_hosts_file": lab.known_hosts,
                "ssh_strict_host_key_checking": "yes",
                # differs from the default: only group_vars can make the audit ask for it
                "bcdrfix_waagent_conf": {
                    "Extensions.Enabled": "y",
                    "Provisioning.Agent": "auto",
                    "Logs.Verbose": "y",
                },
            }
        )
    )
    return here


def run(bin_dir: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return subprocess.run(
        [str(bin_dir / args[0]) if (bin_dir / args[0]).exists() else args[0], *args[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_the_wheel_carries_templates_and_no_repository_paths(venv, folder):
    proc = run(
        venv,
        folder,
        "python",
        "-c",
        "import bcdrfix, bcdrfix.deploys; from bcdrfix.core.templating import render; "
        "print(bcdrfix.__file__); print(render('agent-restart.conf.j2', restart_sec=5)[:40])",
    )
    assert proc.returncode == 0, proc.stderr
    assert str(REPO) not in proc.stdout and "site-packages" in proc.stdout


def test_audit_with_reports_names_the_packaged_deploy(lab, venv, folder):
    proc = run(
        venv,
        folder,
        "bcdrfix",
        "audit",
        "inventory.py",
        "--report",
        "a.html",
        "--report",
        "a.xml",
        "--report",
        "a.json",
    )
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("a.")) == [
        "a.html",
        "a.json",
        "a.xml",
    ]
    document = json.loads((folder / "a.json").read_text())
    fixes = {
        (r["host"], r["control"]): r["fix"] for r in document["results"] if r["status"] == "fail"
    }
    assert fixes[("lab-debian-01", "linux.waagent_conf")] == (
        "pyinfra inventory.py bcdrfix.deploys.linux_agent --limit lab-debian-01 -y"
    )
    assert "bcdrfix.deploys.linux_agent --limit lab-debian-01" in (folder / "a.html").read_text()


def test_diff_shows_the_file_edit(lab, venv, folder):
    proc = run(
        venv,
        folder,
        "pyinfra",
        "inventory.py",
        "bcdrfix.deploys.linux_agent",
        "--limit",
        "lab-debian-01",
        "--dry",
        "--diff",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Will modify /etc/waagent.conf" in proc.stderr
    assert re.search(r"- Extensions\.Enabled=n", proc.stderr)
    assert re.search(r"\+ Extensions\.Enabled=y", proc.stderr)
    assert "No host key" not in proc.stderr and "Unknown" not in proc.stderr


def test_plain_pyinfra_run_is_truthful(lab, venv, folder):
    proc = run(venv, folder, "pyinfra", "-y", "inventory.py", "bcdrfix.deploys.linux_agent")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert f"[{NO_CONF}]" in out and "/etc/waagent.conf is missing" in out
    table = out[out.index("Results:") :]
    # one line per control, the same name on every host (the agent's handler has a line of its own)
    own = "linux.waagent_conf: /etc/waagent.conf enables"
    rows = [line.split() for line in table.splitlines() if own in line]
    assert len(rows) == 1, table
    handler = [line for line in table.splitlines() if AGENT_HANDLER in line]
    assert len(handler) == 1, table
    hosts, success, error = rows[0][-4], rows[0][-3], rows[0][-2]
    assert (hosts, success, error) == ("2", "1", "1"), table
    debian = lab_host_view(lab, host_named(lab, "lab-debian-01"))
    assert debian.service("walinuxagent").is_running  # the good host was fixed all the same
    assert "Extensions.Enabled=y" in debian.file("/etc/waagent.conf").content_string
    assert debian.check_output("systemctl show -p Restart --value walinuxagent") == "always"


def test_fix_by_code(lab, venv, folder):
    labmod.ssh(lab, host_named(lab, "lab-debian-01"), "systemctl stop walinuxagent")
    proc = run(
        venv,
        folder,
        "bcdrfix",
        "fix",
        "inventory.py",
        "--code",
        "380008/AzureVmOffline",
        "--limit",
        "lab-debian-01",
        "--json",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    (host,) = report["hosts"]
    assert {o["control"]: o["outcome"] for o in host["outcomes"]}["linux.agent_service"] == (
        "changed"
    )
    debian = lab_host_view(lab, host_named(lab, "lab-debian-01"))
    assert debian.service("walinuxagent").is_running


def test_ansible_ini_inventory_with_group_vars_audits_lab_hosts(lab, venv, folder):
    proc = run(venv, folder, "bcdrfix", "audit", "hosts.ini", "--report", "ini.json")
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    document = json.loads((folder / "ini.json").read_text())
    assert {h["name"]: h["state"] for h in document["hosts"]} == {
        "lab-debian-01": "audited",
        "lab-rhel-02": "audited",
    }
    conf = {r["host"]: r for r in document["results"] if r["control"] == "linux.waagent_conf"}
    # group_vars/linux.yml asks for Logs.Verbose=y, which no host has
    assert conf["lab-debian-01"]["status"] == "fail"
    assert "Logs.Verbose" in conf["lab-debian-01"]["summary"]
    assert conf["lab-rhel-02"]["status"] == "error"

    # its fix line works where the user is: plain pyinfra on the same Ansible inventory
    fix = conf["lab-debian-01"]["fix"]
    assert fix.startswith("BCDRFIX_ANSIBLE_INVENTORY=hosts.ini pyinfra ")
    proc = run(venv, folder, "bash", "-c", fix + " --dry")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[lab-debian-01] " in proc.stderr.replace("  ", " ")
    assert "linux.waagent_conf: fix: Write /etc/waagent.conf" in proc.stderr
