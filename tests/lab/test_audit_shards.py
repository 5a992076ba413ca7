"""Sharded audit as the CI pipelines run it: N shard processes in parallel, then one merge.

The same commands as .github/workflows/audit-shards.yml and azure-pipelines/audit-shards.yml
(``bcdrfix audit INV --shard K/N -q --report shard-K.json`` in parallel, then
``bcdrfix report merge shard-*.json --report X.json --report X.html --report X.xml``) against real
lab hosts; the merged report must say what a single unsharded audit says, timestamps and run ids
aside, and exit the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from junitparser import JUnitXml
from labtools import REPO

LAB = {
    "hosts": 5,
    "faults": {
        "lab-debian-01": ["agent-stopped", "extensions-disabled"],
        "lab-rhel-02": ["restart-no", "article-key"],
        "lab-debian-03": ["unit-disabled", "verbose-off"],
        # lab-rhel-04 clean, lab-debian-05 only Debian's own restart-missing
    },
}
SHARDS = 3
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")
RUN_FIELDS = {"run", "duration_s"}  # per-run values on each host entry


def audit(*args: str) -> list[str]:
    return [BCDRFIX, "audit", "inventories/lab.py", "-q", *args]


def comparable(document: dict) -> dict:
    """What a report says about the fleet, without run ids, timestamps or durations."""
    return {
        "controls": sorted(document["controls"], key=lambda c: c["id"]),
        "hosts": [
            {k: v for k, v in host.items() if k not in RUN_FIELDS}
            for host in sorted(document["hosts"], key=lambda h: h["name"])
        ],
        "results": sorted(document["results"], key=lambda r: (r["host"], r["control"])),
        "summary": document["summary"],
    }


def test_parallel_shards_merge_to_the_unsharded_audit(lab, tmp_path):
    single = subprocess.run(
        audit("--report", str(tmp_path / "single.json")),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 1, single.stdout + single.stderr  # the seeded findings

    shards = [
        subprocess.Popen(
            audit("--shard", f"{k}/{SHARDS}", "--report", str(tmp_path / f"shard-{k}.json")),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(1, SHARDS + 1)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in shards]
    assert all(proc.returncode in (0, 1) for proc in shards), outputs

    shard_docs = [json.loads((tmp_path / f"shard-{k}.json").read_text()) for k in range(1, 4)]
    names = [sorted(h["name"] for h in doc["hosts"]) for doc in shard_docs]
    assert sorted(n for shard in names for n in shard) == sorted(h.name for h in lab.hosts)
    assert all(names), "every shard got hosts"
    assert [doc["runs"][0]["shard"] for doc in shard_docs] == ["1/3", "2/3", "3/3"]

    merged_paths = [tmp_path / f"fleet.{ext}" for ext in ("json", "html", "xml")]
    merge = subprocess.run(
        [
            BCDRFIX,
            "report",
            "merge",
            *(str(tmp_path / f"shard-{k}.json") for k in range(1, SHARDS + 1)),
            *(arg for path in merged_paths for arg in ("--report", str(path))),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merge.returncode == single.returncode, merge.stdout + merge.stderr

    merged = json.loads(merged_paths[0].read_text())
    unsharded = json.loads((tmp_path / "single.json").read_text())
    assert comparable(merged) == comparable(unsharded)
    assert len(merged["runs"]) == SHARDS

    junit = JUnitXml.fromfile(str(merged_paths[2]))
    assert sorted(suite.name for suite in junit) == sorted(h.name for h in lab.hosts)
    html = merged_paths[1].read_text()
    assert all(h.name in html for h in lab.hosts)
