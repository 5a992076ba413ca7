"""How ``bcdrfix fix`` reports each control from pyinfra's operation results, when controls share
one handler operation (the agent's restart or start, ``linux.agent_base.AGENT_HANDLER``)."""

from __future__ import annotations

from dataclasses import dataclass

from bcdrfix.controls import REGISTRY
from bcdrfix.core.apply import operation_name
from bcdrfix.core.model import Finding, Status
from bcdrfix.fix import by_code
from bcdrfix.linux.agent_base import AGENT_HANDLER


@dataclass
class Meta:
    """What ``_outcome`` reads of pyinfra's ``OperationMeta``."""

    changed: bool = False
    error: bool = False
    stderr_lines: tuple[str, ...] = ()

    def is_complete(self) -> bool:
        return True

    def did_change(self) -> bool:
        return self.changed

    def did_error(self) -> bool:
        return self.error


def outcome(control_id: str, handled: bool, ops: list[tuple[str, Meta]]) -> str:
    """The control's outcome; ``handled``: its fix queued a step in the agent's handler."""
    control = REGISTRY.get(control_id)
    operations = (operation_name(control),) + ((AGENT_HANDLER,) if handled else ())
    finding = Finding(Status.FAIL, "wrong", steps=("a step",), operations=operations)
    return by_code._outcome(control, finding, ops, dry=False).outcome


def test_the_shared_handler_counts_for_the_controls_that_queued_steps_in_it():
    """linux.agent_service's start ran in the shared handler: it changed the host, though its
    own operation ran nothing. linux.waagent_conf queued nothing there on this host: the
    handler's failure is not its failure."""
    ops = [
        (operation_name(REGISTRY.get("linux.waagent_conf")), Meta(changed=True)),
        (operation_name(REGISTRY.get("linux.agent_service")), Meta()),
        (AGENT_HANDLER, Meta(changed=True)),
    ]
    assert outcome("linux.agent_service", True, ops) == by_code.CHANGED
    assert outcome("linux.agent_service", False, ops) == by_code.NOT_CHANGED
    broken = ops[:2] + [(AGENT_HANDLER, Meta(error=True, stderr_lines=("start failed",)))]
    assert outcome("linux.agent_service", True, broken) == by_code.FAILED
    assert outcome("linux.waagent_conf", False, broken) == by_code.CHANGED
