"""The audit report document: its schema name and version, the status vocabulary, the summary.

Every report (JSON, JUnit, HTML, terminal) is rendered from this one document, through
``results_by_host``. Its shape is ``bcdrfix/reports/audit-report.schema.json``.

Vocabulary: a *result* (one control on one host) has a ``Status`` value (pass, fail,
needs-approval, not-applicable, error); a *host* has a state: ``audited`` (it carries results)
or why not (``unreachable``, ``error``, and the inventory's ``not-running``/``cannot-contact``).
"""

from __future__ import annotations

from bcdrfix.core.model import Status
from bcdrfix.inventory.load import CANNOT_CONTACT, NOT_RUNNING

SCHEMA_NAME = "bcdrfix-audit-report"
SCHEMA_VERSION = 1  # changes only when a reader would break

# Host states: audited hosts carry results; the others say why not.
AUDITED = "audited"
UNREACHABLE = "unreachable"  # could not connect
HOST_ERROR = "error"  # connected, but the observation failed
# NOT_RUNNING: reported by the inventory (stopped VM), never contacted
# CANNOT_CONTACT: reported by the inventory (no address, no connector)
HOST_STATES = (AUDITED, UNREACHABLE, HOST_ERROR, CANNOT_CONTACT, NOT_RUNNING)
NOT_AUDITED = (UNREACHABLE, HOST_ERROR, CANNOT_CONTACT)
FINDING_STATUSES = (Status.FAIL.value, Status.NEEDS_APPROVAL.value, Status.ERROR.value)

__all__ = [
    "AUDITED",
    "CANNOT_CONTACT",
    "FINDING_STATUSES",
    "HOST_ERROR",
    "HOST_STATES",
    "NOT_AUDITED",
    "NOT_RUNNING",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "UNREACHABLE",
    "results_by_host",
    "summarize",
]


def results_by_host(document: dict) -> dict[str, dict[str, dict]]:
    """host name -> control id -> result, in the document's order (the one "by host" view)."""
    view: dict[str, dict[str, dict]] = {}
    for result in document["results"]:
        view.setdefault(result["host"], {})[result["control"]] = result
    return view


def summarize(document: dict) -> dict:
    """Counts and the exit status of a report document (a single run or merged runs)."""
    by_host = results_by_host(document)
    statuses = {s.value: 0 for s in Status}
    for result in document["results"]:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    audited = [h for h in document["hosts"] if h["state"] == AUDITED]
    with_findings = [
        h
        for h in audited
        if any(r["status"] in FINDING_STATUSES for r in by_host.get(h["name"], {}).values())
    ]
    not_audited = [h for h in document["hosts"] if h["state"] in NOT_AUDITED]
    worst: dict[str, int] = {}
    for result in document["results"]:
        if result["status"] in FINDING_STATUSES:
            worst[result["control"]] = worst.get(result["control"], 0) + 1
    exit_status = 2 if not_audited else 1 if with_findings else 0
    return {
        "hosts": len(document["hosts"]),
        "audited": len(audited),
        "compliant": len(audited) - len(with_findings),
        "with_findings": len(with_findings),
        "not_audited": len(not_audited),
        "not_running": sum(1 for h in document["hosts"] if h["state"] == NOT_RUNNING),
        "results": statuses,
        "worst_controls": [
            {"control": cid, "hosts": count}
            for cid, count in sorted(worst.items(), key=lambda item: (-item[1], item[0]))
        ],
        "exit_status": exit_status,
    }
