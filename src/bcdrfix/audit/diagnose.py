"""``bcdrfix diagnose``: each host's last backup result as its own extension reported it, and its fix.

Per host, ONE batched observation (one SSH command / one PowerShell invocation) gathers the
backup extension's newest status (``guest_status`` probe) together with every probe of the
host's audit controls. The extension's internal code (``ExtensionErrorCodeHelper.py`` in
Azure/azure-linux-extensions VMBackup) is mapped to a catalog entry; the entry's controls are
evaluated on the same observation: the ones that fail now are the evidence, and
``bcdrfix fix INVENTORY --code CODE --limit HOST`` is the fix. Nothing is changed on hosts.

Mapping internal codes: a code is *mapped* only when the catalog lists the internal name as an
alias of a catalog code (one code->entry map, ``catalog.yaml``); codes whose meaning is close to
a catalog entry but not established by the sources are *uncertain* (shown, never fixed
automatically); the rest have no catalog entry and say what the extension's source says.
"""

from __future__ import annotations

import glob
import logging
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bcdrfix.audit.document import HOST_ERROR, UNREACHABLE
from bcdrfix.audit.engine import audit_controls
from bcdrfix.audit.guest import (  # noqa: F401  (re-exported for the CLI and tests)
    GUEST_PARSE,
    GUEST_PROBE,
    INTERNAL_BY_NAME,
    INTERNAL_CODES,
    NO_EXTENSION,
    NO_STATUS,
    NOT_INSTALLED,
    UNREADABLE,
    internal_code,
    last_backup,
    map_internal,
)
from bcdrfix.audit.host import HostLog, connect, jsonable, observe_host
from bcdrfix.controls import Status, load_settings
from bcdrfix.core.apply import evaluate, platform_of
from bcdrfix.core.connection import close_connection
from bcdrfix.core.handler_status import FAILED, SUCCESS
from bcdrfix.core.settings import Settings
from bcdrfix.inventory.load import LoadedInventory, host_address, load_inventory

# --- the run ----------------------------------------------------------------------------------

SCHEMA_VERSION = 1
DIAGNOSED = "diagnosed"
NOT_RUNNING = "not-running"
CANNOT_CONTACT = "cannot-contact"


@dataclass
class _Job:
    host: Any
    platform: str
    settings: Settings
    document: dict = field(default_factory=dict)


def fix_command(inventory: str, code: str, host: str, disruptive: bool) -> str:
    words = ["bcdrfix", "fix", inventory, "--code", code, "--limit", glob.escape(host)]
    if disruptive:
        words.append("--allow-disruptive")
    return shlex.join(words)


def judge(
    platform: str,
    guest: dict | None,
    observation: dict,
    controls: list,
    settings: Settings,
    inventory: str,
    name: str,
) -> dict:
    """The diagnosis of one host from its observation: last result, mapping, failing controls."""
    result = jsonable(last_backup(platform, guest))
    result["failing_controls"] = []
    result["fix_command"] = None
    if result["result"] != FAILED:
        return result
    mapping = map_internal(result["code_name"])
    entry = mapping.entry
    if entry is None:
        result["advice"] = f"no catalog entry: {mapping.note}"
        return result
    wanted = set(entry.control_ids(platform))
    mine = [c for c in controls if c.id in wanted]
    disruptive = False
    for control, finding in evaluate(mine, observation, settings):
        if finding.status in (Status.FAIL, Status.NEEDS_APPROVAL, Status.ERROR):
            disruptive = disruptive or finding.status is Status.NEEDS_APPROVAL
            result["failing_controls"].append(
                {
                    "control": control.id,
                    "status": finding.status.value,
                    "summary": finding.summary,
                    "observed": jsonable(finding.observed),
                    "desired": jsonable(finding.desired),
                }
            )
    if mapping.confidence != "mapped":
        result["advice"] = f"mapping uncertain ({mapping.note}); if you agree: " + fix_command(
            inventory, entry.code, name, disruptive
        )
    elif result["failing_controls"]:
        result["fix_command"] = fix_command(inventory, entry.code, name, disruptive)
    elif entry.scope != "guest" or not wanted:
        result["advice"] = f"only Azure can fix {entry.code}: bcdrfix explain {entry.code}"
    else:
        result["advice"] = (
            f"no control of {entry.code} fails now: retry the backup "
            f"(bcdrfix explain {entry.code} for the Azure-side causes)"
        )
    return result


def diagnose_host(job: _Job, inventory: str, log: HostLog) -> None:
    """Connect, observe once, judge; fill ``job.document``. Never raises."""
    host = job.host
    started = time.monotonic()
    connector, address = host_address(host)
    doc = job.document
    doc.update(
        name=host.name, platform=job.platform, address=address, state=DIAGNOSED, message=None
    )
    try:
        if not connect(host, doc):
            return
        controls = audit_controls(job.platform, job.settings)
        observation = observe_host(host, job.platform, job.settings, controls, doc, log)
        if observation is None:
            return
        doc["backup"] = judge(
            job.platform,
            GUEST_PARSE[job.platform](observation.get("guest_status")),
            observation,
            controls,
            job.settings,
            inventory,
            host.name,
        )
    finally:
        doc["duration_s"] = round(time.monotonic() - started, 3)
        close_connection(host)


def run_diagnose(
    inventory: str,
    limit: Iterable[str] | None = None,
    loaded: LoadedInventory | None = None,
    host_done: Callable[[dict], None] = lambda doc: None,
) -> dict:
    """Diagnose the hosts of ``inventory``; raises InventoryError/SettingsError before contact."""
    import gevent

    loaded = loaded or load_inventory(inventory, limit=limit)
    jobs = [
        _Job(host, platform_of(host), load_settings(host.data, host.name))
        for host in loaded.selected
    ]
    log = HostLog()
    pyinfra_logger = logging.getLogger("pyinfra")
    pyinfra_logger.addHandler(log)
    try:
        pool = loaded.state.pool
        greenlets = {pool.spawn(diagnose_host, job, inventory, log): job for job in jobs}
        for greenlet in gevent.iwait(list(greenlets)):
            greenlet.get()
            host_done(greenlets[greenlet].document)
    finally:
        pyinfra_logger.removeHandler(log)
    hosts = [job.document for job in jobs]
    hosts += [
        {
            "name": m.name,
            "platform": m.info.get("azure_os_type"),
            "address": None,
            "state": NOT_RUNNING if m.kind == "not-running" else CANNOT_CONTACT,
            "message": m.reason,
        }
        for m in loaded.not_contacted
    ]
    hosts.sort(key=lambda h: h["name"])
    document = {
        "schema": "bcdrfix-diagnose-report",
        "schema_version": SCHEMA_VERSION,
        "inventory": inventory,
        "hosts": hosts,
    }
    document["summary"] = summarize(document)
    return document


def summarize(document: dict) -> dict:
    """Counts and the exit status: 0 no failed last backup, 1 some, 2 a host not diagnosed."""
    hosts = document["hosts"]
    backups = [h.get("backup") or {} for h in hosts if h["state"] == DIAGNOSED]
    failed = sum(1 for b in backups if b.get("result") == FAILED)
    not_installed = sum(1 for b in backups if b.get("guest") == NOT_INSTALLED)
    unreadable = sum(1 for b in backups if b.get("guest") == UNREADABLE)
    not_diagnosed = sum(1 for h in hosts if h["state"] in (UNREACHABLE, HOST_ERROR, CANNOT_CONTACT))
    return {
        "hosts": len(hosts),
        "diagnosed": len(backups),
        "last_backup_failed": failed,
        "last_backup_succeeded": sum(1 for b in backups if b.get("result") == SUCCESS),
        "without_extension": sum(1 for b in backups if b.get("guest") == NO_EXTENSION),
        "not_installed": not_installed,
        "unreadable": unreadable,
        "not_diagnosed": not_diagnosed,
        "exit_status": 2 if not_diagnosed or unreadable else 1 if failed or not_installed else 0,
    }


# --- fix each host by its own code ------------------------------------------------------------


def plan_fixes(document: dict) -> tuple[dict[str, list[dict]], list[dict], list[dict]]:
    """Split diagnosed hosts: {catalog code: [host, ...]} to fix, hosts left alone, hosts
    that need a person (a failure bcdrfix cannot fix on the host) or could not be diagnosed."""
    groups: dict[str, list[dict]] = {}
    left_alone: list[dict] = []
    attention: list[dict] = []
    for host in document["hosts"]:
        backup = host.get("backup") or {}
        mapping = backup.get("mapping") or {}
        row = {
            "host": host["name"],
            "code_name": backup.get("code_name"),
            "code": backup.get("code"),
            "catalog_code": mapping.get("catalog_code"),
        }
        if host["state"] == NOT_RUNNING:
            left_alone.append({**row, "why": f"not running: {host.get('message')}"})
        elif host["state"] != DIAGNOSED:
            attention.append(
                {**row, "kind": "not-diagnosed", "why": f"{host['state']}: {host.get('message')}"}
            )
        elif backup.get("guest") == UNREADABLE:
            attention.append(
                {
                    **row,
                    "kind": "not-diagnosed",
                    "why": f"unreadable status: {backup.get('problem')}",
                }
            )
        elif backup.get("guest") == NOT_INSTALLED:
            attention.append({**row, "kind": "by-hand", "why": backup.get("advice")})
        elif backup.get("result") != FAILED:
            left_alone.append({**row, "why": backup.get("advice") or "no failure"})
        elif mapping.get("confidence") == "mapped" and mapping.get("scope") == "guest":
            groups.setdefault(mapping["catalog_code"], []).append({**row, "why": None})
        else:
            attention.append(
                {**row, "kind": "by-hand", "why": backup.get("advice") or "no catalog entry"}
            )
    return groups, left_alone, attention
