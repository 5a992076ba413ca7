"""``bcdrfix audit``: the read-only audit of an inventory, with reports."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from bcdrfix.audit.engine import run_audit
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.options import inventory_slice
from bcdrfix.cli.output import console, echo_json, json_option, quiet_option, verbose_option
from bcdrfix.core.settings import SettingsError
from bcdrfix.inventory.load import InventoryError, load_inventory
from bcdrfix.reports import ReportError, check_report_paths, write_reports
from bcdrfix.reports.terminal import (
    LiveProgress,
    print_findings,
    print_summary,
    printable,
    summary_line,
)


@click.command("audit")
@inventory_slice
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FILE",
    help="Write a report: .json (schema'd), .xml (JUnit) or .html. Repeatable.",
)
@json_option("Print the report document (the .json report) on stdout instead of the table.")
@quiet_option("No progress and no table: the summary line only (with --json: no progress).")
@verbose_option("Also list every finding with its evidence, the codes it prevents and its fix.")
def audit_command(
    inventory: str,
    limits: tuple[str, ...],
    shard: str | None,
    reports: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Check every applicable control on every host, changing nothing.

    Per host and control: pass, fail, needs-approval, not-applicable or error, with the
    evidence and the Azure error codes the control prevents. One batched observation per host.

    Exit status (the same for fix): 0 all pass, 1 findings, 2 a host could not be audited
    (unreachable, observation failed, no address) or bad input (inventory, options).

    \b
    Examples:
      bcdrfix audit inventories/lab.py
      bcdrfix audit inventories/azure.py --limit tag_backup_policy_gold --report audit.html
      bcdrfix audit inventories/azure.py --shard 2/4 --report shard2.json --report shard2.xml
      bcdrfix audit inventories/lab.py --json -q | jq '.summary'
    """

    out = console()
    err = console(stderr=True)
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
    if as_json:
        echo_json(document)
        out = err  # stdout holds only the document
    elif quiet:
        out.print(summary_line(document), soft_wrap=True)
    else:
        print_summary(out, document)
        if verbose:
            print_findings(out, document)
    exit_with(out, document, written)


def exit_with(out: Console, document: dict, written) -> None:
    """Name the reports written, then exit like the audit: 0 all pass, 1 findings, 2 not audited."""
    for path in written:
        out.print(f"report: {printable(path)}")
    sys.exit(document["summary"]["exit_status"])
