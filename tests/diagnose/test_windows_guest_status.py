"""Windows: the guest_status section of the one PowerShell observation, end to end on @fake hosts.

The samples (fixtures/windows-*.json) are HAND-WRITTEN, labelled as such: no Windows VM exists
here. The hosts answer the observation script with tests/windows' broken/healthy observations
plus a guest_status section; ``bcdrfix diagnose`` runs through pyinfra's @fake connector.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcdrfix.audit.diagnose import GUEST_PROBE
from bcdrfix.windows import guest_status
from bcdrfix.windows.facts import MARKER, build_script
from tests.windows.helpers import run_bcdrfix, syntax_problems, write_inventory

FIXTURES = Path(__file__).parent / "fixtures"
WINDOWS_FIXTURES = Path(__file__).parents[1] / "windows" / "fixtures"


def observation(base: str, sample: str | None) -> dict:
    data = json.loads((WINDOWS_FIXTURES / f"observation_{base}.json").read_text(encoding="utf-8"))
    if sample:
        section = json.loads((FIXTURES / f"windows-guest-status-{sample}.json").read_text())
        data["guest_status"] = section["guest_status"]
    else:
        data["guest_status"] = {}
    return {MARKER: [json.dumps(data, ensure_ascii=False, separators=(",", ":"))]}


def test_the_section_is_valid_powershell_inside_the_one_script():
    script = build_script([GUEST_PROBE["windows"], "services"], {"services": ["VSS"]})
    assert script.count(MARKER) == 1
    assert "Microsoft.Azure.RecoveryServices.VMSnapshot" in script
    assert syntax_problems(script) == []


def test_parse_section_samples():
    vss = json.loads((FIXTURES / "windows-guest-status-vss.json").read_text())["guest_status"]
    parsed = guest_status.parse_section(vss)[guest_status.BACKUP_EXTENSION]
    assert (parsed["result"], parsed["code_name"], parsed["version"]) == (
        "failed",
        "ExtensionFailedVssWriterInBadState",
        "2.0.9180.0",
    )
    assert any("SqlServerWriter" in line for line in parsed["log"])
    hostile = json.loads((FIXTURES / "windows-guest-status-hostile.json").read_text())
    parsed = guest_status.parse_section(hostile["guest_status"])[guest_status.BACKUP_EXTENSION]
    assert parsed["state"] == "unreadable"
    assert (
        guest_status.parse_section({"error": "Access denied"})[guest_status.BACKUP_EXTENSION][
            "state"
        ]
        == "unreadable"
    )
    assert guest_status.parse_section("garbage") == {}
    assert guest_status.parse_section({"x": {"status": "!!notbase64"}})["x"]["state"] == (
        "unreadable"
    )


@pytest.fixture(scope="module")
def diagnosis(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("diagnose")
    inventory = tmp_path / "windows_fleet.py"
    write_inventory(
        inventory,
        {
            "sql-vss": observation("broken", "vss"),
            "web-ok": observation("healthy", "success"),
            "file-noext": observation("healthy", None),
            "hostile": observation("healthy", "hostile"),
        },
    )
    html = tmp_path / "diagnosis.html"
    result, commands = run_bcdrfix(
        tmp_path, "diagnose", str(inventory), "--json", "--report", str(html)
    )
    return result, json.loads(result.stdout), commands, html.read_text(encoding="utf-8")


def test_diagnose_windows_hosts_end_to_end(diagnosis):
    result, document, commands, _ = diagnosis
    assert result.returncode == 2, result.stderr  # the hostile host's status is unreadable
    backups = {h["name"]: h["backup"] for h in document["hosts"]}
    vss = backups["@fake/sql-vss"]
    assert vss["code_name"] == "ExtensionFailedVssWriterInBadState"
    assert vss["mapping"]["catalog_code"] == "ExtensionFailedVssWriterInBadState"
    failing = {f["control"]: f["status"] for f in vss["failing_controls"]}
    assert failing["windows.vss_writers"] == "needs-approval"
    assert vss["fix_command"].endswith("--limit @fake/sql-vss --allow-disruptive")
    assert backups["@fake/web-ok"]["result"] == "success"
    assert backups["@fake/file-noext"]["guest"] == "no-extension"
    assert backups["@fake/hostile"]["guest"] == "unreadable"
    # one PowerShell invocation per host, carrying the guest_status section
    for host, sent in commands.items():
        observations = [c for c in sent if c.startswith(MARKER)]
        assert len(observations) == 1, host
        assert "Invoke-BcdrfixSection 'guest_status'" in observations[0]


def test_html_report_escapes_guest_text(diagnosis):
    _, _, _, html = diagnosis
    assert "ExtensionFailedVssWriterInBadState" in html
    assert "unreadable status" in html
    assert "<html>" not in html.split("<body>", 1)[1]


def test_audit_reports_carry_the_last_backup_result_in_the_guest(tmp_path):
    import jsonschema
    from junitparser import JUnitXml

    from bcdrfix.reports.json_report import SCHEMA_PATH

    inventory = tmp_path / "windows_fleet.py"
    write_inventory(
        inventory,
        {"sql-vss": observation("broken", "vss"), "hostile": observation("healthy", "hostile")},
    )
    reports = [tmp_path / f"audit.{ext}" for ext in ("json", "xml", "html")]
    args = [a for r in reports for a in ("--report", str(r))]
    result, commands = run_bcdrfix(tmp_path, "audit", str(inventory), *args)
    assert result.returncode == 1, result.stderr  # the audit's own exit status is unchanged
    assert {host: len(sent) for host, sent in commands.items()} == {"sql-vss": 1, "hostile": 1}
    document = json.loads(reports[0].read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["schema_version"] == 1  # an addition: readers do not break
    guest = {h["name"]: h["backup_in_guest"] for h in document["hosts"]}
    assert guest["@fake/sql-vss"]["code_name"] == "ExtensionFailedVssWriterInBadState"
    assert guest["@fake/sql-vss"]["result"] == "failed"
    assert guest["@fake/hostile"]["guest"] == "unreadable"
    properties = {
        suite.name: {p.name: p.value for p in suite.properties()}
        for suite in JUnitXml.fromfile(str(reports[1]))
    }
    assert properties["@fake/sql-vss"]["backup_in_guest"].startswith(
        "failed 2026-11-30T18:02:11Z: ExtensionFailedVssWriterInBadState (2) -> ExtensionFailedVssWriterInBadState"
    )
    html = reports[2].read_text()
    assert "Last backup result in the guest" in html
    assert "unreadable status" in html and "<html>" not in html.split("<body", 1)[1]


def test_fix_from_guest_status_on_windows_touches_only_the_failed_host(tmp_path):
    inventory = tmp_path / "windows_fleet.py"
    write_inventory(
        inventory,
        {
            "sql-vss": observation("broken", "vss"),
            "web-ok": observation("broken", "success"),  # broken too, but its backup succeeded
            "file-noext": observation("healthy", None),
        },
    )
    result, commands = run_bcdrfix(
        tmp_path, "fix", str(inventory), "--from-guest-status", "--allow-disruptive", "--json"
    )
    report = json.loads(result.stdout)
    assert {g["code"]: g["hosts"] for g in report["groups"]} == {
        "ExtensionFailedVssWriterInBadState": ["@fake/sql-vss"]
    }
    assert {r["host"] for r in report["left_alone"]} == {"@fake/web-ok", "@fake/file-noext"}
    (group,) = report["groups"]
    outcomes = {o["control"]: o["outcome"] for o in group["report"]["hosts"][0]["outcomes"]}
    assert outcomes["windows.vss_writers"] == "changed-rest-by-hand"  # a writer without service
    # the hosts left alone received the one diagnose observation and nothing else
    assert len(commands["web-ok"]) == 1 and len(commands["file-noext"]) == 1
    assert len(commands["sql-vss"]) > 2
    assert result.returncode == 1, result.stderr  # the rest by hand waits for a person
