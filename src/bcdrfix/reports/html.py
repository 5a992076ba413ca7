"""The HTML report: a page a manager can read and an administrator can act on.

Rendered from ``templates/report.html.j2``: fleet summary first (how many hosts pass, the controls
that fail most, a hosts x controls matrix), then each host's findings with their evidence and the
command that fixes them. The page is self-contained (inline CSS, no script, nothing fetched).
"""

from __future__ import annotations

import json
from typing import Any

from bcdrfix.audit.document import AUDITED, FINDING_STATUSES, NOT_RUNNING, results_by_host
from bcdrfix.audit.guest import describe
from bcdrfix.core.templating import render
from bcdrfix.reports.files import write_atomically

SYMBOLS = {
    "pass": "✔",
    "fail": "✘",
    "needs-approval": "!",
    "not-applicable": "–",
    "error": "?",
}


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def view(document: dict) -> dict:
    """What the template shows, computed once so that the template stays declarative."""
    controls = {c["id"]: c for c in document["controls"]}
    results = results_by_host(document)
    control_ids = [c["id"] for c in document["controls"]]

    hosts = []
    for host in document["hosts"]:
        host_results = results.get(host["name"], {})
        findings = [r for r in host_results.values() if r["status"] in FINDING_STATUSES]
        if host["state"] != AUDITED:
            verdict = "skipped" if host["state"] == NOT_RUNNING else "not-audited"
        else:
            verdict = "findings" if findings else "compliant"
        hosts.append(
            {
                **host,
                "verdict": verdict,
                "findings": sorted(findings, key=lambda r: (r["status"] != "error", r["control"])),
                "passed": [r for r in host_results.values() if r["status"] == "pass"],
                "not_applicable": [
                    r for r in host_results.values() if r["status"] == "not-applicable"
                ],
                "cells": [host_results.get(cid) for cid in control_ids],
            }
        )
    order = {"not-audited": 0, "findings": 1, "compliant": 2, "skipped": 3}
    attention = sorted(
        (h for h in hosts if h["verdict"] in ("not-audited", "findings")),
        key=lambda h: (order[h["verdict"]], -len(h["findings"]), h["name"]),
    )
    summary = document["summary"]
    headline = {
        0: "All audited hosts pass",
        1: "Findings to fix",
        2: "Some hosts could not be audited",
    }
    return {
        "document": document,
        "summary": summary,
        "verdict": headline[summary["exit_status"]],
        "runs": document["runs"],
        "controls": [controls[cid] for cid in control_ids],
        "control_by_id": controls,
        "worst": [
            {
                **w,
                "title": controls.get(w["control"], {}).get("title", ""),
                "codes": controls.get(w["control"], {}).get("codes", []),
            }
            for w in summary["worst_controls"]
        ],
        "hosts": hosts,
        "attention": attention,
        "compliant": [h for h in hosts if h["verdict"] == "compliant"],
        "skipped": [h for h in hosts if h["verdict"] == "skipped"],
        "symbols": SYMBOLS,
        "guest": [
            {"name": h["name"], "line": describe(h["backup_in_guest"]), **h["backup_in_guest"]}
            for h in document["hosts"]
            if h.get("backup_in_guest")
        ],
        "pretty": pretty,
        "percent": round(100 * summary["compliant"] / summary["audited"])
        if summary["audited"]
        else 0,
    }


def render_html(document: dict) -> str:
    return render("report.html.j2", **view(document))


def write_html(document: dict, path: str) -> None:
    text = render_html(document)
    write_atomically(path, lambda handle: handle.write(text))
