"""The control: one desired-state check together with its fix.

A control is defined once and used twice:

* the audit calls ``check(observation, settings)`` only (read-only, no host change);
* the remediation calls ``check`` and then, when the result is ``fail``, ``fix(...)``,
  which returns the pyinfra operations (``Step``) that make it pass.

``observation`` is plain data gathered in one batch per host (see ``bcdrfix.core.observe``),
``settings`` is the validated desired state from inventory / group data
(see ``bcdrfix.core.settings``). Controls never talk to the host themselves while checking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bcdrfix.core.operations.files import file_content
from bcdrfix.core.operations.report import note as note_op


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    NEEDS_APPROVAL = "needs-approval"
    NOT_APPLICABLE = "not-applicable"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """The outcome of one control on one host."""

    status: Status
    summary: str
    observed: Any = None
    desired: Any = None
    # Free-form details a fix needs (for example the new file content), not shown to users.
    plan: Mapping[str, Any] = field(default_factory=dict)
    # Set by the remediation: the steps its fix issued on this host (names), what the fix leaves
    # to a person (messages of by-hand notes), and the pyinfra operations (names) that carry its
    # steps there: its own, and the handler operation it queued steps in (``Control.handler``,
    # which other controls may share).
    steps: tuple[str, ...] = ()
    by_hand: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.NOT_APPLICABLE)


def passed(summary: str, observed: Any = None, desired: Any = None) -> Finding:
    return Finding(Status.PASS, summary, observed, desired)


def failed(summary: str, observed: Any = None, desired: Any = None, **plan: Any) -> Finding:
    return Finding(Status.FAIL, summary, observed, desired, plan)


def not_applicable(summary: str, observed: Any = None) -> Finding:
    return Finding(Status.NOT_APPLICABLE, summary, observed)


def error(summary: str, observed: Any = None, desired: Any = None) -> Finding:
    return Finding(Status.ERROR, summary, observed, desired)


# What a check may raise on data it cannot read (a probe's output cut short, a value that does not
# parse): the host gets an ``error`` finding. Anything else (TypeError, AttributeError...) is a
# bug in bcdrfix and crashes loudly.
DATA_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError)


@dataclass(frozen=True)
class Step:
    """One pyinfra operation a fix wants: ``op(**kwargs)``.

    ``when_changed`` names an earlier step of the same fix (its index); this step then runs only
    if that one changed something (pyinfra's ``_if=meta.did_change``), e.g. reload after a write.
    Fixes return steps instead of calling operations so that they stay pure (testable without a
    pyinfra state) and so that every operation is issued from one call site in a stable order.
    """

    op: Callable[..., Any]
    kwargs: Mapping[str, Any]
    when_changed: int | None = None
    by_hand: bool = False  # a note of work the fix leaves to a person
    # Runs in the control's handler operation, after every control of the deploy (as an Ansible
    # handler does): e.g. the agent restarted or started once, after its config and unit are right.
    handler: bool = False

    @property
    def name(self) -> str:
        return str(self.kwargs.get("name") or getattr(self.op, "__name__", "operation"))


def shell(name: str, command: str, when_changed: int | None = None, handler: bool = False) -> Step:
    """A POSIX shell step (pyinfra's ``server.shell``); quote data with ``shlex.quote``."""
    from pyinfra.operations import server

    return Step(server.shell, {"name": name, "commands": [command]}, when_changed, handler=handler)


def note(message: str, name: str = "report only", by_hand: bool = False) -> Step:
    """A step that changes nothing; ``name`` stays the same on every host so pyinfra groups it.

    ``by_hand``: the message is work the fix leaves to a person, so a run that changed the rest
    does not look complete.
    """
    return Step(note_op, {"name": name, "message": message}, by_hand=by_hand)


def report_only(advice: str) -> FixFunc:
    """The fix of a control bcdrfix only reports on: the finding plus what a person should do."""

    def fix(observation: Mapping[str, Any], settings: Any, finding: Finding) -> list[Step]:
        return [note(f"{finding.summary}: {advice}; bcdrfix reports only")]

    return fix


def write_file(name: str, path: str, content: str, current: Any, mode: str = "644") -> Step:
    """Replace a file's content keeping owner/mode, with a backup (``operations.files``)."""
    return Step(
        file_content,
        {"name": name, "path": path, "content": content, "current": current, "mode": mode},
    )


CheckFunc = Callable[[Mapping[str, Any], Any], Finding]
FixFunc = Callable[[Mapping[str, Any], Any, Finding], "list[Step]"]


@dataclass(frozen=True)
class Control:
    """A desired-state check and its fix.

    id:          stable identifier used in group data, the catalog and reports ("linux.agent_service")
    title:       one line for people
    platform:    "linux" or "windows"
    disruptive:  the fix can hurt production (restarts services other than the agent, reinstalls
                 components, unmounts...): it runs only with an explicit opt-in
    probes:      names of the observation probes ``check`` reads
    check:       (observation, settings) -> Finding, pure
    fix:         (observation, settings, finding) -> list[Step], the pyinfra operations to run
    on_demand:   the control acts only when the user asks for it (restart the agent now, upgrade)
    handler:     the name of the handler operation the steps of its fix marked ``handler=True``
                 run in, after every control of the deploy. Controls naming the same handler
                 share ONE operation (as an Ansible handler notified by several tasks runs
                 once), their steps in the order the controls run.
    """

    id: str
    title: str
    platform: str
    disruptive: bool
    probes: tuple[str, ...]
    check: CheckFunc
    fix: FixFunc | None = None
    on_demand: bool = False
    description: str = ""
    handler: str = ""

    def evaluate(self, observation: Mapping[str, Any], settings: Any) -> Finding:
        """Run the check; turn unreadable data (``DATA_ERRORS``) into an ``error`` finding.

        Only data errors are caught: a programming error must not pass for a finding.
        """
        try:
            return self.check(observation, settings)
        except DATA_ERRORS as exc:
            return error(f"could not evaluate the observed data: {type(exc).__name__}: {exc}")


class ControlRegistry:
    """Controls by id. Each content module keeps its own (``CONTROLS``); ``bcdrfix.controls``
    combines them into the one registry the applications pass to the engine."""

    def __init__(self, controls: Iterable[Control] = ()) -> None:
        self._controls: dict[str, Control] = {}
        for control in controls:
            self.register(control)

    @classmethod
    def combine(cls, *registries: ControlRegistry) -> ControlRegistry:
        return cls(control for registry in registries for control in registry.all())

    def register(self, control: Control) -> Control:
        if control.id in self._controls:
            raise ValueError(f"duplicate control id {control.id!r}")
        self._controls[control.id] = control
        return control

    def get(self, control_id: str) -> Control:
        try:
            return self._controls[control_id]
        except KeyError:
            known = ", ".join(sorted(self._controls))
            raise KeyError(f"unknown control {control_id!r} (known: {known})") from None

    def __contains__(self, control_id: object) -> bool:
        return control_id in self._controls

    def all(self, platform: str | None = None) -> list[Control]:
        return [c for c in self._controls.values() if platform in (None, c.platform)]

    def ids(self) -> list[str]:
        return list(self._controls)
