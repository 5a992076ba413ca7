"""``bcdrfix lab up|down|status|faults``: a click group the ``bcdrfix`` command adds.

The lab imports nothing from the engine or the command line; the command line adds this group.
"""

from __future__ import annotations

import json

import click

from bcdrfix.lab import lab
from bcdrfix.lab.faults import DEMO_FAULTS, FAULTS


class LabCommandError(click.ClickException):
    """A one-line error for the user (exit status 2, like every bcdrfix command)."""

    exit_code = 2


@click.group("lab")
def lab_group() -> None:
    """A local lab of real Linux hosts with broken Azure agents (needs root).

    \b
    Examples:
      bcdrfix lab up                       # 5 hosts, demo faults, both flavors
      bcdrfix lab up --hosts 2 --fault lab-debian-01=agent-stopped,restart-no
      bcdrfix lab status --json
      bcdrfix lab down
    """


@lab_group.command("up")
@click.option(
    "--hosts", "count", default=len(DEMO_FAULTS), show_default=True, help="Number of hosts."
)
@click.option(
    "--flavor",
    "flavors",
    multiple=True,
    type=click.Choice(lab.FLAVORS),
    help="Flavors to cycle through (default: debian, rhel).",
)
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    metavar="HOST=FAULT[,FAULT]",
    help="Seed faults on a host; without any --fault the demo faults are seeded.",
)
@click.option("--clean", is_flag=True, help="Seed no faults at all.")
def lab_up(count: int, flavors: tuple[str, ...], fault_specs: tuple[str, ...], clean: bool) -> None:
    """Boot the lab and write its inventory (inventories/lab.py reads it)."""
    faults: dict[str, list[str]] = {}
    for spec in fault_specs:
        host, sep, names = spec.partition("=")
        if not sep:
            raise LabCommandError(f"--fault {spec!r}: expected HOST=FAULT[,FAULT]")
        faults.setdefault(host.strip(), []).extend(n.strip() for n in names.split(",") if n.strip())
    plan = lab.plan_hosts(count, flavors or lab.FLAVORS, {})
    if not fault_specs and not clean:
        faults = {h.name: DEMO_FAULTS[i % len(DEMO_FAULTS)] for i, h in enumerate(plan)}
    try:
        state = lab.up(count, flavors or lab.FLAVORS, faults, log=click.echo)
    except lab.LabError as exc:
        raise LabCommandError(str(exc)) from None
    for booted in state.hosts:
        faults_text = ", ".join(booted.known_faults) or "clean"
        click.echo(f"  {booted.name:16} {booted.address:14} {booted.unit:22} {faults_text}")


@lab_group.command("down")
def lab_down() -> None:
    """Stop every lab host and remove all it created."""
    try:
        lab.down(log=click.echo)
    except lab.LabError as exc:
        raise LabCommandError(str(exc)) from None


@lab_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lab_status(as_json: bool) -> None:
    """Show the lab's hosts, addresses, units and seeded faults."""
    rows = lab.status()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("lab: not running")
        return
    for row in rows:
        state = "up" if row["running"] else "DOWN"
        click.echo(
            f"{row['name']:16} {row['address']:14} {row['unit']:22} {state:5} "
            f"{', '.join(row['faults']) or 'clean'}"
        )


@lab_group.command("faults")
def lab_faults() -> None:
    """List the faults the lab can seed."""
    for name, text in FAULTS.items():
        click.echo(f"{name:20} {text}")
