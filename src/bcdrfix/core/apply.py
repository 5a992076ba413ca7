"""Run controls inside a pyinfra deploy: observe once, check each control, fix what fails.

Deploy files stay thin::

    from bcdrfix.core.apply import apply_controls
    apply_controls(["linux.waagent_conf", "linux.agent_service"])

Per control and host the run reports one of: already right (no change), changed, needs
approval (a disruptive fix without opt-in), not applicable, or error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bcdrfix.controls import REGISTRY, Control, Finding, Status, Step
from bcdrfix.core.observe import OBSERVERS
from bcdrfix.core.settings import Settings, load_settings


def platform_of(host: Any) -> str:
    """``windows`` for hosts in the ``windows`` group or on the WinRM connector, else ``linux``."""
    explicit = host.data.get("bcdrfix_platform")
    if explicit:
        return explicit
    if (
        "windows" in getattr(host, "groups", ())
        or type(host.connector).__name__ == "WinRMConnector"
    ):
        return "windows"
    return "linux"


def select_controls(control_ids: Iterable[str], platform: str, settings: Settings) -> list[Control]:
    controls = [REGISTRY.get(cid) for cid in control_ids]
    return [c for c in controls if c.platform == platform and c.id not in settings.skip_controls]


def observe(host: Any, controls: list[Control], settings: Settings, platform: str) -> dict:
    probes = sorted({name for c in controls for name in c.probes})
    return OBSERVERS[platform](host, probes, settings)


def evaluate(
    controls: list[Control], observation: dict, settings: Settings
) -> list[tuple[Control, Finding]]:
    results = []
    for control in controls:
        finding = control.evaluate(observation, settings)
        if finding.status is Status.FAIL and control.disruptive and not settings.allow_disruptive:
            finding = Finding(
                Status.NEEDS_APPROVAL,
                f"{finding.summary} (disruptive fix: set bcdrfix_allow_disruptive=true "
                "or pass --allow-disruptive)",
                finding.observed,
                finding.desired,
                finding.plan,
            )
        results.append((control, finding))
    return results


def apply_controls(control_ids: Iterable[str]) -> list[tuple[Control, Finding]]:
    """Check and fix the given controls on the current pyinfra host."""
    from pyinfra import host

    from bcdrfix.core.operations.report import note as note_op

    settings = load_settings(host.data, host.name)
    # Say per host why nothing changed (already right, needs approval...), not only with -v.
    host.state.print_noop_info = True
    platform = platform_of(host)
    controls = select_controls(control_ids, platform, settings)
    if not controls:
        return []
    observation = observe(host, controls, settings, platform)
    results = evaluate(controls, observation, settings)
    reported = []
    for control, finding in host.loop(results):
        steps = plan_steps(control, finding, observation, settings)
        run_steps(host, steps)
        reported.append(
            (
                control,
                replace(
                    finding,
                    # pyinfra merges operation names across hosts; keep this host's own.
                    steps=tuple(
                        step.name.removeprefix(f"{control.id}: ")
                        for step in steps
                        if step.op is not note_op
                    ),
                    by_hand=tuple(step.kwargs["message"] for step in steps if step.by_hand),
                ),
            )
        )
    return reported


def plan_steps(
    control: Control, finding: Finding, observation: dict, settings: Settings
) -> list[Step]:
    """The operations for one control on one host: its fix, or a note saying why none."""
    from bcdrfix.core.operations.report import note

    if finding.status is Status.FAIL and control.fix is not None:
        steps = control.fix(observation, settings, finding)
    else:
        # Names are the same on every host so that pyinfra groups them; details go to the message.
        name = f"{finding.status.value}"
        steps = [Step(note, {"name": name, "message": f"{control.id}: {finding.summary}"})]
    return [
        replace(step, kwargs={**step.kwargs, "name": f"{control.id}: {step.name}"})
        for step in steps
    ]


def run_steps(host: Any, steps: list[Step]) -> list[Any]:
    """Issue the steps' operations from this single call site, in order; return their metas.

    pyinfra orders operations across hosts by call site and loop position; one call site inside
    ``host.loop`` keeps the order identical on every host whatever each host needs.
    """
    metas: list[Any] = []
    for step in host.loop(steps):
        kwargs = dict(step.kwargs)
        if step.when_changed is not None:
            kwargs["_if"] = metas[step.when_changed].did_change
        metas.append(step.op(**kwargs))
    return metas
