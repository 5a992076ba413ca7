"""Ansible inventories read by the real ``ansible-inventory`` (issue 13): groups, children,
group_vars/ and host_vars/ files, connection variables mapped to pyinfra's, Windows to @winrm."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bcdrfix.inventory.ansible import (
    AnsibleInventoryError,
    find_program,
    load_ansible_inventory,
)
from bcdrfix.inventory.load import InventoryError, load_inventory

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "ansible-inventory").exists()
    and not shutil.which("ansible-inventory"),
    reason="ansible-core is not installed (pip install 'bcdrfix[test]')",
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture
def ini(tmp_path) -> Path:
    write(
        tmp_path / "hosts.ini",
        """
        [web]
        web-01 ansible_host=10.0.1.4
        web-02 ansible_host=10.0.1.5 ansible_port=2222

        [db]
        db-01 ansible_host=10.0.2.4 ansible_become=true

        [linux:children]
        web
        db

        [win]
        sql-07 ansible_host=10.0.3.7

        [win:vars]
        ansible_connection=winrm
        ansible_winrm_transport=kerberos
        ansible_winrm_server_cert_validation=ignore
        ansible_user=ops@CONTOSO.COM
        """,
    )
    write(
        tmp_path / "group_vars" / "linux.yml",
        """
        ansible_user: azureuser
        ansible_ssh_private_key_file: ~/.ssh/id_ed25519
        bcdrfix_agent_min_version: "2.9.0"
        """,
    )
    write(tmp_path / "host_vars" / "db-01.yml", "bcdrfix_agent_verbose_logs: true\n")
    return tmp_path / "hosts.ini"


def test_children_group_vars_host_vars_and_connection_variables(ini):
    groups = load_ansible_inventory(str(ini))
    hosts = dict(entry for members in groups.values() for entry in members)
    assert sorted(name for name, _ in groups["linux"]) == ["db-01", "web-01", "web-02"]
    assert [name for name, _ in groups["web"]] == ["web-01", "web-02"]
    assert hosts["web-01"] == {
        "ssh_hostname": "10.0.1.4",
        "ssh_user": "azureuser",
        "ssh_key": "~/.ssh/id_ed25519",
        "bcdrfix_agent_min_version": "2.9.0",
    }
    assert hosts["web-02"]["ssh_port"] == 2222
    assert hosts["db-01"]["_sudo"] is True and hosts["db-01"]["bcdrfix_agent_verbose_logs"] is True
    assert hosts["@winrm/sql-07"] == {
        "winrm_hostname": "10.0.3.7",
        "winrm_username": "ops@CONTOSO.COM",
        "winrm_auth": "kerberos",
        "winrm_cert_validation": False,
    }
    assert [name for name, _ in groups["windows"]] == ["@winrm/sql-07"]


def test_yaml_inventory(tmp_path):
    write(
        tmp_path / "hosts.yml",
        """
        all:
          children:
            linux:
              hosts:
                app-01: {ansible_host: 10.1.0.4, ansible_user: admin}
              vars:
                bcdrfix_allow_disruptive: false
        """,
    )
    groups = load_ansible_inventory(str(tmp_path / "hosts.yml"))
    assert groups["linux"] == [
        (
            "app-01",
            {"ssh_hostname": "10.1.0.4", "ssh_user": "admin", "bcdrfix_allow_disruptive": False},
        )
    ]


def test_bcdrfix_loader_reads_an_ansible_inventory_with_limit(ini):
    loaded = load_inventory(str(ini), limit=["db"])
    assert [h.name for h in loaded.selected] == ["db-01"]
    host = loaded.selected[0]
    assert host.data.ssh_hostname == "10.0.2.4"
    assert "linux" in host.groups and "db" in host.groups


def test_a_broken_inventory_is_one_line(tmp_path):
    write(tmp_path / "bad.ini", "[web\nweb-01\n")
    with pytest.raises(AnsibleInventoryError) as info:
        load_ansible_inventory(str(tmp_path / "bad.ini"))
    assert "\n" not in str(info.value) and "bad.ini" in str(info.value)
    with pytest.raises(InventoryError):
        load_inventory(str(tmp_path / "bad.ini"))


def test_plain_pyinfra_with_inventories_ansible(ini, tmp_path):
    env = {**os.environ, "BCDRFIX_ANSIBLE_INVENTORY": str(ini)}
    env["PATH"] = f"{Path(find_program()).parent}:{env['PATH']}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            str(REPO / "inventories" / "ansible.py"),
            "debug-inventory",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("web-01", "db-01", "@winrm/sql-07"):
        assert name in result.stdout + result.stderr


def test_plain_pyinfra_with_the_packaged_inventory_function(ini, tmp_path):
    env = {**os.environ, "BCDRFIX_ANSIBLE_INVENTORY": str(ini)}
    env["PATH"] = f"{Path(find_program()).parent}:{env['PATH']}"
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "bcdrfix.inventory.ansible.inventory", "debug-inventory"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "web-01" in result.stdout + result.stderr


def test_audit_fix_lines_for_an_ansible_inventory_run_plain_pyinfra():
    from bcdrfix.audit.engine import fix_command

    assert fix_command("my hosts.ini", "bcdrfix.deploys.linux_agent", "web-01") == (
        "BCDRFIX_ANSIBLE_INVENTORY='my hosts.ini' pyinfra bcdrfix.inventory.ansible.inventory "
        "bcdrfix.deploys.linux_agent --limit web-01 -y"
    )
