"""How ``bcdrfix fix`` reports each control from pyinfra's operation results, when controls share
one handler operation (the agent's restart or start, ``linux.agent_base.AGENT_HANDLER``)."""

from __future__ import annotations

from dataclasses import dataclass

from bcdrfix.controls import REGISTRY
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
    finding = Finding(Status.FAIL, "wrong", steps=("a step",), handled=handled)
    return by_code._outcome(REGISTRY.get(control_id), finding, ops, dry=False).outcome


def test_the_shared_handler_counts_for_the_controls_that_queued_steps_in_it():
    """linux.agent_service's start ran in the shared handler: it changed the host, though its
    own operation ran nothing. linux.waagent_conf queued nothing there on this host: the
    handler's failure is not its failure."""
    ops = [
        ("linux.waagent_conf: /etc/waagent.conf enables extensions", Meta(changed=True)),
        ("linux.agent_service: Guest agent service is running and enabled", Meta()),
        (AGENT_HANDLER, Meta(changed=True)),
    ]
    assert outcome("linux.agent_service", True, ops) == by_code.CHANGED
    assert outcome("linux.agent_service", False, ops) == by_code.NOT_CHANGED
    broken = ops[:2] + [(AGENT_HANDLER, Meta(error=True, stderr_lines=("start failed",)))]
    assert outcome("linux.agent_service", True, broken) == by_code.FAILED
    assert outcome("linux.waagent_conf", False, broken) == by_code.CHANGED
