"""VSS controls: every writer stable (restart its service), the VSS service on request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Finding,
    Step,
    error,
    failed,
    not_applicable,
    note,
    passed,
    report_only,
)
from bcdrfix.windows import operations as ops
from bcdrfix.windows.controls.base import (
    WRITER_IDS,
    _guard,
    _register,
    _section,
    restart_step,
    service_of,
    writer_services,
)
from bcdrfix.windows.facts import NO_ERROR_TEXTS

# --- VSS --------------------------------------------------------------------------------------

WAITING_STATES = range(2, 6)  # a shadow copy is being prepared or taken


def _writers(observation: Mapping[str, Any]) -> list[dict[str, Any]]:
    vss = _section(observation, "vss_writers")
    writers = vss.get("writers") or []
    if not writers:
        detail = (
            next(
                (
                    line.strip()
                    for line in vss.get("lines") or ()
                    if line.strip().lower().startswith(("error", "erreur", "fehler"))
                ),
                None,
            )
            or f"exit code {vss.get('exit_code')}"
        )
        raise LookupError(f"vssadmin list writers listed no writers ({detail})")
    return writers


def busy_writers(writers: list[dict[str, Any]]) -> list[str]:
    """Writers in states 2-5: a snapshot is in progress and no VSS service may restart."""
    return [
        f"'{w['name']}' [{w.get('state')}]" for w in writers if w.get("state") in WAITING_STATES
    ]


def writer_plan(observation: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """Which writers are not stable and what to do: restart a mapped service, or report.

    The bracketed state number decides; the "Last error" text counts only when it is a known
    text (``facts.NO_ERROR_TEXTS``, English errors): an unknown text is reported, never acted
    on. While any writer is in states 2-5 every restart is postponed.
    """
    writers = _writers(observation)
    mapping = {k.lower(): v for k, v in writer_services(settings).items()}
    services = _section(observation, "services")
    busy = busy_writers(writers)
    bad: list[str] = []
    restarts: dict[str, list[str]] = {}
    reports: list[str] = []
    for writer in writers:
        state = writer.get("state")
        ok = writer.get("last_error_ok")
        if state == 1 and ok is True:
            continue
        label = f"'{writer['name']}' [{state}] {writer.get('state_text') or ''}".rstrip()
        if writer.get("last_error"):
            label += f" / {writer['last_error']}"
        if state == 1 and ok is None:
            reports.append(
                f"{label}: stable, with a last error text bcdrfix does not know; check it"
            )
            continue
        bad.append(label)
        if state in WAITING_STATES:
            continue
        known_name = WRITER_IDS.get(str(writer.get("writer_id") or "").lower())
        service = mapping.get(writer["name"].lower()) or (
            mapping.get(known_name.lower()) if known_name else None
        )
        if not service:
            reports.append(f"{label}: no known service for this writer; restart it by hand")
        elif services.get(service.lower()) is None:
            reports.append(f"{label}: its service {service} is not installed")
        else:
            restarts.setdefault(services[service.lower()]["name"], []).append(writer["name"])
    if busy and restarts:
        reports.append(
            f"a snapshot is in progress ({', '.join(busy)}): every restart on this host is "
            f"postponed ({', '.join(restarts)}); run again when no writer is in states 2-5"
        )
        restarts = {}
    elif busy:
        reports.append(f"a snapshot is in progress ({', '.join(busy)}); check again later")
    return {"bad": bad, "restarts": restarts, "reports": reports, "count": len(writers)}


@_guard
def check_vss_writers(observation, settings) -> Finding:
    plan = writer_plan(observation, settings)
    if not plan["bad"] and not plan["reports"]:
        return passed(
            f"all {plan['count']} VSS writers are stable with no error", {"writers": plan["count"]}
        )
    if not plan["bad"]:
        return error("; ".join(plan["reports"]), {"writers": plan["count"]})
    actions = [
        f"restart {service} (for {', '.join(names)})" for service, names in plan["restarts"].items()
    ]
    actions += [f"report {text}" for text in plan["reports"]]
    return failed(
        f"VSS writers not stable: {'; '.join(plan['bad'])}; would {'; '.join(actions)}",
        {"not_stable": plan["bad"]},
        "every writer [1] stable with no error",
        restarts=plan["restarts"],
        reports=plan["reports"],
    )


def fix_vss_writers(observation, settings, finding: Finding) -> list[Step]:
    restarts = finding.plan.get("restarts", {})
    steps = [
        restart_step(service, settings, f"Restart {service} for VSS writer(s) {', '.join(names)}")
        for service, names in restarts.items()
    ]
    if restarts:
        # Re-read the writers: a writer still failing after its restart is a failure.
        steps.append(
            Step(
                ops.vss_writers_verify,
                {
                    "name": "Re-read the VSS writers after the restart",
                    "writers": [name for names in restarts.values() for name in names],
                    "no_error_texts": list(NO_ERROR_TEXTS),
                    "wait_seconds": settings.windows_service_wait,
                    "step_seconds": settings.windows_vssadmin_timeout,
                },
            )
        )
    steps += [note(text, "report writer", by_hand=True) for text in finding.plan.get("reports", ())]
    return steps


_register(
    id="windows.vss_writers",
    title="Every VSS writer is stable with no error",
    disruptive=True,
    probes=("vss_writers", "services"),
    check=check_vss_writers,
    fix=fix_vss_writers,
    description="Restarts each failed writer's service per the writer -> service map, then "
    "re-reads the writers; unknown writers, unknown error texts and snapshots in progress are "
    "reported, never guessed.",
)


@_guard
def check_vss_service(observation, settings) -> Finding:
    service = service_of(observation, "VSS")
    if service is None:
        return error("the VSS service is not installed")
    observed = {"state": service.get("state"), "start_mode": service.get("start_mode")}
    if service.get("start_mode") == "Disabled":
        return failed(
            "the Volume Shadow Copy service is Disabled: no snapshot (and no VSS restart) can "
            "work; set it back to Manual (the Windows default)",
            observed,
            {"start_mode": "Manual"},
        )
    return passed(f"VSS starts {service.get('start_mode')}", observed)


_register(
    id="windows.vss_service",
    title="The Volume Shadow Copy service is not Disabled",
    disruptive=False,
    probes=("services",),
    check=check_vss_service,
    fix=report_only("set VSS to Manual (Set-Service VSS -StartupType Manual) after checking why"),
    description="Report only.",
)


@_guard
def check_vss_service_restart(observation, settings) -> Finding:
    if not settings.vss_service_restart:
        return not_applicable("no VSS restart requested (set bcdrfix_vss_service_restart=true)")
    service = service_of(observation, "VSS")
    if service is None:
        return error("the VSS service is not installed")
    if service.get("start_mode") == "Disabled":
        return error(
            "the VSS service is Disabled: it cannot be restarted (see windows.vss_service)"
        )
    busy = busy_writers(_writers(observation))
    if busy:
        return error(
            f"a snapshot is in progress ({', '.join(busy)}): the VSS restart is postponed; "
            "run again when no writer is in states 2-5"
        )
    return failed(
        "VSS restart requested: would stop and start the Volume Shadow Copy service",
        desired="restarted",
    )


def fix_vss_service_restart(observation, settings, finding: Finding) -> list[Step]:
    return [restart_step("VSS", settings, "Restart the Volume Shadow Copy service (requested)")]


_register(
    id="windows.vss_service_restart",
    title="Restart the VSS service on request",
    disruptive=True,
    probes=("services", "vss_writers"),
    check=check_vss_service_restart,
    fix=fix_vss_service_restart,
    on_demand=True,
)
