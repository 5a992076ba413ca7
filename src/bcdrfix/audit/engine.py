"""The read-only audit: every applicable control on every host, nothing changed.

The audit uses the remediation's own building blocks (``load_settings``, ``platform_of``,
``select_controls``, ``observe``, ``evaluate``) and never runs an operation: per host it opens the
connection, runs the ONE batched observation of its platform (one shell command on Linux, one
PowerShell invocation on Windows) and evaluates the controls on that data.

Hosts are audited in parallel on pyinfra's greenlet pool, one greenlet per host (connect,
observe, evaluate), so a host that cannot be reached or observed fails alone while the others go
on. ``connect_all`` is not used: it waits for every connection before any host is observed and
gives up when no host connects, where the audit wants each host's own outcome.

The result is the report document (``bcdrfix.audit.document``: schema version, statuses,
summary) described by ``bcdrfix/reports/audit-report.schema.json``. Controls, settings and
observers come from ``bcdrfix.controls``; the codes per control from the catalog.
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bcdrfix.audit.document import (
    AUDITED,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    summarize,
)
from bcdrfix.audit.guest import GUEST_PARSE, last_backup
from bcdrfix.audit.host import HostLog, connect, jsonable, observe_host
from bcdrfix.catalog import load_catalog
from bcdrfix.controls import REGISTRY, Control, Status, deploy_for_control, load_settings
from bcdrfix.core.apply import evaluate, platform_of, select_controls
from bcdrfix.core.connection import close_connection
from bcdrfix.core.redact import redact_data
from bcdrfix.core.settings import Settings, SettingsError
from bcdrfix.inventory.ansible import looks_like_ansible_inventory, pyinfra_command_start
from bcdrfix.inventory.load import LoadedInventory, host_address, load_inventory


def audit_controls(platform: str, settings: Settings) -> list[Control]:
    """The controls the audit checks on a host: all of its platform except on-demand actions
    (restart now, upgrade now) and the ones the host skips (``bcdrfix_skip_controls``)."""
    ids = [c.id for c in REGISTRY.all(platform) if not c.on_demand]
    return select_controls(REGISTRY, ids, platform, settings)


# --- fix commands -----------------------------------------------------------------------------


def deploy_for_controls(cwd: str | None = None) -> dict[str, str]:
    """control id -> the packaged deploy that fixes it (``bcdrfix.deploys.linux_agent``): a
    command that works wherever bcdrfix is installed, whatever the current folder."""
    found = {cid: deploy_for_control(cid) for cid in REGISTRY.ids()}
    return {cid: name for cid, name in found.items() if name}


def fix_command(inventory: str, deploy: str, host: str, disruptive: bool = False) -> str:
    prefix, start = "", ["pyinfra", inventory]
    if looks_like_ansible_inventory(inventory):  # plain pyinfra reads it through bcdrfix
        prefix, start = pyinfra_command_start(inventory)
    words = [*start, deploy, "--limit", host, "-y"]
    if disruptive:
        words += ["--data", "bcdrfix_allow_disruptive=true"]
    return prefix + shlex.join(words)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Progress:
    """Callbacks for a front end: ``start(total)``, then ``host_done(host, results)`` per host."""

    start: Callable[[int], None] = lambda total: None
    host_done: Callable[[dict, list[dict]], None] = lambda host, results: None


@dataclass
class _Job:
    host: Any
    platform: str
    settings: Settings
    controls: list[Control]
    document: dict = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)


def control_document(control: Control) -> dict:
    return {
        "id": control.id,
        "title": control.title,
        "platform": control.platform,
        "codes": list(load_catalog(REGISTRY).codes_for_control(control.id)),
        "disruptive": control.disruptive,
        "description": control.description,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def prepare_jobs(loaded: LoadedInventory) -> list[_Job]:
    """Validate every selected host's settings before anything is contacted."""
    jobs = []
    for host in loaded.selected:
        settings = load_settings(host.data, host.name)  # raises SettingsError, one line
        platform = platform_of(host)
        jobs.append(_Job(host, platform, settings, audit_controls(platform, settings)))
    return jobs


def audit_host(
    job: _Job, run_id: str, inventory: str, deploys: dict[str, str], log: HostLog
) -> None:
    """Connect, observe once, evaluate; fill ``job.document`` and ``job.results``. Never raises."""
    host = job.host
    started = time.monotonic()
    connector, address = host_address(host)
    doc = job.document
    doc.update(
        name=host.name,
        run=run_id,
        platform=job.platform,
        groups=sorted(set(host.groups)),
        address=address,
        state=AUDITED,
        message=None,
        duration_s=None,
        fix_commands=[],
    )
    try:
        if not connect(host, doc) or not job.controls:
            return
        observation = observe_host(host, job.platform, job.settings, job.controls, doc, log)
        if observation is None:
            return
        doc["backup_in_guest"] = jsonable(
            last_backup(job.platform, GUEST_PARSE[job.platform](observation.get("guest_status")))
        )
        fixes: dict[str, bool] = {}
        for control, finding in evaluate(job.controls, observation, job.settings):
            status = finding.status.value
            deploy = deploys.get(control.id)
            fix = None
            if (
                status in (Status.FAIL.value, Status.NEEDS_APPROVAL.value)
                and control.fix
                and deploy
            ):
                disruptive = status == Status.NEEDS_APPROVAL.value
                fix = fix_command(inventory, deploy, host.name, disruptive)
                fixes[deploy] = fixes.get(deploy, False) or disruptive
            job.results.append(
                {
                    "host": host.name,
                    "control": control.id,
                    "status": status,
                    "summary": finding.summary,
                    "observed": jsonable(finding.observed),
                    "desired": jsonable(finding.desired),
                    "codes": list(load_catalog(REGISTRY).codes_for_control(control.id)),
                    "fix": fix,
                }
            )
        doc["fix_commands"] = [
            fix_command(inventory, d, host.name, dis) for d, dis in sorted(fixes.items())
        ]
    finally:
        doc["duration_s"] = round(time.monotonic() - started, 3)
        close_connection(host)  # pyinfra's disconnect leaves the SSH client open


def _not_contacted_document(machine: Any, run_id: str) -> dict:
    return {
        "name": machine.name,
        "run": run_id,
        "platform": machine.info.get("azure_os_type"),
        "groups": sorted(set(machine.groups)),
        "address": None,
        "state": machine.kind,  # the inventory's kinds are host states
        "message": machine.reason,
        "duration_s": None,
        "fix_commands": [],
    }


def run_audit(
    inventory: str,
    limit: Iterable[str] | None = None,
    shard: str | None = None,
    cwd: str | None = None,
    progress: Progress | None = None,
    loaded: LoadedInventory | None = None,
) -> dict:
    """Audit the hosts of ``inventory`` and return the report document (see the JSON schema).

    Raises ``InventoryError`` / ``SettingsError`` (one line) before any host is contacted.
    """
    import gevent

    progress = progress or Progress()
    cwd = cwd or os.getcwd()
    started_wall, started = _now(), time.monotonic()
    loaded = loaded or load_inventory(inventory, limit=limit, shard=shard, cwd=cwd)
    jobs = prepare_jobs(loaded)
    deploys = deploy_for_controls(cwd)
    run_id = str(uuid.uuid4())

    log = HostLog()
    pyinfra_logger = logging.getLogger("pyinfra")
    pyinfra_logger.addHandler(log)
    not_contacted = [_not_contacted_document(machine, run_id) for machine in loaded.not_contacted]
    progress.start(len(jobs) + len(not_contacted))
    try:
        for document in not_contacted:
            progress.host_done(document, [])
        pool = loaded.state.pool
        greenlets = {
            pool.spawn(audit_host, job, run_id, inventory, deploys, log): job for job in jobs
        }
        for greenlet in gevent.iwait(list(greenlets)):
            job = greenlets[greenlet]
            greenlet.get()
            progress.host_done(job.document, job.results)
    finally:
        pyinfra_logger.removeHandler(log)

    hosts = [job.document for job in jobs] + not_contacted
    hosts.sort(key=lambda h: h["name"])
    used = {c.id for job in jobs for c in job.controls}
    document = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "bcdrfix", "version": _version()},
        "runs": [
            {
                "id": run_id,
                "inventory": inventory,
                "limit": list(loaded.limit),
                "shard": f"{loaded.shard[0]}/{loaded.shard[1]}" if loaded.shard else None,
                "controller": socket.gethostname(),
                "user": _user(),
                "started": started_wall,
                "finished": _now(),
                "duration_s": round(time.monotonic() - started, 3),
            }
        ],
        "controls": [control_document(REGISTRY.get(cid)) for cid in REGISTRY.ids() if cid in used],
        "hosts": hosts,
        "results": sorted(
            (r for job in jobs for r in job.results), key=lambda r: (r["host"], r["control"])
        ),
    }
    document["summary"] = summarize(document)
    return redact_data(document)  # reports, --json and the terminal never show a proxy password


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bcdrfix")
    except PackageNotFoundError:
        return "0"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry / no login name: not worth failing a report
        return ""


__all__ = ["run_audit", "summarize", "audit_controls", "Progress", "SettingsError"]
