"""The controller at fleet scale: `bcdrfix audit` of 100, 300 and 1,000 SSH stand-in hosts.

1. Boots a small lab (``--record-hosts``, demo faults) and records, through
   ``benchmarks/standin_ssh.py record``, what real lab hosts answer to bcdrfix's audit and to a
   bare ``pyinfra fact server.Os``; the lab is then removed.
2. Serves the largest size from that recording on loopback addresses (a real key exchange and
   public-key login per connection) and runs ``bcdrfix audit`` and the bare fact pass against
   the first 100, 300, 1,000 of them, measuring wall time, controller CPU and peak memory.
3. Loads inventories of 8,000, 20,000 and 100,000 hosts the way a shard runner does
   (``bcdrfix inventory hosts INV --shard 1/N``), nothing contacted.

Prints a table and exits 1 when a target is missed: growth no worse than linear (per-host cost at
the largest size at most 1.5x the smallest), 1,000-host audit within 60 s and under 1 GB, the
100,000-host inventory loaded within 60 s. Needs root (the lab) and asyncssh
(benchmarks/requirements.txt; `make bench` installs it).

    .venv/bin/python benchmarks/scale.py [--sizes 100,300,1000] [--load-sizes 8000,20000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from run import BIN, REPO, Run, boot, measure

from bcdrfix.lab import lab

STANDIN = REPO / "benchmarks/standin_ssh.py"
INVENTORY = "benchmarks/standin_inventory.py"
RECORD_FIRST = "127.77.0.1"
SERVE_FIRST = "127.77.1.0"
PORT = 2222
MAX_AUDIT_1000_S = 60.0
MAX_PEAK_MB = 1024.0
MAX_PER_HOST_GROWTH = 1.5
MAX_LOAD_100000_S = 60.0


def start_standin(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(STANDIN), *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"the SSH stand-in did not start ({line.strip()!r})")
    return proc


def stop_standin(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def write_spec(path: Path, count: int, first: str, key: str, data: list[dict]) -> dict:
    path.write_text(
        json.dumps({"count": count, "first": first, "port": PORT, "key": key, "data": data})
    )
    return dict(os.environ, BCDRFIX_STANDIN_INVENTORY=str(path))


def lab_host_data(state: lab.LabState) -> list[dict]:
    """Each lab host's inventory data as inventories/lab.py gives it, SSH settings left out."""
    module = runpy.run_path(str(REPO / "inventories/lab.py"))
    by_name = dict(module["linux"])
    return [
        {k: v for k, v in by_name[h.name].items() if not k.startswith("ssh_")} for h in state.hosts
    ]


def audit_cmd(report: Path | None = None) -> list[str]:
    cmd = [str(BIN / "bcdrfix"), "audit", INVENTORY, "-q"]
    return cmd + (["--report", str(report)] if report else [])


def fact_cmd() -> list[str]:
    return [str(BIN / "pyinfra"), "-y", INVENTORY, "fact", "server.Os"]


def record(work: Path, key: str, hosts: int) -> tuple[Path, list[dict]]:
    state = boot(hosts)
    try:
        data = lab_host_data(state)
        pairs = [f"{RECORD_FIRST[:-1]}{i + 1}={h.address}" for i, h in enumerate(state.hosts)]
        recording = work / "recording.json"
        proc = start_standin(
            "record",
            "--authorized",
            key + ".pub",
            "--port",
            str(PORT),
            "--upstream-key",
            state.key,
            "--out",
            str(recording),
            *pairs,
        )
        try:
            env = write_spec(work / "record.json", hosts, RECORD_FIRST, key, data)
            audit = measure(audit_cmd(), env=env)
            if audit.returncode not in (0, 1):
                raise SystemExit(f"recording audit failed:\n{audit.output[-3000:]}")
            fact = measure(fact_cmd(), env=env)
            if fact.returncode != 0:
                raise SystemExit(f"recording fact pass failed:\n{fact.output[-3000:]}")
        finally:
            stop_standin(proc)
    finally:
        lab.down(log=lambda *_: None)
    return recording, data


def audited_hosts(report: Path) -> tuple[int, int]:
    document = json.loads(report.read_text())
    hosts = document["hosts"]
    return sum(1 for h in hosts if h["state"] == "audited"), len(hosts)


def row(run: Run, hosts: int) -> dict:
    return {
        "wall_s": round(run.wall, 2),
        "cpu_s": round(run.cpu, 2),
        "peak_mb": round(run.peak_mb, 1),
        "ms_per_host": round(run.wall / hosts * 1000, 1),
        "cpu_ms_per_host": round(run.cpu / hosts * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SCALE_SIZES", "100,300,1000"))
    parser.add_argument(
        "--load-sizes", default=os.environ.get("BENCH_LOAD_SIZES", "8000,20000,100000")
    )
    parser.add_argument("--record-hosts", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    load_sizes = sorted(int(s) for s in args.load_sizes.split(",") if s)

    work = Path(tempfile.mkdtemp(prefix="bcdrfix-scale-"))
    result: dict = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    try:
        key = str(work / "client_key")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bcdrfix-bench", "-f", key],
            check=True,
        )
        recording, data = record(work, key, args.record_hosts)
        proc = start_standin(
            "serve",
            "--authorized",
            key + ".pub",
            "--port",
            str(PORT),
            "--recording",
            str(recording),
            "--hosts",
            str(max(sizes + [1])),
            "--first",
            SERVE_FIRST,
        )
        audits: dict[int, dict] = {}
        try:
            for size in sizes:
                env = write_spec(work / f"serve-{size}.json", size, SERVE_FIRST, key, data)
                report = work / f"audit-{size}.json"
                audit = measure(audit_cmd(report), env=env)
                if audit.returncode not in (0, 1):
                    raise SystemExit(f"audit of {size} stand-ins failed:\n{audit.output[-3000:]}")
                audited, total = audited_hosts(report)
                fact = measure(fact_cmd(), env=env)
                audits[size] = {
                    "audit": row(audit, size),
                    "bare_fact": row(fact, size),
                    "audited": audited,
                    "hosts_in_report": total,
                    "fact_exit": fact.returncode,
                }
        finally:
            served = stop_standin(proc).strip().splitlines()
        result["standin"] = json.loads(served[-1]) if served else {}
        result["audit"] = audits

        loads: dict[int, dict] = {}
        for size in load_sizes:
            env = write_spec(work / f"load-{size}.json", size, SERVE_FIRST, key, data)
            shards = max(1, size // 1000)
            cmd = [str(BIN / "bcdrfix"), "inventory", "hosts", INVENTORY, "--shard", f"1/{shards}"]
            run = measure(cmd, env=env, timeout=300)
            names = [line for line in run.output.splitlines() if line.startswith("sim-")]
            loads[size] = {
                "shard": f"1/{shards}",
                "hosts_in_shard": len(names),
                "wall_s": round(run.wall, 2),
                "peak_mb": round(run.peak_mb, 1),
                "exit": run.returncode,
            }
        result["inventory_load"] = loads
    finally:
        lab.down(log=lambda *_: None)
        shutil.rmtree(work, ignore_errors=True)

    result["load_average_after"] = os.getloadavg()
    targets = []
    small, large = sizes[0], sizes[-1]
    for size, a in audits.items():
        targets.append((f"{size}: every stand-in audited", a["audited"] == size))
    growth = audits[large]["audit"]["ms_per_host"] / audits[small]["audit"]["ms_per_host"]
    cpu_growth = (
        audits[large]["audit"]["cpu_ms_per_host"] / audits[small]["audit"]["cpu_ms_per_host"]
    )
    result["per_host_growth"] = {"wall": round(growth, 2), "cpu": round(cpu_growth, 2)}
    targets.append(
        (f"wall per host {small}->{large} <= {MAX_PER_HOST_GROWTH}x", growth <= MAX_PER_HOST_GROWTH)
    )
    targets.append(
        (
            f"CPU per host {small}->{large} <= {MAX_PER_HOST_GROWTH}x",
            cpu_growth <= MAX_PER_HOST_GROWTH,
        )
    )
    if 1000 in audits:
        targets.append(
            (
                f"1000-host audit <= {MAX_AUDIT_1000_S} s",
                audits[1000]["audit"]["wall_s"] <= MAX_AUDIT_1000_S,
            )
        )
        targets.append(
            (f"1000-host audit < {MAX_PEAK_MB} MB", audits[1000]["audit"]["peak_mb"] < MAX_PEAK_MB)
        )
    for size, load in loads.items():
        targets.append((f"inventory of {size} loaded (shard {load['shard']})", load["exit"] == 0))
    if 100000 in loads:
        targets.append(
            (
                f"100000-host inventory <= {MAX_LOAD_100000_S} s",
                loads[100000]["wall_s"] <= MAX_LOAD_100000_S,
            )
        )
    result["targets"] = {name: ok for name, ok in targets}
    print_table(result)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(ok for _, ok in targets) else 1


def print_table(r: dict) -> None:
    load = ", ".join(f"{x:.2f}" for x in r["load_average_before"])
    print(
        f"\ncontroller at scale ({r['cpus']} CPUs, load before {load}); SSH stand-in: {r['standin']}"
    )
    print(
        f"{'hosts':>7}{'audit s':>9}{'CPU s':>8}{'peak MB':>9}{'ms/host':>9}{'fact s':>8}{'fact MB':>9}"
    )
    for size, a in r["audit"].items():
        x, f = a["audit"], a["bare_fact"]
        print(
            f"{size:>7}{x['wall_s']:>9}{x['cpu_s']:>8}{x['peak_mb']:>9}{x['ms_per_host']:>9}"
            f"{f['wall_s']:>8}{f['peak_mb']:>9}"
        )
    print(f"per-host growth smallest->largest: {r['per_host_growth']}")
    for size, load in r["inventory_load"].items():
        print(
            f"inventory {size:>7} hosts, shard {load['shard']}: {load['wall_s']} s, "
            f"{load['peak_mb']} MB, {load['hosts_in_shard']} hosts in the shard (exit {load['exit']})"
        )
    for name, ok in r["targets"].items():
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")


if __name__ == "__main__":
    sys.exit(main())
