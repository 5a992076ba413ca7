"""The terminal side of the audit: live progress on stderr, a compact hosts x controls summary."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bcdrfix.audit.document import AUDITED, FINDING_STATUSES, NOT_RUNNING, results_by_host
from bcdrfix.audit.engine import Progress as AuditProgress
from bcdrfix.core.redact import printable as redact_printable

CELL = {
    "pass": ("✔", "green"),
    "fail": ("✘", "bold red"),
    "needs-approval": ("!", "yellow"),
    "not-applicable": ("–", "dim"),
    "error": ("?", "magenta"),
}
# Above this many hosts the table lists only hosts that need attention.
FULL_TABLE_HOSTS = 40


def printable(text: object) -> str:
    """``text`` safe for a terminal: secrets masked and every control character (ESC, CSI, BEL,
    DEL) shown as ``?`` (``bcdrfix.core.redact.printable``), and so are line breaks and
    format characters such as bidi overrides; all other text, Japanese and Korean included, kept.

    Host names, inventory values, error codes and messages pasted by users and everything a host
    reports are untrusted: none of them may move the cursor, recolour or rewrite the terminal.
    (Output goes through consoles without markup, so ``[brackets]`` stay literal too.)
    """
    text = redact_printable(str(text))
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else "?" for ch in text
    )


def host_line(host: dict, findings: int) -> Text:
    if host["state"] == AUDITED:
        style, what = ("red", f"{findings} finding(s)") if findings else ("green", "compliant")
    elif host["state"] == NOT_RUNNING:
        style, what = "dim", f"not contacted: {printable(host['message'])}"
    else:
        style, what = "magenta", f"{host['state']}: {printable(host['message'])}"
    duration = f" ({host['duration_s']:.1f}s)" if host.get("duration_s") is not None else ""
    return Text.assemble(("  " + printable(host["name"]), "bold"), ": ", (what, style), duration)


class LiveProgress:
    """A progress bar on a terminal; one line per host otherwise (CI logs)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar: Progress | None = None
        self.task: Any = None
        self.findings: dict[str, int] = {}

    def callbacks(self) -> AuditProgress:
        return AuditProgress(start=self.start, host_done=self.done)

    def start(self, total: int) -> None:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("auditing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("audit", total=total, last="")
        else:
            self.console.print(f"auditing {total} host(s)")

    def done(self, host: dict, results: list[dict]) -> None:
        findings = sum(1 for r in results if r["status"] in FINDING_STATUSES)
        if self.bar is not None:
            # the bar's columns read markup: the name is escaped for it
            self.bar.update(self.task, advance=1, last=escape(printable(host["name"])))
            self.bar.console.print(host_line(host, findings))
        else:
            self.console.print(host_line(host, findings))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def column_names(controls: list[str], width: int) -> dict[str, str]:
    """Control ids as headings (without the platform when there is one), or numbers when the
    names would not fit the terminal (a key under the table names them)."""
    platforms = {c.split(".", 1)[0] for c in controls}
    short = {c: c.split(".", 1)[1] if len(platforms) == 1 and "." in c else c for c in controls}
    host_column, result_column = 18, 16
    if host_column + result_column + sum(len(name) + 3 for name in short.values()) <= width:
        return short
    return {c: str(number) for number, c in enumerate(controls, 1)}


def summary_table(document: dict, width: int = 100) -> Table:
    controls = [c["id"] for c in document["controls"]]
    short = column_names(controls, width)
    results = results_by_host(document)

    longest = max((len(printable(h["name"])) for h in document["hosts"]), default=4)
    # Rich squeezes columns that do not fit down to nothing, blanking the status cells (16 Windows
    # controls overflow 80 columns); dropping the cell padding keeps every status visible.
    padded = min(longest, 32) + len("result") + 12 + sum(len(short[c]) + 3 for c in controls)
    table = Table(
        title="bcdrfix audit: hosts x controls",
        title_justify="left",
        pad_edge=False,
        show_lines=False,
        header_style="bold",
        padding=(0, 1) if padded <= width else (0, 0),
    )
    table.add_column("host", no_wrap=True, min_width=min(longest, 32), overflow="ellipsis")
    for control in controls:
        table.add_column(short[control], justify="center", no_wrap=True)
    table.add_column("result", no_wrap=True, overflow="ellipsis", max_width=44)

    hosts = document["hosts"]
    hidden = 0
    for host in hosts:
        host_results = results.get(host["name"], {})
        findings = sum(1 for r in host_results.values() if r["status"] in FINDING_STATUSES)
        if (
            len(hosts) > FULL_TABLE_HOSTS
            and host["state"] in (AUDITED, NOT_RUNNING)
            and not findings
        ):
            hidden += 1
            continue
        cells = []
        for control in controls:
            result = host_results.get(control)
            cells.append(Text(*CELL[result["status"]]) if result else Text(""))
        if host["state"] == AUDITED:
            verdict = (
                Text(f"{findings} finding{'s' if findings != 1 else ''}", "red")
                if findings
                else Text("pass", "green")
            )
        elif host["state"] == NOT_RUNNING:
            verdict = Text(f"not running ({printable(host['message'])})", "dim")
        else:
            verdict = Text(f"{host['state']}: {printable(host['message'])}", "magenta")
        table.add_row(Text(printable(host["name"])), *cells, verdict)
    if hidden:
        table.add_row(
            Text(f"... {hidden} more host(s) without findings", "dim"), *[""] * len(controls), ""
        )
    return table


def summary_line(document: dict) -> Text:
    s = document["summary"]
    findings = s["results"]["fail"] + s["results"]["needs-approval"] + s["results"]["error"]
    verdict = {
        0: ("all pass", "bold green"),
        1: ("findings", "bold red"),
        2: ("hosts not audited", "bold magenta"),
    }[s["exit_status"]]
    return Text.assemble(
        f"{s['hosts']} hosts: ",
        (f"{s['compliant']} pass", "green"),
        ", ",
        (f"{s['with_findings']} with {findings} findings", "red" if s["with_findings"] else ""),
        ", ",
        (f"{s['not_audited']} not audited", "magenta" if s["not_audited"] else ""),
        f", {s['not_running']} not running -> ",
        verdict,
        f" (exit {s['exit_status']})",
    )


def legend() -> Text:
    parts: list[Any] = []
    for status, (symbol, style) in CELL.items():
        parts += [(symbol, style), f" {status}  "]
    return Text.assemble(*parts)


def print_findings(console: Console, document: dict) -> None:
    """``-v``: every finding with its evidence and the command that fixes it, host by host."""
    results = results_by_host(document)
    for host in document["hosts"]:
        findings = [
            r for r in results.get(host["name"], {}).values() if r["status"] in FINDING_STATUSES
        ]
        if not findings:
            continue
        console.print(Text(printable(host["name"]), "bold"))
        for result in findings:
            symbol, style = CELL[result["status"]]
            console.print(
                Text.assemble(
                    "  ",
                    (f"{symbol} {result['status']}", style),
                    f" {result['control']}: {printable(result['summary'])}",
                )
            )
            for label in ("observed", "desired"):
                if result.get(label) is not None:
                    value = json.dumps(result[label], ensure_ascii=False, default=str)
                    console.print(Text(f"      {label}: {printable(value)}", "dim"))
            if result.get("codes"):
                console.print(Text(f"      prevents: {', '.join(result['codes'])}", "dim"))
            if result.get("fix"):
                console.print(Text(f"      fix: {printable(result['fix'])}"))


def print_summary(console: Console, document: dict) -> None:
    if document["hosts"]:
        controls = [c["id"] for c in document["controls"]]
        names = column_names(controls, console.width)
        console.print(summary_table(document, console.width))
        if any(names[c] != c.split(".", 1)[-1] and names[c] != c for c in controls):
            console.print(Text("  ".join(f"{names[c]} {c}" for c in controls), "dim"))
        console.print(legend())
    console.print(summary_line(document))
