"""inventories/azure.py on realistic `az vm list -d -o json` output (tests/audit/fixtures/).

The fixture mixes Linux and Windows, running, stopped and deallocated VMs, tags with spaces,
slashes, case differences and Japanese text, a running VM with only a public IP, a VM with two
private IPs, and two VMs called web-01 in different resource groups.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bcdrfix.inventory.azure import AzureInventoryError, build_inventory, group_name, parse_vms
from bcdrfix.inventory.load import load_inventory

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "az-vm-list-d.json"
BIN = Path(sys.executable).parent


@pytest.fixture
def azure_env(monkeypatch):
    monkeypatch.setenv("BCDRFIX_AZURE_VMS_JSON", str(FIXTURE))
    monkeypatch.delenv("BCDRFIX_AZURE_ADDRESS", raising=False)
    monkeypatch.delenv("BCDRFIX_AZURE_SSH_USER", raising=False)
    monkeypatch.chdir(REPO)


def vms():
    return parse_vms(FIXTURE.read_text(), str(FIXTURE))


def test_group_names_are_plain_identifiers():
    assert group_name("tag", "backup-policy", "gold") == "tag_backup_policy_gold"
    assert group_name("tag", "Backup_Policy", "Gold") == "tag_backup_policy_gold"
    assert group_name("tag", "Cost Center", "R&D / 42") == "tag_cost_center_r_d_42"
    assert group_name("tag", "temp", "") == "tag_temp"
    japanese = group_name("tag", "環境", "本番")
    assert (
        japanese.startswith("tag_x")
        and japanese.isascii()
        and japanese == group_name("tag", "環境", "本番")
    )
    assert group_name("rg", "RG-PROD-WEB") == group_name("rg", "rg-prod-web") == "rg_rg_prod_web"


def test_running_vms_become_hosts_with_connector_and_address():
    built = build_inventory(vms(), winrm_available=True)
    hosts = built.hosts()
    assert set(hosts) == {"web-01.rg-prod-web", "web-01.rg-dev", "web-02", "@winrm/sql-01"}
    web = hosts["web-01.rg-prod-web"]
    assert web["ssh_hostname"] == "10.20.1.4" and web["ssh_user"] == "azureops"
    assert web["azure_resource_group"] == "RG-PROD-WEB" and web["azure_location"] == "japaneast"
    assert web["azure_tags"]["Cost Center"] == "R&D / 42"
    assert hosts["web-02"]["ssh_hostname"] == "10.20.1.5"  # first of two private IPs
    sql = hosts["@winrm/sql-01"]
    assert sql["winrm_hostname"] == "10.30.0.7" and sql["winrm_username"] == "sqladmin"
    assert "ssh_hostname" not in sql


def test_groups_by_os_location_resource_group_and_tags():
    groups = {
        name: {h for h, _ in members} for name, members in build_inventory(vms()).groups.items()
    }
    assert groups["linux"] == {"web-01.rg-prod-web", "web-01.rg-dev", "web-02"}
    assert groups["windows"] == {"@winrm/sql-01"}
    assert groups["location_japanwest"] == {"@winrm/sql-01"}
    assert groups["rg_rg_prod_web"] == {"web-01.rg-prod-web", "web-02"}  # RG names ignore case
    assert groups["tag_backup_policy_gold"] == {"web-01.rg-prod-web", "web-02", "@winrm/sql-01"}
    assert groups["tag_cost_center_r_d_42"] == {"web-01.rg-prod-web"}
    assert groups["azure"] == {"web-01.rg-prod-web", "web-01.rg-dev", "web-02", "@winrm/sql-01"}


def test_stopped_and_unaddressed_vms_are_reported_not_contacted():
    built = build_inventory(vms())
    reported = {m.name: (m.kind, m.reason) for m in built.not_contacted}
    assert reported == {
        "@winrm/sql-02": ("not-running", "VM deallocated"),
        "build-01": ("not-running", "VM stopped"),
        "jump-01": ("cannot-contact", "no private IP address"),
    }
    assert (
        "tag_backup_policy_silver"
        in next(m for m in built.not_contacted if m.name == "@winrm/sql-02").groups
    )


def test_public_addresses_on_request():
    built = build_inventory(vms(), address="public")
    hosts = built.hosts()
    assert hosts["jump-01"]["ssh_hostname"] == "20.48.9.9"
    assert hosts["web-01.rg-prod-web"]["ssh_hostname"] == "20.48.1.10"
    reasons = {m.name: m.reason for m in built.not_contacted}
    assert reasons["web-02"] == "no public IP address"


def test_windows_vms_wait_for_a_winrm_connector():
    built = build_inventory(vms(), winrm_available=False)
    assert "@winrm/sql-01" not in built.hosts()
    reason = {m.name: m.reason for m in built.not_contacted}["@winrm/sql-01"]
    assert "WinRM connector" in reason


@pytest.mark.parametrize(
    "text, message",
    [
        ("[{", "bad JSON"),
        ('{"value": []}', "expected the JSON list"),
        ('[{"name": "a", "location": "x"}]', "run `az vm list -d`"),
        ('[{"location": "x", "powerState": "VM running"}]', "VM #1 has no name"),
    ],
)
def test_unusable_az_output_is_one_clear_line(text, message):
    with pytest.raises(AzureInventoryError, match=message.replace("(", r"\(")):
        parse_vms(text, "vms.json")


def test_inventory_file_loads_through_pyinfra_loader(azure_env):
    loaded = load_inventory("inventories/azure.py")
    names = {h.name for h in loaded.selected}
    from bcdrfix.inventory.azure import winrm_connector_available

    expected = {"web-01.rg-prod-web", "web-01.rg-dev", "web-02"}
    if winrm_connector_available():
        expected.add("@winrm/sql-01")
    assert names == expected
    web = next(h for h in loaded.selected if h.name == "web-02")
    assert web.data.ssh_hostname == "10.20.1.5"
    assert "linux" in web.groups and "tag_backup_policy_gold" in web.groups
    # group_data/linux.py from the repository applies, as under the pyinfra command
    assert web.data.bcdrfix_agent_min_version
    assert {m.name for m in loaded.not_contacted} >= {"@winrm/sql-02", "build-01", "jump-01"}


def test_limit_by_tag_group_keeps_reported_vms_of_that_group(azure_env):
    loaded = load_inventory("inventories/azure.py", limit=["tag_backup_policy_silver,web-02"])
    assert [h.name for h in loaded.selected] == ["web-02"]
    assert [m.name for m in loaded.not_contacted] == ["@winrm/sql-02"]


def test_pyinfra_command_reads_the_same_inventory(azure_env, tmp_path):
    proc = subprocess.run(
        [str(BIN / "pyinfra"), "inventories/azure.py", "debug-inventory"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "BCDRFIX_AZURE_VMS_JSON": str(FIXTURE)},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "[web-01.rg-prod-web]" in output and "tag_backup_policy_gold" in output
    assert "[build-01]" not in output  # a stopped VM is not a pyinfra host


def test_bad_json_file_fails_the_audit_before_contacting(tmp_path, monkeypatch):
    bad = tmp_path / "vms.json"
    bad.write_text('[{"name": "x", ')
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "audit", "inventories/azure.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "BCDRFIX_AZURE_VMS_JSON": str(bad)},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad JSON" in lines[0] and "vms.json" in lines[0], proc.stderr


def test_missing_file_and_no_az_cli(tmp_path, monkeypatch):
    env = {**__import__("os").environ, "BCDRFIX_AZURE_VMS_JSON": str(tmp_path / "nope.json")}
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "audit", "inventories/azure.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert (
        proc.returncode == 2
        and "No such file" in proc.stderr
        and len(proc.stderr.strip().splitlines()) == 1
    )
    env.pop("BCDRFIX_AZURE_VMS_JSON")
    env["PATH"] = str(tmp_path)  # no az here
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "audit", "inventories/azure.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2 and "BCDRFIX_AZURE_VMS_JSON" in proc.stderr, proc.stderr


def test_inventory_json_listing_shows_what_is_not_contacted(azure_env):
    proc = subprocess.run(
        [str(BIN / "bcdrfix"), "inventory", "hosts", "inventories/azure.py", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "BCDRFIX_AZURE_VMS_JSON": str(FIXTURE)},
    )
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["build-01"]["contact"] is False and rows["build-01"]["reason"] == "VM stopped"
    assert rows["web-02"]["contact"] is True and rows["web-02"]["address"] == "10.20.1.5"


def test_known_hosts_file_makes_host_key_checking_strict(azure_env, monkeypatch, tmp_path):
    loaded = load_inventory("inventories/azure.py")
    web = next(h for h in loaded.selected if h.name == "web-02")
    assert web.data.get("ssh_strict_host_key_checking") is None  # pyinfra's default (TOFU)
    known = tmp_path / "known_hosts"
    known.write_text("10.20.1.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n")
    monkeypatch.setenv("BCDRFIX_AZURE_KNOWN_HOSTS", str(known))
    loaded = load_inventory("inventories/azure.py")
    for host in loaded.selected:
        if host.data.get("ssh_hostname"):
            assert host.data.ssh_strict_host_key_checking == "yes", host.name
            assert host.data.ssh_known_hosts_file == str(known), host.name
