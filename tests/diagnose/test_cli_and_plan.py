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
