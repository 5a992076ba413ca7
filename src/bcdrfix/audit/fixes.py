"""Fix commands bcdrfix stands behind, written again for reports that come from elsewhere.

A report read from a file (a CI shard's artifact, a colleague's run) is untrusted input: its
``fix`` strings could say anything (``pyinfra ...; curl ... | sh``) and the merged HTML, JUnit
and JSON would present them as bcdrfix's advice. ``vouch`` drops every command a report carries
and writes it again from what this bcdrfix knows: the control (its registry, the catalog's codes
and the deploy that fixes it), the finding's status (needs-approval adds
``bcdrfix_allow_disruptive=true``, as the audit does), the host name and the inventory, every
word shell-quoted. A control this bcdrfix does not know, and a host name that pyinfra's
``--limit`` would read as a pattern or a group name, get no command at all.
"""

from __future__ import annotations

import re

from bcdrfix.audit.document import AUDITED
from bcdrfix.audit.engine import control_document, deploy_for_controls, fix_command
from bcdrfix.controls import REGISTRY, Status

# What a fix command names when no trusted inventory is known (``report merge --inventory``)
# and the report's own does not look like a plain file name.
INVENTORY_PLACEHOLDER = "INVENTORY"
# A plain relative or absolute path: no pyinfra inline host list (``a,b``), no connector
# (``@local``), no option (``-x``); anything else becomes the placeholder.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+~][A-Za-z0-9_./+~-]*")
_FINDINGS = (Status.FAIL.value, Status.NEEDS_APPROVAL.value)


def plain_inventory(value: object) -> str | None:
    """``value`` if it is a plain file path a fix command may name, else None."""
    if isinstance(value, str) and len(value) <= 4096 and _PLAIN_PATH.fullmatch(value):
        return value
    return None


def limit_safe(name: str, groups: set[str]) -> bool:
    """pyinfra's ``--limit NAME`` selects exactly the host NAME (not a glob, group or option)."""
    return (
        bool(name)
        and name.isprintable()
        and not name.startswith("-")
        and not any(ch in name for ch in "*?[]")
        and name not in groups
        and name != "all"
    )


def vouch(document: dict, inventory: str | None = None, cwd: str | None = None) -> dict:
    """Rebuild ``document``'s controls, codes and fix commands from this bcdrfix (in place).

    ``inventory`` is the inventory the fix commands name (the one the reader trusts); without
    it, each host's run names its own when that is a plain path, else ``INVENTORY``.
    """
    deploys = deploy_for_controls(cwd or ".")
    runs = {run["id"]: run for run in document["runs"]}
    groups = {group for host in document["hosts"] for group in host.get("groups", [])}
    known = {
        cid: control_document(REGISTRY.get(cid))
        for cid in {c["id"] for c in document["controls"]}
        | {r["control"] for r in document["results"]}
        if cid in REGISTRY
    }
    document["controls"] = [known.get(c["id"], c) for c in document["controls"]]
    by_host: dict[str, list[dict]] = {}
    for result in document["results"]:
        by_host.setdefault(result["host"], []).append(result)
    for host in document["hosts"]:
        host_inventory = (
            inventory
            or plain_inventory(runs.get(host["run"], {}).get("inventory"))
            or INVENTORY_PLACEHOLDER
        )
        commands_for = limit_safe(host["name"], groups) and host["state"] == AUDITED
        fixes: dict[str, bool] = {}
        for result in by_host.get(host["name"], []):
            result["fix"] = None
            control = known.get(result["control"])
            if control is None:
                continue
            result["codes"] = list(control["codes"])
            deploy = deploys.get(result["control"])
            fixable = REGISTRY.get(result["control"]).fix is not None
            if not (commands_for and fixable and deploy and result["status"] in _FINDINGS):
                continue
            disruptive = result["status"] == Status.NEEDS_APPROVAL.value
            result["fix"] = fix_command(host_inventory, deploy, host["name"], disruptive)
            fixes[deploy] = fixes.get(deploy, False) or disruptive
        host["fix_commands"] = [
            fix_command(host_inventory, deploy, host["name"], disruptive)
            for deploy, disruptive in sorted(fixes.items())
        ]
    listed = {host["name"] for host in document["hosts"]}
    for result in document["results"]:  # a result of a host the document does not list
        if result["host"] not in listed:
            result["fix"] = None
    return document
