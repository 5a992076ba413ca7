"""The JSON report: the report document as it is, plus loading, validation and merging.

The document's shape is ``audit-report.schema.json`` (shipped next to this module, JSON Schema
2020-12). ``schema_version`` changes only when a reader would break.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from bcdrfix.audit.document import SCHEMA_NAME, SCHEMA_VERSION, results_by_host, summarize
from bcdrfix.audit.fixes import vouch
from bcdrfix.reports.files import write_atomically

SCHEMA_PATH = Path(__file__).with_name("audit-report.schema.json")
# A report read from a file is untrusted (a CI shard's artifact): its size, nesting and shape are
# bounded and checked before anything uses it. A 1,000-host shard report is about 10 MB.
MAX_REPORT_MB = 256
MAX_DEPTH = 64  # the engine's reports nest about 6 levels (observed values included)
_SHOWN = 160  # characters of an offending value quoted in an error line


class ReportError(ValueError):
    """A report cannot be read or written; one line for the user."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(document: dict, source: str = "report") -> None:
    """Check a document against the schema (fully when jsonschema is installed)."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_NAME:
        raise ReportError(f'{source}: not a bcdrfix audit report (no "schema": "{SCHEMA_NAME}")')
    if document.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: schema_version {document.get('schema_version')!r}, this bcdrfix reads {SCHEMA_VERSION}"
        )
    try:
        import jsonschema
    except ImportError:  # the structural checks above and below still hold
        missing = [key for key in schema()["required"] if key not in document]
        if missing:
            raise ReportError(f"{source}: missing {', '.join(missing)}") from None
        return
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema()).iter_errors(document)
    )
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        raise ReportError(
            f"{source}: does not match the report schema at {_short(where)}: {_short(error.message)}"
        )
    _check_references(document, source)


def _short(text: str) -> str:
    """An error line quotes untrusted values: one line, bounded (printing escapes the rest)."""
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _moment(text: str, source: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{source}: {where}: not a date-time: {_short(text)!r}") from None
    if moment.tzinfo is None:
        raise ReportError(f"{source}: {where}: date-time without a time zone: {_short(text)!r}")
    return moment


def _check_references(document: dict, source: str) -> None:
    """What the schema cannot say: unique names, and every reference pointing at something."""
    runs: set[str] = set()
    for index, run in enumerate(document["runs"]):
        if run["id"] in runs:
            raise ReportError(f"{source}: run {_short(run['id'])!r} appears twice")
        runs.add(run["id"])
        _moment(run["started"], source, f"runs/{index}/started")
        _moment(run["finished"], source, f"runs/{index}/finished")
    controls = {control["id"] for control in document["controls"]}
    hosts: set[str] = set()
    for host in document["hosts"]:
        name = host["name"]
        if not name.isprintable():
            raise ReportError(f"{source}: host name {_short(name)!r} has control characters")
        if name in hosts:
            raise ReportError(f"{source}: host {_short(name)!r} appears twice")
        if host["run"] not in runs:
            raise ReportError(f"{source}: host {_short(name)!r} names an unknown run")
        hosts.add(name)
    seen: set[tuple[str, str]] = set()
    for result in document["results"]:
        key = (result["host"], result["control"])
        if result["host"] not in hosts:
            raise ReportError(f"{source}: a result names an unknown host {_short(key[0])!r}")
        if result["control"] not in controls:
            raise ReportError(f"{source}: a result names an unknown control {_short(key[1])!r}")
        if key in seen:
            raise ReportError(f"{source}: two results for {_short(key[0])!r} {key[1]}")
        seen.add(key)


def _too_deep(value: Any, limit: int) -> bool:
    """Nesting deeper than ``limit`` (iterative: a hostile document cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def write_json(document: dict, path: str) -> None:
    def write(handle: IO[str]) -> None:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")

    write_atomically(path, write)


def load_report(path: str, max_mb: int = MAX_REPORT_MB) -> dict:
    """Read and check one report file; anything wrong with it is one ``ReportError`` line.

    The file is untrusted: at most ``max_mb`` MiB are read, it must be UTF-8 JSON (no NaN or
    Infinity) nested at most ``MAX_DEPTH`` levels, and match the schema and its references.
    """
    limit = max_mb * 1024 * 1024
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ReportError(f"{path}: larger than {max_mb} MiB, not read (--max-size MB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ReportError(f"{path}: bad JSON: nested more than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, a 5,000-digit number
        raise ReportError(f"{path}: bad JSON: {_short(str(exc))}") from None
    if _too_deep(document, MAX_DEPTH):
        raise ReportError(f"{path}: bad JSON: nested more than {MAX_DEPTH} levels")
    validate(document, path)
    return document


def _known(entry: dict, kind: str) -> dict:
    """``entry`` with only the keys the schema names for ``kind`` (a report's own additions
    are not carried into a document this bcdrfix writes)."""
    keys = schema()["$defs"][kind]["properties"]
    return {key: value for key, value in entry.items() if key in keys}


def merge_reports(
    documents: Iterable[dict], inventory: str | None = None, cwd: str | None = None
) -> dict:
    """One document from several runs (shards of a fleet, or runs before and after a fix).

    Runs are kept in the order given. A host that appears in several documents keeps the entry
    and results of the run that finished last, so ``merge before.json after.json`` shows the
    state after the fix. The documents are untrusted: controls, codes and fix commands are
    written again by this bcdrfix (``bcdrfix.audit.fixes.vouch``; ``inventory`` is the one the
    fix commands name), never copied.
    """
    documents = list(documents)
    if not documents:
        raise ReportError("no report to merge")
    runs: dict[str, dict] = {}
    controls: dict[str, dict] = {}
    hosts: dict[str, dict] = {}
    results: dict[str, list[dict]] = {}
    latest: dict[str, datetime] = {}
    for document in documents:
        finished = {run["id"]: _moment(run["finished"], "", "") for run in document["runs"]}
        for run in document["runs"]:
            runs.setdefault(run["id"], _known(run, "run"))
            latest.setdefault(run["id"], finished[run["id"]])
        for control in document["controls"]:
            controls[control["id"]] = _known(control, "control")
        by_host = results_by_host(document)
        for host in document["hosts"]:
            current = hosts.get(host["name"])
            if current is not None and latest[current["run"]] > finished[host["run"]]:
                continue
            hosts[host["name"]] = _known(host, "host")  # copies: vouch rewrites commands
            results[host["name"]] = [
                _known(r, "result") for r in by_host.get(host["name"], {}).values()
            ]
    merged = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generator": documents[-1]["generator"],
        "runs": list(runs.values()),
        "controls": sorted(controls.values(), key=lambda c: c["id"]),
        "hosts": sorted(hosts.values(), key=lambda h: h["name"]),
        "results": sorted(
            (r for name in hosts for r in results[name]), key=lambda r: (r["host"], r["control"])
        ),
    }
    vouch(merged, inventory, cwd)
    merged["summary"] = summarize(merged)
    return merged
