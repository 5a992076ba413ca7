"""Fleet-scale benchmark of the Linux agent remediation on the local lab (needs root).

Boots N lab hosts with the demo faults, runs deploys/linux_agent.py twice (fixing run and
no-change run), then a read-only audit of the whole fleet, and records wall times, controller
peak memory and commands per host. Compares with
the targets below and exits 1 when one is missed. Not part of `make test`: timing belongs here,
not in tests.

    make bench                      # 20 hosts
    .venv/bin/python benchmarks/run.py --hosts 30 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from bcdrfix.lab import lab  # noqa: E402
from bcdrfix.lab.faults import DEMO_FAULTS  # noqa: E402

# Targets for 20 hosts on a 2-core machine (published pyinfra figure: 25 hosts, 2.2 s).
TARGETS = {
    "no_change_run_seconds": 10.0,
    "fix_run_seconds": 20.0,
    "no_change_commands_per_host": 1,  # the single batched observation
    "controller_peak_rss_mb": 400,
    "audit_seconds": 10.0,
}


def pyinfra(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), "-y", "-vv", "inventories/lab.py", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"pyinfra failed:\n{proc.stdout[-3000:]}")
    return elapsed, proc.stdout


def audit() -> float:
    """Wall time of a read-only `bcdrfix audit` of the (fixed) lab; exit 0 expected."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "bcdrfix"), "audit", "inventories/lab.py", "-q"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SystemExit(f"audit after the fix did not pass:\n{proc.stdout[-3000:]}")
    return time.monotonic() - start


def commands_per_host(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for host in re.findall(r"\[([\w-]+)\] >>> ", output):
        counts[host] = counts.get(host, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    lab.down(log=lambda *_: None)
    plan = lab.plan_hosts(args.hosts, lab.FLAVORS, {})
    faults = {h.name: DEMO_FAULTS[i % len(DEMO_FAULTS)] for i, h in enumerate(plan)}
    boot_start = time.monotonic()
    lab.up(args.hosts, lab.FLAVORS, faults, log=lambda *_: None)
    boot = time.monotonic() - boot_start
    try:
        fix_time, fix_out = pyinfra("deploys/linux_agent.py")
        same_time, same_out = pyinfra("deploys/linux_agent.py")
        audit_time = audit()
    finally:
        lab.down(log=lambda *_: None)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    no_change_counts = commands_per_host(same_out)
    results = {
        "hosts": args.hosts,
        "lab_boot_seconds": round(boot, 2),
        "fix_run_seconds": round(fix_time, 2),
        "no_change_run_seconds": round(same_time, 2),
        "audit_seconds": round(audit_time, 2),
        "fix_commands_per_host_max": max(commands_per_host(fix_out).values()),
        "no_change_commands_per_host": max(no_change_counts.values()),
        "controller_peak_rss_mb": round(peak_rss_mb, 1),
    }
    missed = [k for k, limit in TARGETS.items() if results[k] > limit]
    results["targets"] = TARGETS
    results["missed"] = missed
    print(json.dumps(results, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
