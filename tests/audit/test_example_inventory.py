"""The example inventory users copy loads and validates without contacting anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_example_inventory_loads_with_valid_settings():
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "bcdrfix"),
            "inventory",
            "hosts",
            "inventories/example.py",
            "--format",
            "json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    hosts = {h["name"]: h for h in json.loads(proc.stdout)}
    assert set(hosts) == {"web-01", "web-02", "db-01", "@winrm/sql-07"}
    assert hosts["@winrm/sql-07"]["groups"] == ["example", "windows"]
    assert "linux" in hosts["db-01"]["groups"]


def test_example_inventory_checks_host_keys_strictly_against_a_supplied_file():
    from bcdrfix.inventory.load import load_inventory

    loaded = load_inventory("inventories/example.py", cwd=str(REPO))
    for host in loaded.selected:
        if not host.name.startswith("@winrm/"):
            assert host.data.ssh_strict_host_key_checking == "yes", host.name
            assert host.data.ssh_known_hosts_file == "inventories/known_hosts", host.name
