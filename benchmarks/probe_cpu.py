"""Guest CPU of each Linux probe, alone, on a running lab host (needs root and `bcdrfix lab up`).

For every probe of the batched observation, runs the observation script with that probe only
over SSH (the settings a lab host gets from ``inventories/lab.py``) and reads the host's cgroup
CPU accounting around it, the same way ``benchmarks/run.py`` measures a whole observation. The
cost of the SSH session itself (``true``) is subtracted; the preamble (unit detection) is
reported on its own and subtracted from each probe. ``all`` is the audit's whole script.

    BCDRFIX_LAB_ID=11 .venv/bin/python benchmarks/probe_cpu.py [--host NAME] [--repeat 7]
    ... --dump FILE     # also write each probe's parsed output (JSON) to compare before/after
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from run import cgroup_cpu_us  # noqa: E402

from bcdrfix.controls import REGISTRY, load_settings  # noqa: E402
from bcdrfix.core.observe import (  # noqa: E402
    PROBES,
    build_script,
    linux_probe_variables,
    parse_output,
)
from bcdrfix.lab import lab  # noqa: E402
from bcdrfix.lab.endpoints import lab_endpoint_data  # noqa: E402


def forks() -> int:
    """Processes created so far on this machine (the kernel's counter, lab hosts included)."""
    with open("/proc/stat") as stat:
        return next(int(line.split()[1]) for line in stat if line.startswith("processes "))


def cpu_ms(state, host, command: str, repeat: int) -> tuple[float, int, str]:
    """Median guest CPU (ms) of ``command`` over SSH, the fewest processes it created (other
    activity only adds: the minimum is the command's own count), and its last output."""
    samples, counts, out = [], [], ""
    for _ in range(repeat):
        before, started = cgroup_cpu_us(host), forks()
        out = lab.ssh(state, host, command, check=False).stdout
        counts.append(forks() - started)
        samples.append((cgroup_cpu_us(host) - before) / 1000)
    return sorted(samples)[len(samples) // 2], min(counts), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="lab host name (default: the first)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--probe", action="append", help="only these probes (repeatable)")
    parser.add_argument("--dump", help="write each probe's parsed output to this JSON file")
    args = parser.parse_args()
    state = lab.LabState.load()
    if state is None:
        raise SystemExit("no lab is running: `bcdrfix lab up` (with BCDRFIX_LAB_ID)")
    host = next((h for h in state.hosts if h.name == args.host), None) if args.host else None
    host = host or state.hosts[0]
    settings = load_settings({**lab_endpoint_data(state.subnet), **host.host_data}, host.name)
    variables = linux_probe_variables(settings)
    audit_probes = sorted({p for c in REGISTRY.all("linux") for p in c.probes})

    ssh_ms, ssh_n, _ = cpu_ms(state, host, "true", args.repeat)
    preamble_ms, pre_n, _ = cpu_ms(state, host, build_script((), None, variables), args.repeat)
    preamble_ms -= ssh_ms
    pre_n -= ssh_n
    print(
        f"{host.name}: SSH session {ssh_ms:.1f} ms, {ssh_n} processes (subtracted); "
        f"preamble {preamble_ms:.1f} ms, {pre_n} processes"
    )
    dump = {}
    for name in args.probe or sorted(PROBES):
        ms, n, out = cpu_ms(state, host, build_script([name], None, variables), args.repeat)
        dump[name] = parse_output(out.splitlines()).get(name)
        print(f"  {name:24} {ms - ssh_ms - preamble_ms:6.1f} ms {n - ssh_n - pre_n:4} processes")
    if not args.probe:
        ms, n, out = cpu_ms(state, host, build_script(audit_probes, None, variables), args.repeat)
        print(
            f"  {'all (audit script)':24} {ms - ssh_ms:6.1f} ms {n - ssh_n:4} processes "
            "(preamble included)"
        )
    if args.dump:
        Path(args.dump).write_text(json.dumps(dump, indent=1, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
