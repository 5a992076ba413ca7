"""explain with the extension's internal code names; how fix --from-guest-status groups hosts."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bcdrfix.audit.diagnose import plan_fixes, summarize
from bcdrfix.cli.main import main


def explain(*args: str):
    return CliRunner().invoke(main, ["explain", *args])


def test_explain_resolves_mapped_internal_names_to_catalog_codes():
    result = explain("FailedRetryableSnapshotFailedNoNetwork", "--json")
    assert result.exit_code == 0
    (entry,) = json.loads(result.output)["entries"]
    assert entry["code"] == "ExtensionSnapshotFailedNoNetwork"


def test_explain_says_uncertain_or_no_entry_for_other_internal_codes():
    result = explain("FailedRetryableSnapshotFailedRestrictedNetwork", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert (data["internal_code"], data["confidence"], data["catalog_code"]) == (
        761,
        "uncertain",
        "ExtensionSnapshotFailedNoNetwork",
    )
    result = explain("failedprepostprescriptfailed")
    assert result.exit_code == 0 and "catalog code: none" in result.output
    assert explain("NoSuchCodeAtAll").exit_code == 2


def host(name, state="diagnosed", **backup):
    return {"name": name, "state": state, "message": "boom", "backup": backup or None}


def mapped(code, scope="guest", confidence="mapped"):
    return {"confidence": confidence, "catalog_code": code, "scope": scope, "note": ""}


def test_plan_groups_failed_hosts_by_their_own_code_and_leaves_the_rest_alone():
    document = {
        "hosts": [
            host("a", guest="reported", result="failed", code_name="X1", mapping=mapped("C1")),
            host("b", guest="reported", result="failed", code_name="X2", mapping=mapped("C1")),
            host("c", guest="reported", result="failed", code_name="X3", mapping=mapped("C2")),
            host("d", guest="reported", result="success", advice="nothing to fix"),
            host("e", guest="no-extension", advice="never installed"),
            host("f", guest="reported", result="failed", mapping=mapped("C3", "control-plane")),
            host(
                "g", guest="reported", result="failed", mapping=mapped("C1", confidence="uncertain")
            ),
            host("h", guest="unreadable", problem="not JSON"),
            host("i", state="unreachable"),
        ]
    }
    groups, left_alone, attention = plan_fixes(document)
    assert {code: [r["host"] for r in rows] for code, rows in groups.items()} == {
        "C1": ["a", "b"],
        "C2": ["c"],
    }
    assert [r["host"] for r in left_alone] == ["d", "e"]
    assert {r["host"]: r["kind"] for r in attention} == {
        "f": "by-hand",
        "g": "by-hand",
        "h": "not-diagnosed",
        "i": "not-diagnosed",
    }


def test_diagnose_exit_status():
    ok = {"hosts": [host("a", guest="reported", result="success")]}
    assert summarize(ok)["exit_status"] == 0
    bad = {"hosts": [host("a", guest="reported", result="failed")]}
    assert summarize(bad)["exit_status"] == 1
    unreadable = {"hosts": [host("a", guest="unreadable")]}
    assert summarize(unreadable)["exit_status"] == 2


def test_fix_needs_exactly_one_of_code_and_from_guest_status(tmp_path):
    inventory = tmp_path / "inv.py"
    inventory.write_text("hosts = ['@local']\n")
    neither = CliRunner().invoke(main, ["fix", str(inventory)])
    both = CliRunner().invoke(
        main, ["fix", str(inventory), "--code", "151099", "--from-guest-status"]
    )
    assert neither.exit_code == 2 and "--from-guest-status" in neither.output
    assert both.exit_code == 2 and "not both" in both.output


HOSTILE = "\x1b]2;owned\x07\x1b[2J\x9b31mred\u202e"


def diagnosed(monkeypatch):
    """``bcdrfix diagnose`` over a document as run_diagnose returns it (no hosts contacted)."""
    backup = dict(
        guest="reported",
        result="failed",
        when="2026-12-01T00:00:00Z",
        operation="Enable",
        code=761,
        code_name=f"Failed{HOSTILE}",
        message=f"snapshot failed {HOSTILE}",
        version=f"1.0.9{HOSTILE}",
        mapping=mapped("ExtensionSnapshotFailedNoNetwork"),
        failing_controls=[],
        fix_command=None,
        advice=None,
        other_extensions={},
    )
    ok = dict(backup, result="success", code=0, code_name=None, message="ok", mapping=None)
    hosts = [host(f"vm-1{HOSTILE}", **backup), host("vm-2", **ok)]
    document = {"hosts": hosts}
    document["summary"] = summarize(document)
    monkeypatch.setattr("bcdrfix.cli.diagnose.run_diagnose", lambda *a, **k: document)

    def run(*args: str):
        return CliRunner().invoke(main, ["diagnose", "inventory.py", *args])

    return run


def test_diagnose_shows_guest_text_without_control_characters(monkeypatch):
    """What a guest reports is untrusted: in the table, the details and the JSON, no escape
    sequence reaches the terminal (rich keeps ESC and CSI; json.dumps keeps C1 and DEL)."""
    run = diagnosed(monkeypatch)
    for args in ((), ("-v",), ("--json",)):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert not any(ch in result.output for ch in "\x1b\x07\x9b\u202e"), (args, result.output)
    document = json.loads(run("--json").output)
    assert document["hosts"][0]["backup"]["message"] == f"snapshot failed {HOSTILE}"


def test_diagnose_quiet_and_verbose(monkeypatch):
    run = diagnosed(monkeypatch)
    quiet, normal, verbose = run("-q").output, run().output, run("-v").output
    summary = " ".join(quiet.split())  # the summary line only (wrapped at the console's width)
    assert summary.startswith("2 hosts: 1 last backup failed, 1 succeeded")
    assert summary.endswith("0 not diagnosed") and "vm-" not in quiet
    assert "vm-2: success" not in normal and "vm-2: success" in verbose
