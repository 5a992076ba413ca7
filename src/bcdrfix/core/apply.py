"""Run controls inside a pyinfra deploy: observe once, check each control, fix what fails.

The engine runs with an ``Engine``: the control registry, the settings table and the
observer of each platform, assembled by ``bcdrfix.controls`` (deploy files call its
``apply_controls``, which passes the assembled engine here).

Per control and host the run reports one of: already right (no change), changed, needs
approval (a disruptive fix without opt-in), not applicable, or error.

Each control is ONE pyinfra operation with the same name on every host
(``linux.agent_service: the guest agent runs...``); per host its outcome is pyinfra's: changed
(the fix ran), no change (already right, not applicable, needs approval, report only: each said
on its own line), or failed (the check could not decide, or ``bcdrfix_fail_on_findings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.operations.util.files import generate_color_diff

from bcdrfix.core.callsite import index_deploy_file
from bcdrfix.core.exit import freeze_at_exit
from bcdrfix.core.model import Control, ControlRegistry, Finding, Status, Step, error
from bcdrfix.core.observe import unreadable_probes
from bcdrfix.core.operations.files import file_content
from bcdrfix.core.operations.lock import RUN_ID, lock_script, locked
from bcdrfix.core.operations.report import note as note_op
from bcdrfix.core.settings import Setting, Settings, load_settings

logger = logging.getLogger("pyinfra")

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


def operation_name(control: Control) -> str:
    """The one pyinfra operation name of a control, the same on every host."""
    return f"{control.id}: {control.title}"


def apply_controls(engine: Engine, control_ids: Iterable[str]) -> list[tuple[Control, Finding]]:
    """Check and fix the given controls on the current pyinfra host: one operation per control.

    Each control is one pyinfra operation named ``operation_name(control)`` on every host, so
    pyinfra's results table counts hosts per control truthfully: changed (the fix ran), no change
    (already right, not applicable, or only reported: why is logged, with ``-v`` for the quiet
    ones), error (the check could not decide, or ``bcdrfix_fail_on_findings`` and something is
    left to a person).
    """
    from pyinfra import host, state

    freeze_at_exit()  # pyinfra's process: its exit skips the last collection
    index_deploy_file(state.current_deploy_filename)  # each operation's call site, cheaper
    settings = engine.load_settings(host.data, host.name)
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
    failures = {
        control.id: failure_reason(control, finding, steps, settings)
        for control, finding, steps in planned
    }
    own = [[step for step in steps if not step.handler] for _, _, steps in planned]
    # Each control's steps for its handler; a control whose operation fails queues none.
    queued = [
        [step for step in steps if step.handler] if failures[control.id] is None else []
        for control, _, steps in planned
    ]
    # One operation per handler name, in the order the controls naming it run.
    handlers: dict[str, list[Step]] = {}
    for (control, _, _), steps in zip(planned, queued):
        if control.handler:
            handlers.setdefault(control.handler, []).extend(steps)
    # A host with changes to make is locked for this run's changes (see operations.lock): its
    # first operation with a change takes the lock in the same command as that change (an
    # operation that fails for a reason yields no change).
    operations = [
        steps if failures[control.id] is None else []
        for (control, _, _), steps in zip(planned, own)
    ] + list(handlers.values())
    first = next((i for i, steps in enumerate(operations) if _changes(steps)), None)
    lock = None
    if platform == "linux" and first is not None:
        lock = lock_script(
            host.name,
            RUN_ID,
            settings.lock_wait,
            settings.lock_ttl,
            # the controller sends a keepalive at least every ssh_keepalive seconds
            stale=settings.ssh_keepalive + settings.ssh_dead_after,
        )
    reported = []
    # One call site inside host.loop: pyinfra orders operations by call site and loop position,
    # so the order is identical on every host whatever each host needs.
    for index, (control, finding, steps) in host.loop(enumerate(planned)):
        failure = failures[control.id]
        _say(host, control, finding, steps, failure)
        name = operation_name(control)
        control_operation(
            name=name,
            control_id=control.id,
            steps=own[index],
            failure=failure,
            lock=lock if index == first else None,
        )
        reported.append(
            (
                control,
                replace(
                    finding,
                    steps=tuple(
                        step.name.removeprefix(f"{control.id}: ")
                        for step in steps
                        if not _is_note(step)
                    ),
                    by_hand=tuple(step.kwargs["message"] for step in steps if step.by_hand),
                    operations=(name, control.handler) if queued[index] else (name,),
                ),
            )
        )
    # Handlers: the same operations on every host (one per handler name), after every control's
    # own; a host whose fix needs none of them reports no change there.
    for index, (handler, steps) in host.loop(enumerate(handlers.items(), len(planned))):
        control_operation(
            name=handler,
            control_id=handler,
            steps=steps,
            lock=lock if index == first else None,
        )
    return reported


def _is_note(step: Step) -> bool:
    return step.op is note_op


def _changes(steps: Sequence[Step]) -> bool:
    return any(not _is_note(step) for step in steps)


def failure_reason(
    control: Control, finding: Finding, steps: list[Step], settings: Settings
) -> str | None:
    """Why this control's operation must fail on this host, or None.

    A check that could not decide (``error``) always fails: pyinfra must never say "no change"
    about something it could not check. With ``bcdrfix_fail_on_findings`` a finding left to a
    person (needs approval, report only, a fix that leaves work by hand) fails too.
    """
    if finding.status is Status.ERROR:
        return f"could not check: {finding.summary}"
    if not settings.fail_on_findings:
        return None
    if finding.status is Status.NEEDS_APPROVAL:
        return f"needs approval: {finding.summary}"
    if finding.status is Status.FAIL:
        left = [step.kwargs["message"] for step in steps if _is_note(step)]
        if not any(not _is_note(step) for step in steps):
            return f"not fixed: {'; '.join(left) or finding.summary}"
        if any(step.by_hand for step in steps):
            return f"left to do by hand: {'; '.join(left)}"
    return None


def _say(host: Any, control: Control, finding: Finding, steps: list[Step], failure: str | None):
    """One line per host for what needs a person or what a fix will do; the rest with -v."""
    if failure:
        host.log_styled(f"{control.id}: {failure}", fg="red", log_func=logger.error)
        return
    if finding.status is Status.NEEDS_APPROVAL:
        host.log_styled(
            f"{control.id}: needs approval: {finding.summary}", fg="yellow", log_func=logger.warning
        )
        return
    if finding.status in (Status.PASS, Status.NOT_APPLICABLE):
        host.noop(f"{control.id}: {finding.status.value}: {finding.summary}")
        return
    for step in steps:
        what = step.name.removeprefix(f"{control.id}: ")
        if _is_note(step):  # report only, needs approval, by hand: a person must read it
            host.log_styled(
                f"{control.id}: {what}: {step.kwargs['message']}",
                fg="yellow",
                log_func=logger.warning,
            )
        else:  # what the fix does on this host (the operation's name is the control's)
            host.log(f"{control.id}: fix: {what}")


@operation(is_idempotent=True)
def control_operation(
    control_id: str, steps: Sequence[Step], failure: str | None = None, lock: str | None = None
):
    """
    Check-and-fix of one bcdrfix control on one host: the commands of every step of its fix.

    + control_id: the control (``linux.agent_service``), or the handler's name
    + steps: the fix's steps (``bcdrfix.core.model.Step``) planned for this host
    + failure: a reason to fail this host's operation (the check could not decide...)
    + lock: this run's host lock (``operations.lock.lock_script``), taken by the operation's
      first command before it runs (alone when the steps yield no command)

    A step with ``when_changed`` runs only when the step it names yields commands, as pyinfra's
    ``_if=meta.did_change`` would across operations. Files written by ``file_content`` show a
    diff with ``--diff``.
    """
    if failure is not None:
        yield FunctionCommand(_fail, (f"{control_id}: {failure}",), {})
        return
    changed: list[bool] = []
    for step in steps:
        if _is_note(step) or (step.when_changed is not None and not changed[step.when_changed]):
            changed.append(False)
            continue
        kwargs = {key: value for key, value in step.kwargs.items() if key != "name"}
        commands = list(step.op._inner(**kwargs))  # type: ignore[attr-defined]
        changed.append(bool(commands))
        if commands and step.op is file_content:
            _log_diff(kwargs)
        if commands and lock is not None:
            if isinstance(commands[0], (str, StringCommand)):
                commands[0] = locked(commands[0], lock)
            else:  # a command that is no shell command: the lock on its own before it
                commands.insert(0, StringCommand(lock))
            lock = None
        yield from commands
    if lock is not None:
        yield StringCommand(lock)


def _fail(state: Any, host: Any, message: str) -> bool:
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


def _log_diff(kwargs: dict[str, Any]) -> None:
    """Show the change of a file as pyinfra's own file operations do under ``--diff``."""
    from pyinfra import host

    state = host.state
    if not state.config.DIFF or state.is_executing:
        return
    current = kwargs.get("current") or {}
    host.log(f"Will modify {kwargs['path']}", logger.info)
    for line in generate_color_diff(
        str(current.get("text", "")).splitlines(keepends=True),
        str(kwargs["content"]).splitlines(keepends=True),
    ):
        logger.info("  %s", line)
    logger.info("")


def plan_steps(
    control: Control, finding: Finding, observation: dict, settings: Settings
) -> list[Step]:
    """The operations for one control on one host: its fix, or a note saying why none."""
    if finding.status is Status.FAIL and control.fix is not None:
        steps = control.fix(observation, settings, finding)
    else:
        # A failing check without a fix is reported only; the other outcomes say their status.
        name = "report only" if finding.status is Status.FAIL else finding.status.value
        steps = [Step(note_op, {"name": name, "message": finding.summary})]
    flags = [step.handler for step in steps]
    if any(flags) and (
        not control.handler
        or flags != sorted(flags)  # handler steps last: when_changed indices stay valid
        or any(step.when_changed is not None for step in steps if step.handler)
    ):
        raise ValueError(
            f"{control.id}: handler steps need the control's handler name, come last and are "
            "not conditional on another step"
        )
    return [
        replace(step, kwargs={**step.kwargs, "name": f"{control.id}: {step.name}"})
        for step in steps
    ]
