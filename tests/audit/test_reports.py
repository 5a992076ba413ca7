"""Reports from one document: JSON against its schema, JUnit through junitparser, HTML in Chromium.

The document here is built by hand to cover every status and host state, hostile text
(markup, control characters, non-ASCII) included; tests/lab/test_audit.py does the same checks
on a real audit of real hosts.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import browser
import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from bcdrfix.audit.engine import summarize
from bcdrfix.reports import ReportError, load_report, merge_reports, write_reports
from bcdrfix.reports.json_report import SCHEMA_PATH, schema, validate

BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")
CODES = ["151099", "UserErrorGuestAgentStatusUnavailable"]


def result(host, control, status, summary, observed=None, desired=None, fix=None):
    return {
        "host": host,
        "control": control,
        "status": status,
        "summary": summary,
        "observed": observed,
        "desired": desired,
        "codes": CODES,
        "fix": fix,
    }


def host(name, state="audited", message=None, platform="linux", run="run-1", fixes=()):
    return {
        "name": name,
        "run": run,
        "platform": platform,
        "groups": ["linux"],
        "address": "198.18.9.1",
        "state": state,
        "message": message,
        "duration_s": 0.4 if state == "audited" else None,
        "fix_commands": list(fixes),
    }


def make_document(run_id="run-1", finished="2026-01-01T10:00:05+00:00") -> dict:
    fix = "pyinfra inventories/lab.py deploys/linux_agent.py --limit web-01 -y"
    doc = {
        "schema": "bcdrfix-audit-report",
        "schema_version": 1,
        "generator": {"name": "bcdrfix", "version": "0.1.0"},
        "runs": [
            {
                "id": run_id,
                "inventory": "inventories/lab.py",
                "limit": [],
                "shard": None,
                "controller": "ctl",
                "user": "root",
                "started": "2026-01-01T10:00:00+00:00",
                "finished": finished,
                "duration_s": 5.0,
            }
        ],
        "controls": [
            {
                "id": "linux.agent_service",
                "title": "Guest agent service is running and enabled",
                "platform": "linux",
                "codes": CODES,
                "disruptive": False,
                "description": "",
            },
            {
                "id": "linux.waagent_conf",
                "title": "waagent.conf",
                "platform": "linux",
                "codes": CODES,
                "disruptive": False,
                "description": "",
            },
        ],
        "hosts": [
            host(
                "db-01",
                fixes=[fix.replace("web-01", "db-01") + " --data bcdrfix_allow_disruptive=true"],
            ),
            host("down-01", "unreachable", "Could not connect (timeout)"),
            host("old-01", "not-running", "VM deallocated"),
            host("web-01", fixes=[fix]),
            host("web-02"),
        ],
        "results": [
            result(
                "db-01",
                "linux.agent_service",
                "needs-approval",
                "restart needed (disruptive)",
                {"ActiveState": "failed"},
                {"ActiveState": "active"},
                fix + " --data x",
            ),
            result("db-01", "linux.waagent_conf", "error", "/etc/waagent.conf does not exist"),
            result(
                "web-01",
                "linux.agent_service",
                "fail",
                "walinuxagent.service is inactive (dead)",
                {"ActiveState": "inactive"},
                {"ActiveState": "active"},
                fix,
            ),
            result(
                "web-01",
                "linux.waagent_conf",
                "fail",
                'Extensions.Enabled is "<script>alert(1)</script>" \x07 (want y) 日本',
                {"Extensions.Enabled": "<script>alert(1)</script>\x00"},
                {"Extensions.Enabled": "y"},
                fix,
            ),
            result("web-02", "linux.agent_service", "pass", "active and enabled"),
            result("web-02", "linux.waagent_conf", "not-applicable", "no agent on this host"),
        ],
    }
    doc["summary"] = summarize(doc)
    return doc


def test_summary_counts_and_exit_status():
    summary = make_document()["summary"]
    assert summary["hosts"] == 5 and summary["audited"] == 3
    assert summary["compliant"] == 1 and summary["with_findings"] == 2
    assert summary["not_audited"] == 1 and summary["not_running"] == 1
    assert summary["exit_status"] == 2
    assert summary["worst_controls"][0] == {"control": "linux.agent_service", "hosts": 2}


def test_the_schema_is_shipped_and_is_a_valid_json_schema():
    assert SCHEMA_PATH.exists()
    jsonschema.Draft202012Validator.check_schema(schema())


def test_json_report_validates_and_round_trips(tmp_path):
    path = tmp_path / "a.json"
    write_reports(make_document(), [str(path)])
    jsonschema.validate(json.loads(path.read_text()), schema())
    assert load_report(str(path)) == json.loads(json.dumps(make_document()))


def test_schema_rejects_a_wrong_document(tmp_path):
    broken = make_document()
    broken["results"][0]["status"] = "kinda-ok"
    with pytest.raises(ReportError, match="results/0/status"):
        validate(broken, "broken.json")
    future = dict(make_document(), schema_version=2)
    with pytest.raises(ReportError, match="schema_version 2"):
        validate(future, "future.json")


def test_junit_report_as_a_ci_reads_it(tmp_path):
    path = tmp_path / "a.xml"
    write_reports(make_document(), [str(path)])
    xml = JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"db-01", "down-01", "old-01", "web-01", "web-02"}
    cases = {(suite.name, case.name): case for suite in xml for case in suite}
    assert len(cases) == 2 + 1 + 1 + 2 + 2
    web_conf = cases[("web-01", "linux.waagent_conf")]
    failure = web_conf.result[0]
    assert isinstance(failure, Failure) and failure.type == "fail"
    assert "<script>" in failure.message  # escaped in the file, intact for the reader
    assert '"Extensions.Enabled": "y"' in failure.text and "151099" in failure.text
    assert "deploys/linux_agent.py --limit web-01" in failure.text
    assert isinstance(cases[("db-01", "linux.agent_service")].result[0], Failure)
    assert isinstance(cases[("db-01", "linux.waagent_conf")].result[0], Error)
    assert isinstance(cases[("down-01", "audit")].result[0], Error)
    assert isinstance(cases[("old-01", "audit")].result[0], Skipped)
    assert isinstance(cases[("web-02", "linux.waagent_conf")].result[0], Skipped)
    assert cases[("web-02", "linux.agent_service")].is_passed
    assert suites["web-01"].failures == 2 and suites["web-02"].failures == 0


@pytest.fixture
def html_report(tmp_path) -> Path:
    path = tmp_path / "report.html"
    write_reports(make_document(), [str(path)])
    return path


def test_html_escapes_what_hosts_report(html_report):
    text = html_report.read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch


@pytest.mark.skipif(
    not browser.available(), reason="chromium is not installed (`make setup` installs it)"
)
def test_html_renders_in_chromium(html_report, tmp_path):
    dom = browser.dump_dom(html_report)
    assert "<script>" not in dom.split("</head>", 1)[1]  # the page has no script, injected or not
    for expected in (
        "Fleet summary",
        "1 / 3",
        "linux.agent_service",
        "down-01",
        "Could not connect",
        "VM deallocated",
        "deploys/linux_agent.py --limit web-01",
        "日本",
    ):
        assert expected in dom, expected
    # the summary comes before the hosts' details
    assert dom.index("Fleet summary") < dom.index("Hosts that need attention")
    png = browser.screenshot(html_report, tmp_path / "report.png")
    stats = browser.colour_stats(png)
    assert stats["width"] == 1280 and stats["ink"] > 0.03  # not a blank page
    assert stats["red"] > 0 and stats["green"] > 0  # failure and pass colours are drawn


def test_merge_keeps_the_latest_run_per_host(tmp_path):
    before = make_document()
    after = copy.deepcopy(make_document("run-2", "2026-01-01T11:00:00+00:00"))
    after["hosts"] = [
        dict(h, run="run-2", fix_commands=[]) for h in after["hosts"] if h["name"] == "web-01"
    ]
    after["results"] = [
        dict(r, status="pass", fix=None) for r in after["results"] if r["host"] == "web-01"
    ]
    after["summary"] = summarize(after)
    for name, doc in (("before.json", before), ("after.json", after)):
        write_reports(doc, [str(tmp_path / name)])
    merged = merge_reports(
        [load_report(str(tmp_path / "after.json")), load_report(str(tmp_path / "before.json"))]
    )
    validate(merged)
    assert [r["id"] for r in merged["runs"]] == ["run-2", "run-1"]
    web = [r for r in merged["results"] if r["host"] == "web-01"]
    assert {r["status"] for r in web} == {"pass"}
    assert {h["name"] for h in merged["hosts"]} == {
        "db-01",
        "down-01",
        "old-01",
        "web-01",
        "web-02",
    }
    assert merged["summary"]["with_findings"] == 1


def test_report_merge_command(tmp_path):
    first = make_document()
    second = copy.deepcopy(first)
    second["runs"][0]["id"] = "run-2"
    second["hosts"] = [dict(host("web-03"), run="run-2")]
    second["results"] = [result("web-03", "linux.agent_service", "pass", "ok")]
    second["summary"] = summarize(second)
    write_reports(first, [str(tmp_path / "1.json")])
    write_reports(second, [str(tmp_path / "2.json")])
    proc = subprocess.run(
        [
            BCDRFIX,
            "report",
            "merge",
            str(tmp_path / "1.json"),
            str(tmp_path / "2.json"),
            "--report",
            str(tmp_path / "all.json"),
            "--report",
            str(tmp_path / "all.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr  # down-01 could not be audited
    merged = load_report(str(tmp_path / "all.json"))
    assert len(merged["runs"]) == 2 and "web-03" in {h["name"] for h in merged["hosts"]}
    assert "2 runs merged" in (tmp_path / "all.html").read_text()
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    proc = subprocess.run(
        [
            BCDRFIX,
            "report",
            "merge",
            str(tmp_path / "junk.json"),
            "--report",
            str(tmp_path / "x.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not a bcdrfix audit report" in proc.stderr


def test_a_report_is_written_whole_or_not_at_all(tmp_path):
    """One temp-file-and-rename for every report: a failed write keeps the old file, no leftovers."""
    import pytest

    from bcdrfix.reports.files import write_atomically

    path = tmp_path / "audit.json"
    path.write_text("old\n")

    def broken(handle):
        handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(str(path), broken)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["audit.json"]
    write_atomically(str(path), lambda handle: handle.write("new\n"))
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["audit.json"]
