"""Windows codes through the Windows controls, on the Windows helper's hand-written observations.

No Windows machine exists where bcdrfix is developed (tests/windows/fixtures/README.md), so these
tests run the catalog's Windows controls on observation fixtures, not on a host: for every Windows
code, a broken machine gets a plan from each control the code names, a healthy one gets nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcdrfix.catalog import load_catalog
from bcdrfix.controls import REGISTRY, Status, load_settings
from bcdrfix.core.apply import evaluate, plan_steps, select_controls

FIXTURES = Path(__file__).resolve().parents[1] / "windows" / "fixtures"
WINDOWS_CODES = [
    e.code for e in load_catalog(REGISTRY).for_platform("windows") if e.control_ids("windows")
]


def observation(name: str) -> dict:
    from bcdrfix.windows.facts import parse_observation

    data = json.loads((FIXTURES / f"observation_{name}.json").read_text("utf-8"))
    return parse_observation([json.dumps(data, ensure_ascii=False)])


def findings(code: str, name: str, **data):
    settings = load_settings({**data, "error_code": code})  # as fix --code passes it
    controls = select_controls(
        REGISTRY, load_catalog(REGISTRY).get(code).control_ids("windows"), "windows", settings
    )
    return settings, evaluate(controls, observation(name), settings)


@pytest.mark.parametrize("code", WINDOWS_CODES)
def test_broken_windows_machine_gets_a_plan_from_every_control_of_the_code(code):
    settings, results = findings(code, "broken")
    assert [c.id for c, _ in results] == load_catalog(REGISTRY).get(code).control_ids("windows")
    for control, finding in results:
        assert finding.status is not Status.ERROR, (control.id, finding.summary)
        if finding.status is Status.FAIL:
            steps = plan_steps(control, finding, observation("broken"), settings)
            assert steps and all(s.name.startswith(f"{control.id}: ") for s in steps)
        if finding.status is Status.NEEDS_APPROVAL:
            assert control.disruptive


@pytest.mark.parametrize("code", WINDOWS_CODES)
def test_healthy_windows_machine_needs_nothing(code):
    _, results = findings(code, "healthy")
    assert all(finding.ok for _, finding in results), [
        (c.id, f.summary) for c, f in results if not f.ok
    ]


def test_disruptive_windows_fixes_wait_for_approval_unless_allowed():
    _, results = findings("ExtensionFailedVssWriterInBadState", "broken")
    statuses = {c.id: f.status for c, f in results}
    assert statuses["windows.vss_writers"] is Status.NEEDS_APPROVAL
    assert statuses["windows.bcdr_snapshot_keys"] is Status.FAIL
    _, results = findings(
        "ExtensionFailedVssWriterInBadState", "broken", bcdrfix_allow_disruptive=True
    )
    assert {c.id: f.status for c, f in results}["windows.vss_writers"] is Status.FAIL


def test_snapshot_keys_follow_the_code_of_the_article():
    """BcdrAgentPersistentKeys: only the values the code's article names, none by default."""

    def wanted(code):
        settings = load_settings({"error_code": code} if code else {})
        finding = dict(evaluate_all(settings))["windows.bcdr_snapshot_keys"]
        return sorted((finding.desired or {}).keys()), finding.status

    keys = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys\\"
    assert wanted(None) == ([], Status.NOT_APPLICABLE)
    assert wanted("ExtensionFailedVssWriterInBadState") == (
        [keys + "SnapshotWithoutThreads"],
        Status.FAIL,
    )
    assert wanted("ExtensionFailedTimeoutVMNetworkUnresponsive") == (
        [keys + "CalculateSnapshotTimeFromHost", keys + "SnapshotMethod"],
        Status.FAIL,
    )
    # an explicit setting adds its values on any run
    settings = load_settings({"bcdrfix_bcdr_snapshot_keys": {"SnapshotWithoutThreads": "True"}})
    finding = dict(evaluate_all(settings))["windows.bcdr_snapshot_keys"]
    assert finding.status is Status.FAIL and list(finding.desired) == [
        keys + "SnapshotWithoutThreads"
    ]


def evaluate_all(settings):
    return [
        (c.id, f) for c, f in evaluate(REGISTRY.all("windows"), observation("broken"), settings)
    ]
