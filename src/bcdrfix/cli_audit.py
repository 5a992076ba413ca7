"""``bcdrfix audit``, ``bcdrfix report merge`` and ``bcdrfix inventory hosts``."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from bcdrfix.cli import BcdrfixError, main
from bcdrfix.core.settings import SettingsError

SHARD_HELP = "Audit only slice K of N (deterministic: sorted host names, every N-th), e.g. 2/4."
LIMIT_HELP = "Only these hosts or groups (pyinfra --limit rules; repeat or separate with commas)."


@main.command("audit")
@click.argument("inventory", metavar="INVENTORY")
@click.option("--limit", "limits", multiple=True, metavar="HOSTS", help=LIMIT_HELP)
@click.option("--shard", metavar="K/N", help=SHARD_HELP)
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FILE",
    help="Write a report: .json (schema'd), .xml (JUnit) or .html. Repeatable.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress and no table: the summary line only."
)
def audit_command(
    inventory: str,
    limits: tuple[str, ...],
    shard: str | None,
    reports: tuple[str, ...],
    quiet: bool,
) -> None:
    """Check every applicable control on every host, changing nothing.

    Per host and control: pass, fail, needs-approval, not-applicable or error, with the
    evidence and the Azure error codes the control prevents. One batched observation per host.

    Exit status: 0 all pass, 1 findings, 2 hosts that could not be audited (or a bad inventory).

    \b
    Examples:
      bcdrfix audit inventories/lab.py
      bcdrfix audit inventories/azure.py --limit tag_backup_policy_gold --report audit.html
      bcdrfix audit inventories/azure.py --shard 2/4 --report shard2.json --report shard2.xml
    """
    from bcdrfix.audit import run_audit
    from bcdrfix.inventory_tools import InventoryError, load_inventory
    from bcdrfix.reports import ReportError, check_report_paths, write_reports
    from bcdrfix.reports.terminal import LiveProgress, print_summary

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        check_report_paths(reports)
        loaded = load_inventory(inventory, limit=limits, shard=shard)
    except (InventoryError, ReportError) as exc:
        raise BcdrfixError(str(exc)) from None

    live = LiveProgress(err)
    progress = None if quiet else live.callbacks()
    try:
        document = run_audit(inventory, loaded=loaded, progress=progress)
    except SettingsError as exc:
        raise BcdrfixError(str(exc)) from None
    finally:
        live.stop()
    try:
        written = write_reports(document, reports)
    except (ReportError, OSError) as exc:
        raise BcdrfixError(f"writing reports: {exc}") from None
    if quiet:
        from bcdrfix.reports.terminal import summary_line

        out.print(summary_line(document))
    else:
        print_summary(out, document)
    _exit_with(out, document, written)


def _exit_with(out: Console, document: dict, written) -> None:
    """Name the reports written, then exit like the audit: 0 all pass, 1 findings, 2 not audited."""
    for path in written:
        out.print(f"report: {path}")
    sys.exit(document["summary"]["exit_status"])


@main.group("report")
def report_group() -> None:
    """Work with audit reports (JSON written by `bcdrfix audit --report X.json`)."""


@report_group.command("merge")
@click.argument("inputs", nargs=-1, required=True, metavar="REPORT.json...")
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FILE",
    required=True,
    help="Write the merged report: .json, .xml (JUnit) or .html. Repeatable.",
)
def report_merge(inputs: tuple[str, ...], reports: tuple[str, ...]) -> None:
    """Join the JSON reports of several runs (the shards of a fleet, or runs before and after a fix).

    A host found in several reports keeps its latest run. Exits like `bcdrfix audit` would have
    for the merged fleet (0, 1 or 2), so a CI job can gate on the merged result.

    \b
    Examples:
      bcdrfix report merge shard1.json shard2.json shard3.json --report fleet.html --report fleet.json
    """
    from bcdrfix.reports import (
        ReportError,
        check_report_paths,
        load_report,
        merge_reports,
        write_reports,
    )
    from bcdrfix.reports.terminal import summary_line

    try:
        check_report_paths(reports)
        merged = merge_reports(load_report(path) for path in inputs)
        write_reports(merged, reports)
    except ReportError as exc:
        raise BcdrfixError(str(exc)) from None
    out = Console(highlight=False)
    out.print(f"merged {len(inputs)} report(s), {len(merged['runs'])} run(s)")
    out.print(summary_line(merged))
    _exit_with(out, merged, reports)


@main.group("inventory")
def inventory_group() -> None:
    """Inspect inventories the way bcdrfix and pyinfra load them (nothing is contacted)."""


@inventory_group.command("hosts")
@click.argument("inventory", metavar="INVENTORY")
@click.option("--limit", "limits", multiple=True, metavar="HOSTS", help=LIMIT_HELP)
@click.option("--shard", metavar="K/N", help=SHARD_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["names", "limit", "json"]),
    default="names",
    show_default=True,
    help="names: one per line; limit: pyinfra --limit arguments; json.",
)
def inventory_hosts(inventory: str, limits: tuple[str, ...], shard: str | None, fmt: str) -> None:
    """List the hosts of an inventory slice, e.g. to run a pyinfra deploy on one shard.

    \b
    Examples:
      bcdrfix inventory hosts inventories/azure.py --shard 1/3
      pyinfra inventories/azure.py deploys/linux_agent.py -y \\
          $(bcdrfix inventory hosts inventories/azure.py --shard 1/3 --format limit)
    """
    from bcdrfix.inventory_tools import InventoryError, host_address, load_inventory

    try:
        loaded = load_inventory(inventory, limit=limits, shard=shard)
    except InventoryError as exc:
        raise BcdrfixError(str(exc)) from None
    if fmt == "names":
        for host in loaded.selected:
            click.echo(host.name)
    elif fmt == "limit":
        if not loaded.selected:
            raise BcdrfixError("this slice has no host to contact")
        click.echo(" ".join(f"--limit={host.name}" for host in loaded.selected))
    else:
        rows = [
            {
                "name": h.name,
                "groups": sorted(set(h.groups)),
                "address": host_address(h)[1],
                "contact": True,
            }
            for h in loaded.selected
        ]
        rows += [
            {
                "name": m.name,
                "groups": sorted(set(m.groups)),
                "address": None,
                "contact": False,
                "reason": m.reason,
                "kind": m.kind,
            }
            for m in loaded.not_contacted
        ]
        click.echo(json.dumps(sorted(rows, key=lambda r: r["name"]), indent=2))
