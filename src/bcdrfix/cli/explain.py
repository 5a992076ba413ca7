"""``bcdrfix explain`` and ``bcdrfix codes``: what an error code means and what fixes it."""

from __future__ import annotations

import shlex
import unicodedata

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bcdrfix.audit.guest import INTERNAL_BY_NAME, INTERNAL_CODES, map_internal
from bcdrfix.catalog import (
    PLACEHOLDERS,
    PLATFORMS,
    CatalogError,
    CodeNotFound,
    Entry,
    Match,
    entry_as_dict,
    is_disruptive,
    load_catalog,
)
from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.output import console, echo_json, json_option, printable, quiet_option
from bcdrfix.controls import REGISTRY

SERVICE = {"backup": "Azure Backup", "site-recovery": "Azure Site Recovery"}
SCOPE = {
    "guest": "bcdrfix fixes causes inside the VM",
    "control-plane": "only Azure (portal / az) can fix it",
    "informational": "nothing to change; wait, retry or resize",
}


def catalog_or_exit():
    try:
        return load_catalog(REGISTRY)
    except CatalogError as exc:
        raise BcdrfixError(str(exc)) from None


def plain_console() -> Console:
    # No markup or highlighting: messages and az queries contain [brackets] that are not markup.
    return console()


def _registry():
    return REGISTRY


def _values(items: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().strip("<>")
        if not sep or name not in PLACEHOLDERS:
            known = ", ".join(sorted(PLACEHOLDERS))
            raise BcdrfixError(f"--set {item!r}: expected NAME=VALUE with NAME one of {known}")
        values[name] = value
    return values


# --- explain ----------------------------------------------------------------------------------


@click.command("explain")
@click.argument("code_or_text", nargs=-1, required=True)
@click.option(
    "--platform", type=click.Choice(PLATFORMS), help="Show one platform's causes and controls."
)
@click.option(
    "--set",
    "placeholders",
    multiple=True,
    metavar="NAME=VALUE",
    help="Fill a placeholder of the az commands (vm-name, resource-group, vault-name...).",
)
@click.option(
    "--inventory",
    default="INVENTORY",
    show_default=True,
    help="Inventory to put in the printed fix command lines.",
)
@json_option("Print JSON.")
@quiet_option("Only the matched code(s) and their meaning, one line each.")
def explain(
    code_or_text: tuple[str, ...],
    platform: str | None,
    placeholders: tuple[str, ...],
    inventory: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Explain an error code: meaning, causes, what bcdrfix changes, what only Azure can do.

    CODE_OR_TEXT is a code in any case (151099, usererrorguestagentstatusunavailable, full-width
    forms too), a code pair as the articles write them (320001/ResourceNotFound), a pasted error
    line (a code in it wins over its message), or a fragment of the error message in English or
    as the Japanese/Korean portal shows it (with or without spaces). Unknown codes exit with
    status 2 and the nearest known codes.

    \b
    Examples:
      bcdrfix explain 151099
      bcdrfix explain UserErrorGuestAgentStatusUnavailable --platform linux
      bcdrfix explain 320001/ResourceNotFound
      bcdrfix explain "Could not communicate with the VM agent for snapshot status"
      bcdrfix explain UserErrorRpCollectionLimitReached --set restore-point-resource-group=AzureBackupRG_japaneast_1
      bcdrfix explain ExtensionFailedVssWriterInBadState --json
      bcdrfix explain FailedRetryableFsFreezeTimeout   # the backup extension's internal code
    """
    text = " ".join(code_or_text)
    values = _values(placeholders)
    catalog = catalog_or_exit()
    try:
        match = catalog.lookup(text)
    except CodeNotFound as exc:
        if explain_internal_code(text, as_json):  # the backup extension's own code names
            return
        raise BcdrfixError(str(exc)) from None
    registry = _registry()
    if as_json:
        echo_json(
            {
                "query": text,
                "matched_by": match.how,
                "entries": [entry_as_dict(e, registry, values, platform) for e in match.entries],
            }
        )
        return
    out = console()
    if quiet:
        for entry in match.entries:
            out.print(Text(f"{entry.display}: {entry.summary}"), soft_wrap=True)
        return
    if len(match.entries) > 1:
        out.print(
            Text(
                f"{printable(repr(text))} matches {len(match.entries)} entries: "
                f"{', '.join(match.codes)}",
                style="bold",
            )
        )
        out.print()
    for index, entry in enumerate(match.entries):
        if index:
            out.rule()
        _print_entry(out, entry, match, registry, values, platform, inventory)


def _grid(*widths: int | None) -> Table:
    grid = Table.grid(padding=(0, 1))
    for width in widths:
        # fold: Japanese and Korean lines have no spaces to wrap at
        grid.add_column(
            width=width, no_wrap=width is not None, overflow="fold" if width is None else "ellipsis"
        )
    return grid


def _print_entry(
    console: Console,
    entry: Entry,
    match: Match,
    registry,
    values: dict,
    platform: str | None,
    inventory: str,
) -> None:
    label = entry.display if entry.kind == "code" else f"(no code) {entry.message}"
    console.print(
        Text.assemble(
            (label, "bold cyan"), f"  {SERVICE[entry.service]}  ", (SCOPE[entry.scope], "italic")
        )
    )
    head = _grid(1, 9, None)
    head.add_row("", Text("Message", style="bold"), Text(entry.message))
    for lang, message in entry.localized_messages():
        head.add_row("", "", Text(f"{lang}: {message}"))
    head.add_row("", Text("Meaning", style="bold"), Text(entry.summary))
    head.add_row("", Text("Platforms", style="bold"), Text(", ".join(entry.platforms)))
    for source in entry.sources:
        head.add_row(
            "",
            Text("Article", style="bold"),
            Text(
                f"{source.file} - {source.title} ({source.title_en}, {source.date}, {source.locale})"
            ),
        )
    console.print(head)

    platforms = [platform] if platform else list(entry.platforms)
    console.print()
    console.print(Text("Causes, in the order the articles give them", style="bold"))
    shown = [c for c in entry.causes if set(platforms) & set(c.platforms)]
    if not shown:
        console.print(f"  none for {platform}")
    steps = entry.steps(platform)
    for number, cause in enumerate(shown, 1):
        title = _grid(1, len(str(number)) + 1, None)
        title.add_row("", f"{number}.", Text(cause.title))
        console.print(title)
        grid = _grid(4, 8, None)
        for plat in platforms:
            for cid in cause.controls.get(plat, ()):
                control = registry.get(cid)
                flags = [
                    f
                    for f, on in (
                        ("disruptive", control.disruptive),
                        ("on demand", control.on_demand),
                    )
                    if on
                ]
                extra = f" ({', '.join(flags)})" if flags else ""
                if control.on_demand and control.description:
                    extra += f" - {control.description}"
                grid.add_row("", plat, Text.assemble((cid, "green"), f" - {control.title}{extra}"))
        for step in cause.control_plane:
            if step in steps:
                grid.add_row("", "azure", Text(f"step {steps.index(step) + 1} below: {step.title}"))
        for advice in cause.advice:
            grid.add_row("", "note", Text(advice))
        console.print(grid)

    console.print()
    console.print(Text("bcdrfix changes on hosts", style="bold"))
    grid = _grid(1, 8, None)
    for plat in platforms:
        ids = entry.control_ids(plat)
        if ids:
            grid.add_row("", plat, Text(", ".join(ids), style="green"))
    if grid.row_count:
        console.print(grid)
    else:
        console.print("  nothing: no cause of this code can be fixed inside the VM")
    disruptive = [
        cid for plat in platforms for cid in entry.control_ids(plat) if registry.get(cid).disruptive
    ]
    if disruptive:
        console.print(
            Text(
                f"  disruptive, run only with --allow-disruptive (else reported as needs approval): "
                f"{', '.join(disruptive)}",
                style="yellow",
            )
        )

    console.print()
    console.print(
        Text("Azure control plane (bcdrfix prints these, it never runs them)", style="bold")
    )
    if not steps:
        console.print("  none")
    for number, step in enumerate(steps, 1):
        flag = "  [disruptive]" if step.disruptive else ""
        title = _grid(1, len(str(number)) + 1, None)
        title.add_row(
            "", f"{number}.", Text(f"{step.title}{flag}", style="yellow" if step.disruptive else "")
        )
        console.print(title)
        for command in step.commands(values):
            console.print(Text(f"       {printable(command)}", style="cyan"), soft_wrap=True)
        if step.portal:
            console.print(Text(f"       portal: {step.portal}"), soft_wrap=True)

    console.print()
    console.print(Text("Fix on hosts", style="bold"))
    if entry.control_ids():
        code = shlex.quote(entry.code)
        inv = shlex.quote(inventory) if inventory != "INVENTORY" else inventory
        lines = [
            f"bcdrfix fix {inv} --code {code} --dry        # what would change",
            f"bcdrfix fix {inv} --code {code} [--limit HOST]",
            f"pyinfra {inv} bcdrfix.deploys.fix_error_code --data error_code={code}",
        ]
        if disruptive:
            lines.append(f"bcdrfix fix {inv} --code {code} --allow-disruptive   # after approval")
        for line in lines:
            console.print(Text(f"  {printable(line)}", style="cyan"), soft_wrap=True)
    else:
        console.print("  nothing to run on hosts; use the Azure steps above")


# --- codes ------------------------------------------------------------------------------------


@click.command("codes")
@click.option(
    "--platform", type=click.Choice(PLATFORMS), help="Only codes that occur on this platform."
)
@json_option("Print the catalog as JSON.")
@quiet_option("Only the codes, one per line.")
def codes(platform: str | None, as_json: bool, quiet: bool) -> None:
    """List the error codes bcdrfix knows, with their scope and the controls that fix them.

    \b
    Examples:
      bcdrfix codes
      bcdrfix codes --platform windows
      bcdrfix codes --json | jq -r '.[] | select(.scope == "guest") | .code'
    """
    catalog = catalog_or_exit()
    registry = _registry()
    entries = catalog.for_platform(platform)
    if as_json:
        echo_json([entry_as_dict(e, registry, None, platform) for e in entries])
        return
    if quiet:
        for entry in entries:
            click.echo(entry.code)
        return
    table = Table(
        title=f"bcdrfix error codes{f' ({platform})' if platform else ''}", show_lines=False
    )
    table.add_column("Code", style="cyan", max_width=44, overflow="fold")
    table.add_column("Service", no_wrap=True)
    table.add_column("Scope", no_wrap=True)
    table.add_column("Controls" if not platform else f"{platform} controls", max_width=40)
    table.add_column("Disruptive", no_wrap=True)
    table.add_column("Message", ratio=1)
    for entry in entries:
        if platform:
            controls = ", ".join(cid.split(".", 1)[1] for cid in entry.control_ids(platform)) or "-"
        else:
            counts = [f"{p} {len(entry.control_ids(p))}" for p in PLATFORMS if entry.control_ids(p)]
            controls = ", ".join(counts) or "-"
        code = entry.display if entry.kind == "code" else f"(symptom) {entry.code}"
        table.add_row(
            Text(code),
            "ASR" if entry.service == "site-recovery" else "Backup",
            entry.scope,
            Text(controls),
            "yes" if is_disruptive(entry, registry, platform) else "",
            Text(entry.message),
        )
    out = console()
    if not out.is_terminal:
        out.width = max(out.width, 160)  # piped: a table that stays readable in a file
    out.print(table)
    out.print(
        Text(
            f"{len(entries)} entries. bcdrfix explain CODE shows causes, controls and Azure steps."
        )
    )


def explain_internal_code(text: str, as_json: bool) -> bool:
    """``bcdrfix explain`` for an internal code of the backup extension that the catalog does not
    list under a catalog code (those resolve as aliases): what it is and how sure a mapping is.
    False when ``text`` is no internal code either."""
    key = unicodedata.normalize("NFKC", text).strip()  # full-width forms, as in lookup
    if key.isdigit() and int(key) in INTERNAL_CODES:
        number, name = int(key), INTERNAL_CODES[int(key)]
    elif key.lower() in INTERNAL_BY_NAME:
        number, name = INTERNAL_BY_NAME[key.lower()]
    else:
        return False
    mapping = map_internal(name)
    if as_json:
        echo_json({"query": text, "internal_code": number, "name": name, **mapping.as_dict()})
        return True
    console = plain_console()
    console.print(Text(f"{name} ({number})", style="bold cyan"))
    console.print(
        "  an internal code of the Azure Backup extension (VMSnapshotLinux, "
        "ExtensionErrorCodeHelper.py), as written in its status file in the guest"
    )
    if mapping.confidence == "uncertain" and mapping.entry is not None:
        console.print(
            Text(f"  catalog code: uncertain, possibly {mapping.entry.code}: {mapping.note}")
        )
        console.print(Text(f"  bcdrfix explain {mapping.entry.code}", style="cyan"))
    else:
        console.print(Text(f"  catalog code: none: {mapping.note}"))
    console.print(
        "  bcdrfix fix --from-guest-status does not fix it; bcdrfix diagnose shows it per host"
    )
    return True
