"""Linux guest agent (WALinuxAgent): service, restart on request and auto-restart controls here;
waagent.conf in ``agent_conf``, the package in ``agent_package``, shared probes in ``agent_base``.
``CONTROLS`` holds all five in the order audit and reports list them."""

from __future__ import annotations

import shlex

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    failed,
    not_applicable,
    note,
    passed,
    shell,
)
from bcdrfix.core.observe import parse_file, probe
from bcdrfix.core.operations.files import file_content
from bcdrfix.core.templating import render
from bcdrfix.linux import agent_conf, agent_package
from bcdrfix.linux.agent_base import (
    AGENT_HANDLER,
    _no_systemd,
    _unit_for_fix,
    agent_unit,
    masked_unit,
)

_OWN = ControlRegistry()

DROPIN_NAME = "zz-bcdrfix-restart.conf"  # sorts after admins' override.conf, so it wins


@probe(
    "agent_restart_dropin",
    f"""
if [ -n "$BCDR_UNIT" ]; then bcdr_file "/etc/systemd/system/$BCDR_UNIT.d/{DROPIN_NAME}"
else echo missing; fi
""",
)
def _parse_dropin(lines: list[str]) -> dict | None:
    return parse_file(lines)


# --- 1. agent service -------------------------------------------------------------------------


def check_agent_service(observation, settings) -> Finding:
    if observation.get("has_systemd") and not agent_unit(observation):
        if masked := masked_unit(observation):
            # The fix of this control is the request to run the agent: it unmasks it then.
            return failed(
                f"{masked} is masked: systemd will not start the agent",
                {"unit": masked, "LoadState": "masked"},
                {"unit": masked, "ActiveState": "active", "UnitFileState": "enabled"},
                unmask=masked,
            )
    if (missing := _no_systemd(observation)) is not None:
        return missing
    unit = agent_unit(observation)
    show = observation.get("agent_service") or {}
    active = show.get("ActiveState")
    enabled = show.get("UnitFileState")
    observed = {"unit": unit, "ActiveState": active, "UnitFileState": enabled}
    desired = {"unit": unit, "ActiveState": "active", "UnitFileState": "enabled"}
    problems = []
    if active != "active":
        problems.append(f"{unit} is {active} ({show.get('SubState')})")
    if enabled not in ("enabled", "enabled-runtime", "static", "alias"):
        problems.append(f"{unit} is {enabled} at boot")
    processes = observation.get("agent_processes") if settings.agent_check_processes else None
    by_hand = False
    if active == "active" and processes is not None and not processes.get("exthandlers"):
        observed["exthandlers"] = False
        by_hand = True
        problems.append(
            f"{unit} is active but its extension handler (-run-exthandlers) is not running: "
            "extensions such as VMSnapshotLinux do not run (the daemon starts it once it "
            "reaches the wireserver: see linux.connectivity and /var/log/waagent.log)"
        )
    if problems:
        return failed(
            "; ".join(problems),
            observed,
            desired,
            start=active != "active",
            enable=enabled not in ("enabled", "enabled-runtime", "static", "alias"),
            by_hand=by_hand,
        )
    return passed(
        f"{unit} is active and enabled"
        + (", its extension handler runs" if processes is not None else ""),
        observed,
        desired,
    )


def fix_agent_service(observation, settings, finding: Finding) -> list[Step]:
    if masked := finding.plan.get("unmask"):
        q = shlex.quote(masked)
        return [
            shell(
                f"Unmask, enable and start {masked}",
                f"systemctl unmask {q} && systemctl enable --now {q}",
            )
        ]
    unit = _unit_for_fix(observation)
    q = shlex.quote(unit)
    steps = []
    if finding.plan.get("enable"):
        steps.append(shell("Enable the agent at boot", f"systemctl enable {q}"))
    if finding.plan.get("by_hand"):
        # A restart does not help a daemon that cannot reach the wireserver; say so, do not loop.
        steps.append(
            note(
                f"{unit}: the extension handler (-run-exthandlers) is not running; a restart "
                "does not help while the daemon cannot reach the wireserver",
                name="the extension handler is not running",
                by_hand=True,
            )
        )
    if finding.plan.get("start"):
        # In the agent's handler, after every control of the deploy: the agent starts once, with
        # its new config and unit (linux.waagent_conf's restart step leaves a stopped agent alone).
        steps.append(shell("Start the agent", f"systemctl start {q}", handler=True))
    return steps


_OWN.register(
    Control(
        id="linux.agent_service",
        title="Guest agent service is running and enabled",
        platform="linux",
        disruptive=False,
        probes=("agent_service", "agent_processes"),
        check=check_agent_service,
        fix=fix_agent_service,
        handler=AGENT_HANDLER,
        description="Detects walinuxagent.service or waagent.service on the host and starts/enables "
        "it (unmasks a masked unit); checks that the extension handler (-run-exthandlers) runs.",
    )
)


# --- 1b. restart on demand --------------------------------------------------------------------


def check_agent_restart(observation, settings) -> Finding:
    if (missing := _no_systemd(observation)) is not None:
        return missing
    if not settings.agent_restart:
        return not_applicable("no restart requested (set bcdrfix_agent_restart=true)")
    return failed(f"restart of {agent_unit(observation)} requested", desired="restarted")


def fix_agent_restart(observation, settings, finding: Finding) -> list[Step]:
    unit = _unit_for_fix(observation)
    return [shell("Restart the agent (requested)", f"systemctl restart {shlex.quote(unit)}")]


_OWN.register(
    Control(
        id="linux.agent_restart",
        title="Restart the guest agent on request",
        platform="linux",
        disruptive=False,
        probes=("agent_service",),
        check=check_agent_restart,
        fix=fix_agent_restart,
        on_demand=True,
        description="The articles' 'restart the agent'; runs only when bcdrfix_agent_restart is set.",
    )
)


# --- 2. auto-restart --------------------------------------------------------------------------


def dropin_path(unit: str) -> str:
    return f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}"


def dropin_content(settings) -> str:
    return render("agent-restart.conf.j2", restart_sec=settings.agent_restart_sec)


def check_agent_auto_restart(observation, settings) -> Finding:
    if (missing := _no_systemd(observation)) is not None:
        return missing
    unit = agent_unit(observation)
    restart = (observation.get("agent_service") or {}).get("Restart")
    if restart == "always":
        return passed(f"{unit} has Restart=always", {"Restart": restart}, {"Restart": "always"})
    return failed(
        f"{unit} has Restart={restart}: the agent stays down after a crash",
        {"Restart": restart},
        {"Restart": "always"},
    )


def fix_agent_auto_restart(observation, settings, finding: Finding) -> list[Step]:
    unit = _unit_for_fix(observation)
    q = shlex.quote(unit)
    restart = f"systemctl show -p Restart --value {q}"  # the effective Restart=
    check = (
        f"r=$({restart}) && "
        f'{{ [ "$r" = always ] || {{ echo "bcdrfix: {unit} still has Restart=$r '
        f'(a drop-in in /run or a later one overrides it)" >&2; exit 1; }}; }}'
    )
    # One command: the drop-in, then systemd reloads and the effective Restart= is checked. Keyed
    # on the effective state, not on whether the drop-in changed: a run interrupted between the
    # write and the reload leaves the file right and Restart= still wrong, and the next run
    # reloads (only when needed) and checks.
    write = Step(
        file_content,
        {
            "name": "Write the Restart=always drop-in, reload systemd and verify Restart=always",
            "path": dropin_path(unit),
            "content": dropin_content(settings),
            "current": observation.get("agent_restart_dropin"),
            "then": f'[ "$({restart})" = always ] || systemctl daemon-reload; {check}',
            "then_if_written": f"systemctl daemon-reload; {check}",
        },
    )
    return [write]


_OWN.register(
    Control(
        id="linux.agent_auto_restart",
        title="systemd restarts the guest agent when it stops",
        platform="linux",
        disruptive=False,
        probes=("agent_service", "agent_restart_dropin"),
        check=check_agent_auto_restart,
        fix=fix_agent_auto_restart,
        description=f"Writes /etc/systemd/system/<unit>.d/{DROPIN_NAME} with Restart=always.",
    )
)


# The agent's controls, in the order audit and reports list them.
CONTROLS = ControlRegistry.combine(_OWN, agent_conf.CONTROLS, agent_package.CONTROLS)
