"""``bcdrfix audit``: the read-only audit of an inventory, with reports."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from bcdrfix.audit.engine import run_audit
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.options import inventory_slice
from bcdrfix.core.settings import SettingsError
from bcdrfix.inventory.load import InventoryError, load_inventory
from bcdrfix.reports import ReportError, check_report_paths, write_reports
from bcdrfix.reports.terminal import LiveProgress, print_summary, summary_line


@click.command("audit")
@inventory_slice
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
        out.print(summary_line(document))
    else:
        print_summary(out, document)
    exit_with(out, document, written)


def exit_with(out: Console, document: dict, written) -> None:
    """Name the reports written, then exit like the audit: 0 all pass, 1 findings, 2 not audited."""
    for path in written:
        out.print(f"report: {path}")
    sys.exit(document["summary"]["exit_status"])
