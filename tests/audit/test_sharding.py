"""--shard K/N: every host in exactly one shard, balanced, the same on every runner."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from bcdrfix.inventory.load import InventoryError, parse_shard, shard_names

BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")
NAMES = [f"vm-{i:03d}" for i in range(23)]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 23, 30])
def test_shards_partition_the_fleet_evenly(count):
    shards = [shard_names(NAMES, (k, count)) for k in range(1, count + 1)]
    flat = [name for shard in shards for name in shard]
    assert sorted(flat) == sorted(NAMES) and len(flat) == len(set(flat))
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1


def test_shards_do_not_depend_on_inventory_order():
    shuffled = NAMES[:]
    random.Random(7).shuffle(shuffled)
    for k in (1, 2, 3):
        assert shard_names(shuffled, (k, 3)) == shard_names(NAMES, (k, 3))


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1-3", "/3"])
def test_bad_shard_specs(text):
    with pytest.raises(InventoryError):
        parse_shard(text)


def test_shard_spec():
    assert (
        parse_shard("2/4") == (2, 4)
        and parse_shard(" 1 / 1 ") == (1, 1)
        and parse_shard(None) is None
    )


def write_inventory(path: Path, names: list[str]) -> None:
    hosts = ",\n".join(f'    ("{n}", {{"ssh_hostname": "127.0.0.1"}})' for n in names)
    path.write_text(f"linux = [\n{hosts},\n]\n")


def hosts_of(inventory: Path, *args: str) -> list[str]:
    proc = subprocess.run(
        [BCDRFIX, "inventory", "hosts", str(inventory), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=inventory.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_cli_shards_of_two_differently_ordered_inventories_agree(tmp_path):
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    write_inventory(one, NAMES)
    write_inventory(two, list(reversed(NAMES)))
    shards = [hosts_of(one, "--shard", f"{k}/4") for k in range(1, 5)]
    assert [hosts_of(two, "--shard", f"{k}/4") for k in range(1, 5)] == shards
    assert sorted(n for s in shards for n in s) == sorted(NAMES)


def test_limit_arguments_for_pyinfra(tmp_path):
    inv = tmp_path / "inv.py"
    write_inventory(inv, NAMES[:4])
    args = hosts_of(inv, "--shard", "2/2", "--format", "limit")
    assert args == ["--limit=vm-001", "--limit=vm-003"]


def test_limit_then_shard(tmp_path):
    inv = tmp_path / "inv.py"
    write_inventory(inv, NAMES)
    assert hosts_of(inv, "--limit", "vm-00*", "--shard", "1/2") == [
        "vm-000",
        "vm-002",
        "vm-004",
        "vm-006",
        "vm-008",
    ]
