"""``bcdrfix report merge``: join audit reports (shards, before/after)."""

from __future__ import annotations

import click

from bcdrfix.cli.audit import exit_with
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.output import console, quiet_option
from bcdrfix.reports import (
    ReportError,
    check_report_paths,
    load_report,
    merge_reports,
    write_reports,
)
from bcdrfix.reports.json_report import MAX_REPORT_MB
from bcdrfix.reports.terminal import summary_line


@click.group("report")
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
@click.option(
    "--inventory",
    metavar="INVENTORY",
    help="The inventory the fix commands name (default: each run's own, when a plain path).",
)
@click.option(
    "--max-size",
    "max_mb",
    type=click.IntRange(1, 4096),
    default=MAX_REPORT_MB,
    show_default=True,
    metavar="MB",
    help="Refuse a report file larger than this (MiB).",
)
@quiet_option("The summary line only.")
def report_merge(
    inputs: tuple[str, ...],
    reports: tuple[str, ...],
    inventory: str | None,
    max_mb: int,
    quiet: bool,
) -> None:
    """Join the JSON reports of several runs (the shards of a fleet, or runs before and after a fix).

    A host found in several reports keeps its latest run. Exits like `bcdrfix audit` would have
    for the merged fleet (0, 1 or 2), so a CI job can gate on the merged result.

    The reports are untrusted input: a file that is too large, not UTF-8 JSON, nested too deeply
    or not a valid report stops the merge with one line (exit 2). Fix commands are never copied
    from a report: this bcdrfix writes them again from the control, the host name, its deploys and
    the inventory (--inventory, else the run's own when it is a plain path, else INVENTORY).

    \b
    Examples:
      bcdrfix report merge shard1.json shard2.json shard3.json --report fleet.html --report fleet.json
    """

    try:
        check_report_paths(reports)
        merged = merge_reports((load_report(path, max_mb) for path in inputs), inventory=inventory)
        write_reports(merged, reports)
    except ReportError as exc:
        raise BcdrfixError(str(exc)) from None
    out = console()
    if not quiet:
        out.print(f"merged {len(inputs)} report(s), {len(merged['runs'])} run(s)")
    out.print(summary_line(merged))
    exit_with(out, merged, reports)
