"""COM+ and MSDTC controls: COMSysApp started, MSDTC as NetworkService, MSDTC reinstall."""

from __future__ import annotations

from typing import Any

from bcdrfix.core.model import (
    Finding,
    Status,
    Step,
    error,
    failed,
    note,
    passed,
)
from bcdrfix.windows import operations as ops
from bcdrfix.windows.controls.base import (
    NETWORK_SERVICE,
    _guard,
    _register,
    on_request,
    restart_step,
    service_of,
    service_step,
)

# --- COM+ / MSDTC -----------------------------------------------------------------------------


@_guard
def check_comsysapp(observation, settings) -> Finding:
    service = service_of(observation, "COMSysApp")
    if service is None:
        return error("COMSysApp (COM+ System Application) is not installed")
    if service.get("start_mode") == "Disabled":
        return failed(
            "COMSysApp is Disabled", {"start_mode": "Disabled"}, {"state": "Running"}, enable=True
        )
    if service.get("state") != "Running":
        return failed(
            f"COMSysApp is {service.get('state')}",
            {"state": service.get("state")},
            {"state": "Running"},
        )
    return passed("COMSysApp is running", {"state": "Running"})


def _start_comsysapp(observation, settings, **desired: Any) -> Step:
    return service_step(
        "COMSysApp",
        "Start COM+ System Application",
        service_of(observation, "COMSysApp"),
        settings,
        **desired,
    )


def fix_comsysapp(observation, settings, finding: Finding) -> list[Step]:
    desired: dict[str, Any] = {"running": True}
    if finding.plan.get("enable"):
        desired["start_mode"] = "Manual"  # the Windows default for COMSysApp
    return [_start_comsysapp(observation, settings, **desired)]


_register(
    id="windows.comsysapp",
    title="COM+ System Application is started",
    disruptive=False,
    probes=("services",),
    check=check_comsysapp,
    fix=fix_comsysapp,
    description="net start COMSysApp (a Disabled service is set back to Manual first).",
)


def normalise_account(account: str | None) -> str:
    return ops.normalise_account(account)


@_guard
def check_msdtc_account(observation, settings) -> Finding:
    service = service_of(observation, "MSDTC")
    if service is None:
        return error("MSDTC is not installed (see windows.msdtc_reinstall)")
    account = service.get("account")
    running = service.get("state") == "Running"
    process_account = service.get("process_account")
    observed = {"account": account, "state": service.get("state"), "running_as": process_account}
    desired = {"account": NETWORK_SERVICE}
    wanted = normalise_account(NETWORK_SERVICE)
    if normalise_account(account) != wanted:
        then = (
            (
                "then restart MSDTC and start COMSysApp"
                if settings.allow_disruptive
                else "a restart of MSDTC, which needs approval, makes it take effect"
            )
            if running
            else "then start MSDTC and COMSysApp"
        )
        return failed(
            f"MSDTC runs as {account}; would set {NETWORK_SERVICE}, {then}",
            observed,
            desired,
            running=running,
        )
    if running and process_account and normalise_account(process_account) != wanted:
        # Configured, but the running process still uses the old account until it restarts.
        summary = (
            f"changed, restart needed: MSDTC is set to {NETWORK_SERVICE} but still runs as "
            f"{process_account} until it restarts (then COMSysApp is started)"
        )
        if not settings.allow_disruptive:
            return Finding(
                Status.NEEDS_APPROVAL,
                f"{summary} (needs approval: set bcdrfix_allow_disruptive=true or pass "
                "--allow-disruptive)",
                observed,
                desired,
            )
        return failed(summary, observed, desired, restart_only=True)
    return passed(f"MSDTC runs as {NETWORK_SERVICE}", observed, desired)


def fix_msdtc_account(observation, settings, finding: Finding) -> list[Step]:
    current = service_of(observation, "MSDTC")
    if finding.plan.get("restart_only"):
        return [
            restart_step("MSDTC", settings, "Restart MSDTC to use the new account"),
            service_step(
                "COMSysApp",
                "Start COM+ System Application",
                service_of(observation, "COMSysApp"),
                settings,
                running=True,
            ),
        ]
    steps = [
        service_step(
            "MSDTC", f"Run MSDTC as {NETWORK_SERVICE}", current, settings, account=NETWORK_SERVICE
        )
    ]
    if finding.plan.get("running"):
        if settings.allow_disruptive:
            restart = restart_step("MSDTC", settings, "Restart MSDTC to use the new account")
            steps.append(Step(restart.op, restart.kwargs, when_changed=0))
        else:
            steps.append(
                note(
                    "changed, restart needed (needs approval): restart MSDTC (and start "
                    "COMSysApp) for the new account to take effect; set "
                    "bcdrfix_allow_disruptive=true",
                    "needs approval",
                    by_hand=True,
                )
            )
            return steps
    else:
        steps.append(service_step("MSDTC", "Start MSDTC", current, settings, running=True))
    steps.append(_start_comsysapp(observation, settings, running=True))
    return steps


_register(
    id="windows.msdtc_account",
    title="MSDTC runs as NT AUTHORITY\\NetworkService",
    disruptive=False,
    probes=("services",),
    check=check_msdtc_account,
    fix=fix_msdtc_account,
    description="Changes the account; restarting a running MSDTC is left to an approved run.",
)

MSDTC_REINSTALL_PLAN = (
    "would stop MSDTC, run msdtc -uninstall and msdtc -install, start MSDTC, then start COMSysApp"
)


check_msdtc_reinstall = on_request(
    "msdtc_reinstall", "MSDTC reinstall", MSDTC_REINSTALL_PLAN, "reinstalled"
)


def fix_msdtc_reinstall(observation, settings, finding: Finding) -> list[Step]:
    return [
        Step(
            ops.msdtc_reinstall,
            {
                "name": "Reinstall MSDTC and start COM+",
                "wait_seconds": settings.windows_service_wait,
                "step_seconds": settings.windows_msdtc_timeout,
            },
        )
    ]


_register(
    id="windows.msdtc_reinstall",
    title="Reinstall MSDTC on request",
    disruptive=True,
    probes=(),
    check=check_msdtc_reinstall,
    fix=fix_msdtc_reinstall,
    on_demand=True,
)
