"""A shard runner builds pyinfra hosts for its own slice only, and selects exactly the same hosts.

pyinfra builds an inventory's Host objects in quadratic time (8,000 hosts: seconds; 100,000: not
within 5 minutes), so ``load_inventory`` picks the slice by name first. These tests check the
selection against the full build (what load_inventory did before) and that only the slice is
built; the timings themselves live in ``make bench`` (benchmarks/scale.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bcdrfix.inventory import load as inventory_tools
from bcdrfix.inventory.load import load_inventory

REPO = Path(__file__).resolve().parents[2]

INVENTORY = """
from bcdrfix.inventory.load import report_not_contacted

linux = [(f"web-{i:03d}", {"ssh_hostname": f"10.0.0.{i % 250 + 1}"}) for i in range(40)]
databases = [f"db-{i:02d}" for i in range(7)]
rg_prod = [name for name, _ in linux[::3]] + databases[:3]
windows = ["@winrm/sql-01", "@winrm/sql-02"]
for i in range(5):
    report_not_contacted(f"stopped-{i}", "VM deallocated", groups=["linux", "rg_prod"])
"""


def selection(path: str, **kwargs) -> tuple[list[str], list[str], int]:
    loaded = load_inventory(path, cwd=str(REPO), **kwargs)
    return (
        [h.name for h in loaded.selected],
        [m.name for m in loaded.not_contacted],
        len(loaded.inventory),
    )


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "fleet.py"
    path.write_text(INVENTORY)
    return str(path)


LIMITS = [None, ["rg_prod"], ["db-*"], ["linux,windows"], ["fleet"], ["@winrm/sql-01"]]


@pytest.mark.parametrize(("limit", "shards"), list(itertools.product(LIMITS, [1, 3, 7])))
def test_same_selection_as_building_everything(inventory, monkeypatch, limit, shards):
    fast = [selection(inventory, limit=limit, shard=(k, shards)) for k in range(1, shards + 1)]
    monkeypatch.setattr(inventory_tools, "preselect_groups", lambda *args: None)
    full = [selection(inventory, limit=limit, shard=(k, shards)) for k in range(1, shards + 1)]
    assert [f[:2] for f in fast] == [f[:2] for f in full]
    selected = [name for f in fast for name in f[0] + f[1]]
    assert len(selected) == len(set(selected)), "each machine in exactly one shard"


def test_only_the_shard_is_built(inventory):
    names, others, built = selection(inventory, shard="2/6")
    assert built == len(names) and len(names) + len(others) == 54 // 6  # 49 hosts + 5 stopped
    all_names, all_others, all_built = selection(inventory)
    assert all_built == len(all_names) == 49 and len(all_others) == 5


def test_limit_matching_nothing_is_still_one_line(inventory):
    with pytest.raises(inventory_tools.InventoryError, match="matches no host or group"):
        load_inventory(inventory, limit=["nothing-*"], shard="1/2", cwd=str(REPO))


def test_a_name_listed_twice_is_refused_by_every_shard(tmp_path):
    path = tmp_path / "dup.py"
    path.write_text('linux = ["a", "b", "c", "b"]\n')
    for k in (1, 2, 3):
        with pytest.raises(inventory_tools.InventoryError, match="listed twice"):
            load_inventory(str(path), shard=(k, 3), cwd=str(REPO))
