"""``bcdrfix fix INVENTORY --code CODE``: fix what one error code needs, per host."""

from __future__ import annotations

import glob
import shlex
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bcdrfix.audit.diagnose import plan_fixes, run_diagnose
from bcdrfix.catalog import (
    CodeNotFound,
)
from bcdrfix.cli.diagnose import print_diagnosis
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.explain import catalog_or_exit
from bcdrfix.cli.output import (
    console,
    echo_json,
    json_option,
    printable,
    quiet_option,
    text,
    verbose_option,
)
from bcdrfix.core.settings import SettingsError
from bcdrfix.fix.by_code import (
    ALREADY_RIGHT,
    CHANGED,
    CHANGED_REST_BY_HAND,
    ERROR,
    EXIT_ATTENTION,
    EXIT_FAILED,
    EXIT_OK,
    FAILED,
    NEEDS_APPROVAL,
    NOT_APPLICABLE,
    NOT_CHANGED,
    NOT_RUN,
    WOULD_CHANGE,
    FixInputError,
    FixReport,
    parse_data,
    run_fix,
)
from bcdrfix.inventory.load import InventoryError

# --- fix --------------------------------------------------------------------------------------


@click.command("fix")
@click.argument("inventory")
@click.option("--code", help="Error code, code pair or message fragment (see bcdrfix codes).")
@click.option(
    "--from-guest-status",
    is_flag=True,
    help="Fix each host by the code its own backup extension last reported (bcdrfix diagnose).",
)
@click.option(
    "--limit",
    multiple=True,
    metavar="HOSTS",
    help="Only these hosts or groups (globs, comma-separated, repeatable).",
)
@click.option("--dry", is_flag=True, help="Observe and report what would change; change nothing.")
@click.option(
    "--allow-disruptive",
    is_flag=True,
    help="Run disruptive fixes too (service restarts, reinstalls, unmount/fsck).",
)
@click.option(
    "--data",
    "data_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra host data for this run, as pyinfra --data (e.g. bcdrfix_agent_restart=true).",
)
@click.option("--group-data", multiple=True, metavar="DIR", help="Extra group_data directory.")
@json_option("Print the per-host report as JSON on stdout (progress stays on stderr).")
@quiet_option("No progress and no table: one line per host (with --json: no progress).")
@verbose_option("Also show why each control is already right, and every step of each fix.")
def fix(
    inventory: str,
    code: str | None,
    from_guest_status: bool,
    limit: tuple[str, ...],
    dry: bool,
    allow_disruptive: bool,
    data_items: tuple[str, ...],
    group_data: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Run the controls the catalog maps to an error code on every host of INVENTORY.

    Uses pyinfra with the usual inventory and group_data/ conventions. The code, the inventory
    and every host's bcdrfix settings are validated before any host is contacted. An unreachable
    host fails alone. Progress goes to stderr as it happens.

    Exit status (the same as audit): 0 all right or fixed; 1 something waits for you (needs
    approval or an opt-in, rest by hand, or would change with --dry); 2 a host was unreachable or
    a fix failed, or bad input.

    \b
    Examples:
      bcdrfix fix inventories/lab.py --code 151099 --dry
      bcdrfix fix inventories/lab.py --code UserErrorGuestAgentStatusUnavailable --limit lab-debian-01
      bcdrfix fix inventories/prod.py --code ExtensionFailedVssWriterInBadState --allow-disruptive
      bcdrfix fix inventories/prod.py --code 151095 --data bcdrfix_agent_upgrade=true --json
    Same with plain pyinfra:
      pyinfra inventories/lab.py bcdrfix.deploys.fix_error_code --data error_code=151099
    Each host by the code its own backup extension reported (see bcdrfix diagnose):
      bcdrfix fix inventories/prod.py --from-guest-status --dry
    """
    catalog_or_exit()
    err = console(stderr=True)

    def progress(line: str) -> None:
        err.print(text(line, "dim"), soft_wrap=True)  # one line per event in CI logs

    if from_guest_status and code:
        raise BcdrfixError("pass either --code CODE or --from-guest-status, not both")
    if not from_guest_status and not code:
        raise BcdrfixError("pass either --code CODE or --from-guest-status")
    try:
        data = parse_data(data_items)
    except FixInputError as exc:
        raise BcdrfixError(str(exc)) from None
    options: dict[str, Any] = {
        "limit": limit,
        "dry": dry,
        "allow_disruptive": allow_disruptive,
        "data": data,
        "group_data": group_data,
        "progress": None if quiet else progress,
    }
    if not code:  # --from-guest-status
        _fix_from_guest_status(inventory, options, as_json, quiet=quiet, verbose=verbose)
    try:
        report = run_fix(inventory, code, **options)
    except (FixInputError, InventoryError, CodeNotFound, SettingsError) as exc:
        raise BcdrfixError(str(exc)) from None
    if as_json:
        echo_json(report.as_dict())
    elif quiet:
        _print_host_lines(console(), report)
    else:
        _print_report(console(), report, verbose)
    sys.exit(report.exit_code)


OUTCOME_STYLE = {
    CHANGED: "green",
    WOULD_CHANGE: "yellow",
    ALREADY_RIGHT: "dim",
    NOT_APPLICABLE: "dim",
    NEEDS_APPROVAL: "yellow",
    NOT_CHANGED: "yellow",
    CHANGED_REST_BY_HAND: "yellow",
    FAILED: "red",
    ERROR: "red",
    NOT_RUN: "red",
}
QUIET_OUTCOMES = (ALREADY_RIGHT, NOT_APPLICABLE)  # their reason is shown with -v


def outcome_text(outcome: str) -> Text:
    """An outcome as people read it (``needs-approval`` -> ``needs approval``)."""
    return Text(outcome.replace("-", " "), style=OUTCOME_STYLE.get(outcome, ""))


def _print_report(console: Console, report: FixReport, verbose: int = 0) -> None:
    title = f"bcdrfix fix {', '.join(report.codes)}{' (dry run: nothing was changed)' if report.dry else ''}"
    table = Table(title=title)
    table.add_column("Host", no_wrap=True)
    table.add_column("Control", no_wrap=True)
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Detail", ratio=1, overflow="fold")
    for host in report.hosts:
        if not host.reachable or (host.error and not host.outcomes):
            table.add_row(
                text(host.name),
                "-",
                Text("unreachable" if not host.reachable else "error", style="red"),
                text(host.error or ""),
            )
            continue
        for number, outcome in enumerate(host.outcomes):
            detail = outcome.summary
            if verbose or outcome.outcome in (CHANGED, WOULD_CHANGE, NOT_CHANGED):
                if outcome.steps:
                    detail += " -> " + "; ".join(outcome.steps)
            if outcome.error:
                detail += f" -> {outcome.error}"
            if outcome.outcome in QUIET_OUTCOMES and not verbose:
                detail = ""
            last = number == len(host.outcomes) - 1 and not host.error
            table.add_row(
                text(host.name) if number == 0 else "",
                outcome.control,
                outcome_text(outcome.outcome),
                text(detail),
                end_section=last,
            )
        if host.error:
            table.add_row(
                text(host.name),
                "-",
                Text("error", style="red"),
                text(host.error),
            )
    if not console.is_terminal:
        console.width = max(console.width, 140)  # piped into a log: keep rows readable
    console.print(table)
    _print_host_lines(console, report)
    if report.control_plane:
        console.print()
        console.print(
            Text(
                "Azure control-plane steps bcdrfix does not run "
                f"(bcdrfix explain {printable(shlex.quote(report.query))} prints the commands):",
                style="bold",
            )
        )
        for step in report.control_plane:
            console.print(
                Text(f"  - {step['title']}{'  [disruptive]' if step['disruptive'] else ''}")
            )


def _print_host_lines(console: Console, report: FixReport) -> None:
    """One line per host: its outcomes counted, or why it was not fixed."""
    for host in report.hosts:
        name = printable(host.name)
        if host.reachable and host.outcomes:
            counts: dict[str, int] = {}
            for outcome in host.outcomes:
                counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
            summary = ", ".join(f"{n} {what.replace('-', ' ')}" for what, n in counts.items())
            console.print(Text(f"{name} ({host.platform}): {summary}"))
        elif not host.reachable:
            console.print(Text(f"{name}: unreachable ({printable(host.error)})", style="red"))
        elif host.error:
            console.print(Text(f"{name}: error ({printable(host.error)})", style="red"))


# --- fix --from-guest-status: each host by its own code ----------------------------------------


def run_fix_from_guest_status(
    inventory: str,
    *,
    limit: Iterable[str] = (),
    dry: bool = False,
    allow_disruptive: bool = False,
    data: dict | None = None,
    group_data: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
) -> tuple[dict, dict[str, FixReport]]:
    """Diagnose, then ``bcdrfix fix --code`` per catalog code on exactly the hosts that reported it.

    Exit status, the scheme of audit and fix: 0 every failed host fixed (or nothing to fix);
    1 something waits for a person (approval, an opt-in, a failure only Azure or a person can
    fix, an uncertain mapping) or would change (``dry``); 2 a host could not be diagnosed or
    fixed.
    """
    diagnosis = run_diagnose(inventory, limit=limit)
    groups, left_alone, attention = plan_fixes(diagnosis)
    fixed: list[dict[str, Any]] = []
    exits: list[int] = []
    reports: dict[str, FixReport] = {}
    for code, rows in sorted(groups.items()):
        report = run_fix(
            inventory,
            code,
            limit=[glob.escape(row["host"]) for row in rows],
            dry=dry,
            allow_disruptive=allow_disruptive,
            data=data,
            group_data=group_data,
            progress=progress,
        )
        fixed.append(
            {
                "code": code,
                "internal_codes": sorted({r["code_name"] for r in rows if r["code_name"]}),
                "hosts": [r["host"] for r in rows],
                "report": report.as_dict(),
            }
        )
        exits.append(report.exit_code)
        reports[code] = report
    if EXIT_FAILED in exits or any(row["kind"] == "not-diagnosed" for row in attention):
        exit_code = EXIT_FAILED
    elif EXIT_ATTENTION in exits or attention:
        exit_code = EXIT_ATTENTION
    else:
        exit_code = EXIT_OK
    document = {
        "schema": "bcdrfix-fix-from-guest-status",
        "dry": dry,
        "groups": fixed,
        "left_alone": left_alone,
        "attention": attention,
        "diagnosis": diagnosis,
        "exit_code": exit_code,
    }
    return document, reports


def _fix_from_guest_status(
    inventory: str, options: dict[str, Any], as_json: bool, quiet: bool = False, verbose: int = 0
) -> NoReturn:
    """``bcdrfix fix INVENTORY --from-guest-status``: each host fixed by its own reported code;
    ``options`` are those of ``run_fix`` (limit, dry, allow_disruptive, data, group_data, progress)."""
    try:
        result, reports = run_fix_from_guest_status(inventory, **options)
    except (InventoryError, FixInputError, SettingsError) as exc:
        raise BcdrfixError(str(exc)) from None
    out = console()
    if as_json:
        echo_json(result)
    elif quiet:
        for report in reports.values():
            _print_host_lines(out, report)
    else:
        print_diagnosis(out, result["diagnosis"])
        _print_groups(out, result, reports, verbose)
    sys.exit(result["exit_code"])


def _print_groups(
    console: Console, result: dict, reports: dict[str, FixReport], verbose: int = 0
) -> None:
    for group in result["groups"]:
        console.print()
        internal = ", ".join(group["internal_codes"])
        console.print(
            Text(
                printable(f"{group['code']} ({internal}): {', '.join(group['hosts'])}"),
                style="bold",
            )
        )
        _print_report(console, reports[group["code"]], verbose)
    if result["attention"]:
        console.print()
        console.print(Text("Not fixed, needs a person:", style="bold yellow"))
        for row in result["attention"]:
            line = f"  {row['host']}: {row['code_name'] or '-'}: {row['why']}"
            console.print(text(line))
    if result["left_alone"]:
        console.print()
        console.print(Text("Left alone (no failure in the guest):", style="bold"))
        for row in result["left_alone"]:
            console.print(text(f"  {row['host']}: {row['why']}"))
