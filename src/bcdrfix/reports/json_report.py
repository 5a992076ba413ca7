"""The JSON report: the report document as it is, plus loading, validation and merging.

The document's shape is ``audit-report.schema.json`` (shipped next to this module, JSON Schema
2020-12). ``schema_version`` changes only when a reader would break.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import IO

from bcdrfix.audit.document import SCHEMA_NAME, SCHEMA_VERSION, results_by_host, summarize
from bcdrfix.reports.files import write_atomically

SCHEMA_PATH = Path(__file__).with_name("audit-report.schema.json")


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
        raise ReportError(f"{source}: does not match the report schema at {where}: {error.message}")


def write_json(document: dict, path: str) -> None:
    def write(handle: IO[str]) -> None:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")

    write_atomically(path, write)


def load_report(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: bad JSON: {exc}") from None
    validate(document, path)
    return document


def merge_reports(documents: Iterable[dict]) -> dict:
    """One document from several runs (shards of a fleet, or runs before and after a fix).

    Runs are kept in the order given. A host that appears in several documents keeps the entry
    and results of the run that finished last, so ``merge before.json after.json`` shows the
    state after the fix.
    """
    documents = list(documents)
    if not documents:
        raise ReportError("no report to merge")
    runs: dict[str, dict] = {}
    controls: dict[str, dict] = {}
    hosts: dict[str, dict] = {}
    results: dict[str, list[dict]] = {}
    for document in documents:
        finished = {run["id"]: run["finished"] for run in document["runs"]}
        for run in document["runs"]:
            runs.setdefault(run["id"], run)
        for control in document["controls"]:
            controls[control["id"]] = control
        by_host = results_by_host(document)
        for host in document["hosts"]:
            current = hosts.get(host["name"])
            if current is not None and runs[current["run"]]["finished"] > finished.get(
                host["run"], ""
            ):
                continue
            hosts[host["name"]] = host
            results[host["name"]] = list(by_host.get(host["name"], {}).values())
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
    merged["summary"] = summarize(merged)
    return merged
