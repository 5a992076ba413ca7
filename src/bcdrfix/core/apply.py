"""Run controls inside a pyinfra deploy: observe once, check each control, fix what fails.

The engine runs with an ``Engine``: the control registry, the settings table and the
observer of each platform, assembled by ``bcdrfix.controls`` (deploy files call its
``apply_controls``, which passes the assembled engine here).

Per control and host the run reports one of: already right (no change), changed, needs
approval (a disruptive fix without opt-in), not applicable, or error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bcdrfix.core.model import Control, ControlRegistry, Finding, Status, Step, error
from bcdrfix.core.observe import unreadable_probes
from bcdrfix.core.operations.lock import host_lock, host_unlock
from bcdrfix.core.operations.report import note
from bcdrfix.core.settings import Setting, Settings, load_settings

# function(host, probe names, settings) -> observation dict
Observer = Callable[[Any, Iterable[str], Any], dict[str, Any]]


@dataclass(frozen=True)
class Engine:
    """What the engine runs with: controls, settings and the observer of each platform."""

    controls: ControlRegistry
    settings: Mapping[str, Setting]
    observers: Mapping[str, Observer]

    def load_settings(self, data: Any, host_name: str = "") -> Settings:
        return load_settings(data, host_name, table=self.settings, controls=self.controls)


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


def select_controls(
    registry: ControlRegistry, control_ids: Iterable[str], platform: str, settings: Settings
) -> list[Control]:
    controls = [registry.get(cid) for cid in control_ids]
    return [c for c in controls if c.platform == platform and c.id not in settings.skip_controls]


def observe(
    observers: Mapping[str, Observer],
    host: Any,
    controls: list[Control],
    settings: Settings,
    platform: str,
) -> dict:
    probes = sorted({name for c in controls for name in c.probes})
    return observers[platform](host, probes, settings)


def evaluate(
    controls: list[Control], observation: dict, settings: Settings
) -> list[tuple[Control, Finding]]:
    results = []
    for control in controls:
        if unreadable := unreadable_probes(observation, control.probes):
            results.append((control, error("cannot check: " + "; ".join(unreadable))))
            continue
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


def apply_controls(engine: Engine, control_ids: Iterable[str]) -> list[tuple[Control, Finding]]:
    """Check and fix the given controls on the current pyinfra host."""
    from pyinfra import host

    settings = engine.load_settings(host.data, host.name)
    # Say per host why nothing changed (already right, needs approval...), not only with -v.
    host.state.print_noop_info = True
    platform = platform_of(host)
    controls = select_controls(engine.controls, control_ids, platform, settings)
    if not controls:
        return []
    observation = observe(engine.observers, host, controls, settings, platform)
    results = evaluate(controls, observation, settings)
    planned = [
        (control, finding, plan_steps(control, finding, observation, settings))
        for control, finding in results
    ]
    # A host with changes to make is locked for this run's changes (see operations.lock).
    changes = platform == "linux" and any(
        step.op is not note for _, _, steps in planned for step in steps
    )
    if changes:
        host_lock(
            name="Lock the host for this run",
            host_name=host.name,
            wait=settings.lock_wait,
            ttl=settings.lock_ttl,
            # the controller sends a keepalive at least every ssh_keepalive seconds
            stale=settings.ssh_keepalive + settings.ssh_dead_after,
        )
    reported = []
    for control, finding, steps in host.loop(planned):
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
                        if step.op is not note
                    ),
                    by_hand=tuple(step.kwargs["message"] for step in steps if step.by_hand),
                ),
            )
        )
    if changes:
        host_unlock(name="Unlock the host")
    return reported


def plan_steps(
    control: Control, finding: Finding, observation: dict, settings: Settings
) -> list[Step]:
    """The operations for one control on one host: its fix, or a note saying why none."""
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
