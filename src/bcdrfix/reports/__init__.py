"""Audit reports: JSON (the source of truth, with a versioned JSON Schema), JUnit XML and HTML.

Every report is rendered from the same report document (made by ``bcdrfix.audit.engine``,
modelled in ``bcdrfix.audit.document``, read through its one ``results_by_host`` view), so
reports from several runs can be merged (``bcdrfix report merge``) and rendered again in any
format.

    write_reports(document, ["audit.json", "audit.xml", "audit.html"])
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bcdrfix.core.redact import redact_data
from bcdrfix.reports.html import write_html
from bcdrfix.reports.json_report import ReportError, load_report, merge_reports, write_json
from bcdrfix.reports.junit import write_junit

WRITERS = {".json": write_json, ".xml": write_junit, ".html": write_html, ".htm": write_html}


def check_report_paths(paths: Iterable[str]) -> None:
    """Refuse unknown formats and unwritable folders before an audit starts (one line)."""
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix not in WRITERS:
            raise ReportError(
                f"--report {path}: unknown format {suffix or '(none)'}: use .json, .xml (JUnit) or .html"
            )
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            raise ReportError(f"--report {path}: folder {folder} does not exist")


def write_reports(document: dict, paths: Iterable[str]) -> list[str]:
    paths = list(paths)
    check_report_paths(paths)
    document = redact_data(document)  # no proxy password in any report
    for path in paths:
        WRITERS[Path(path).suffix.lower()](document, path)
    return paths


__all__ = ["ReportError", "load_report", "merge_reports", "write_reports", "check_report_paths"]
