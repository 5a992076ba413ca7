"""``bcdrfix demo``: a fresh lab with broken agents: audit, fix (previewed, applied, re-run), audit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.lab import lab
from bcdrfix.lab.faults import DEMO_FAULTS

REPO = Path(__file__).resolve().parents[3]
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")
REPORTS = REPO / "reports"


def pyinfra(*args: str) -> None:
    proc = subprocess.run([PYINFRA, *args], cwd=REPO, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BcdrfixError(f"pyinfra {' '.join(args)} failed with exit status {proc.returncode}")


def audit(name: str, expect: int) -> None:
    """``bcdrfix audit`` with JSON/JUnit/HTML reports in reports/; exit status as expected or fail."""
    REPORTS.mkdir(exist_ok=True)
    reports = [
        arg for ext in ("json", "xml", "html") for arg in ("--report", f"reports/{name}.{ext}")
    ]
    proc = subprocess.run(
        [BCDRFIX, "audit", "inventories/lab.py", *reports], cwd=REPO, stdin=subprocess.DEVNULL
    )
    if proc.returncode != expect:
        raise BcdrfixError(f"bcdrfix audit exited with {proc.returncode}, expected {expect}")


def banner(text: str) -> None:
    click.secho(f"\n=== {text} ===", bold=True)


@click.command("demo")
@click.option("--hosts", default=len(DEMO_FAULTS), show_default=True, help="Number of lab hosts.")
@click.option("--down/--keep", default=False, help="Remove the lab at the end (default: keep it).")
def demo(hosts: int, down: bool) -> None:
    """Boot the local lab with broken agents and fix them with deploys/linux_agent.py.

    \b
    Steps: lab up (fresh) -> audit (findings) -> preview (--dry) -> fix -> second run (changes
    nothing) -> audit (no findings). Reports land in reports/ (before.* and after.*).
    """
    try:
        banner("1. A fresh lab of real hosts with broken Azure agents")
        lab.down(log=lambda *_: None)
        plan = lab.plan_hosts(hosts, lab.FLAVORS, {})
        faults = {h.name: DEMO_FAULTS[i % len(DEMO_FAULTS)] for i, h in enumerate(plan)}
        state = lab.up(hosts, lab.FLAVORS, faults, log=click.echo)
    except lab.LabError as exc:
        raise BcdrfixError(str(exc)) from None
    for host in state.hosts:
        click.echo(f"  {host.name:16} {host.unit:22} {', '.join(host.known_faults) or 'clean'}")
    banner("2. Audit: what would make backups fail, changing nothing (bcdrfix audit)")
    audit("before", expect=1)
    banner("3. What the fix would change (pyinfra --dry)")
    pyinfra("inventories/lab.py", "deploys/linux_agent.py", "--dry")
    banner("4. Fix (pyinfra over SSH)")
    pyinfra("-y", "inventories/lab.py", "deploys/linux_agent.py")
    banner("5. Second run: nothing left to change")
    pyinfra("-y", "inventories/lab.py", "deploys/linux_agent.py")
    banner("6. Audit again: the findings are gone")
    audit("after", expect=0)
    click.echo(f"\nReports: {REPORTS}/before.html and {REPORTS}/after.html (also .json, .xml)")
    if down:
        lab.down(log=click.echo)
    else:
        click.echo(
            "\nThe lab is still up: `bcdrfix lab status`, ssh in with the key in "
            f"{state.key}, or `bcdrfix lab down`."
        )
