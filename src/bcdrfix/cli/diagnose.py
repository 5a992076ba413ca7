"""``bcdrfix diagnose``: each host's last backup error as the guest knows it, and what fixes it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bcdrfix.audit.diagnose import run_diagnose
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.output import console, echo_json, quiet_option, text, verbose_option
from bcdrfix.core.settings import SettingsError
from bcdrfix.core.templating import render
from bcdrfix.inventory.load import InventoryError

RESULT_STYLE = {"failed": "red", "success": "green", "in-progress": "yellow"}
REPORT_FORMATS = (".json", ".html", ".htm")


def check_report_paths(paths) -> None:
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix not in REPORT_FORMATS:
            raise BcdrfixError(
                f"--report {path}: unknown format {suffix or '(none)'}: use .json or .html"
            )
        if not Path(path).resolve().parent.is_dir():
            raise BcdrfixError(
                f"--report {path}: folder {Path(path).resolve().parent} does not exist"
            )


def write_report(document: dict, path: str) -> None:
    if Path(path).suffix.lower() == ".json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render("diagnose.html.j2", document=document, summary=document["summary"])
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def last_result(backup: dict) -> str:
    guest = backup.get("guest")
    if guest == "no-extension":
        return "no backup extension"
    if guest == "not-installed":
        return "assigned, never installed"
    if guest == "no-status":
        return "installed, no result yet"
    if guest == "unreadable":
        return "unreadable status"
    return f"{backup.get('result')} {backup.get('when') or ''}".strip()


def code_text(backup: dict) -> str:
    if not backup.get("code_name") and backup.get("code") is None:
        return "-"
    code = f"{backup.get('code_name') or '?'} ({backup.get('code')})"
    mapping = backup.get("mapping")
    if mapping and mapping.get("catalog_code"):
        arrow = "->" if mapping["confidence"] == "mapped" else "-> uncertain:"
        code += f" {arrow} {mapping['catalog_code']}"
    elif mapping:
        code += " -> no catalog entry"
    return code


def print_diagnosis(
    console: Console, document: dict, quiet: bool = False, verbose: int = 0
) -> None:
    """The table, then details of each failed or unreadable host (``verbose``: of every host
    with the extension), then the summary line (``quiet``: the summary line only)."""
    if not quiet:
        print_hosts(console, document, verbose)
    summary = document["summary"]
    if not quiet:
        console.print()
    console.print(
        text(
            f"{summary['hosts']} hosts: {summary['last_backup_failed']} last backup failed, "
            f"{summary['last_backup_succeeded']} succeeded, {summary['without_extension']} "
            f"without the extension, {summary['not_installed']} assigned but never installed, "
            f"{summary['unreadable']} unreadable, "
            f"{summary['not_diagnosed']} not diagnosed"
        )
    )


def print_hosts(console: Console, document: dict, verbose: int) -> None:
    table = Table(title="Last backup result in the guest")
    table.add_column("Host", no_wrap=True)
    table.add_column("Extension", no_wrap=True)
    table.add_column("Last backup")
    table.add_column("Code -> catalog", overflow="fold")
    table.add_column("Failing now", overflow="fold")
    for host in document["hosts"]:
        backup = host.get("backup")
        if backup is None:
            table.add_row(
                text(host["name"]),
                "-",
                text(host["state"], style="red"),
                text(host.get("message") or ""),
                "",
            )
            continue
        failing = ", ".join(f["control"] for f in backup["failing_controls"]) or "-"
        table.add_row(
            text(host["name"]),
            text(backup.get("version") or "-"),
            text(last_result(backup), style=RESULT_STYLE.get(backup.get("result") or "", "")),
            text(code_text(backup)),
            text(failing),
        )
    if not console.is_terminal:
        console.width = max(console.width, 160)
    console.print(table)
    for host in document["hosts"]:
        backup = host.get("backup") or {}
        wanted = backup.get("result") == "failed" or backup.get("guest") == "unreadable"
        if not (wanted or (verbose and backup.get("guest") == "reported")):
            continue
        console.print()
        console.print(text(f"{host['name']}: {last_result(backup)}", style="bold"))
        if backup.get("guest") == "unreadable":
            console.print(text(f"  {backup.get('problem')}"))
            continue
        console.print(text(f"  operation {backup.get('operation')}, code {code_text(backup)}"))
        console.print(text(f"  message: {backup.get('message')}"))
        if backup.get("mapping"):
            console.print(
                text(f"  mapping: {backup['mapping']['confidence']}: {backup['mapping']['note']}")
            )
        for finding in backup["failing_controls"]:
            console.print(
                text(f"  {finding['status']}: {finding['control']}: {finding['summary']}")
            )
        if backup.get("fix_command"):
            console.print(text(f"  fix: {backup['fix_command']}", style="cyan"))
        if backup.get("advice"):
            console.print(text(f"  {backup['advice']}"))
    for host in document["hosts"]:
        for name, other in ((host.get("backup") or {}).get("other_extensions") or {}).items():
            state = other.get("state")
            what = (
                f"{other.get('result')} {other.get('timestamp') or ''}: "
                f"{other.get('code_name') or other.get('code')}: {other.get('message') or ''}"
                if state == "reported"
                else other.get("problem") or state
            )
            console.print(text(f"{host['name']}: {name} {other.get('version') or ''}: {what}"))


@click.command("diagnose")
@click.argument("inventory", metavar="INVENTORY")
@click.option(
    "--limit", "limits", multiple=True, metavar="HOSTS", help="Only these hosts or groups."
)
@click.option(
    "--report", "reports", multiple=True, metavar="FILE", help="Write .json or .html. Repeatable."
)
@click.option("--json", "as_json", is_flag=True, help="Print the diagnosis as JSON.")
@quiet_option("No table and no details: the summary line only.")
@verbose_option("Details of every host with the extension, not only of those whose backup failed.")
def diagnose_command(
    inventory: str,
    limits: tuple[str, ...],
    reports: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Read each host's last backup result from its backup extension, and say what fixes it.

    Per host: extension version, last operation, when, result, the extension's own code and
    message, the catalog code it maps to (or "uncertain"), the controls of that code that fail
    on the host now (with evidence) and the command that fixes them. Read-only: one batched
    observation per host.

    Exit status: 0 no host's last backup failed; 1 some host's last backup failed;
    2 a host could not be diagnosed (unreachable, unreadable status) or bad input.

    \b
    Examples:
      bcdrfix diagnose inventories/lab.py
      bcdrfix diagnose inventories/azure.py --limit rg_prod --report diagnosis.html
      bcdrfix fix inventories/azure.py --from-guest-status --dry
    """
    check_report_paths(reports)
    try:
        document = run_diagnose(inventory, limit=limits)
    except (InventoryError, SettingsError) as exc:
        raise BcdrfixError(str(exc)) from None
    for path in reports:
        try:
            write_report(document, path)
        except OSError as exc:
            raise BcdrfixError(f"writing {path}: {exc}") from None
    if as_json:
        echo_json(document)  # no raw control character, no proxy password
    else:
        out = console()  # no markup: guest messages may contain [brackets] or HTML
        print_diagnosis(out, document, quiet=quiet, verbose=verbose)
        for path in reports:
            out.print(text(f"report: {path}"))
    sys.exit(document["summary"]["exit_status"])
