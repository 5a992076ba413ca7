"""JUnit for CI tools (issue 13): hostname on each suite, codes and fix command as test case
properties, Ant-schema timestamps, no temporary file left behind."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from test_reports import make_document

from bcdrfix.reports.junit import write_junit

ANT_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$")


def test_suites_and_cases_carry_what_ci_tools_read(tmp_path):
    path = tmp_path / "audit.xml"
    document = make_document()
    write_junit(document, str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["audit.xml"]
    root = ET.parse(path).getroot()
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    hosts = {host["name"]: host for host in document["hosts"]}
    for name, suite in suites.items():
        assert suite.get("hostname") == (hosts[name]["address"] or name)
        assert ANT_TIMESTAMP.match(suite.get("timestamp")), suite.get("timestamp")
        assert suite.get("id") is not None and suite.get("package") == "bcdrfix"
    case = next(
        c for c in suites["web-01"].iter("testcase") if c.get("name") == "linux.waagent_conf"
    )
    properties = {p.get("name"): p.get("value") for p in case.find("properties")}
    result = next(
        r
        for r in document["results"]
        if r["host"] == "web-01" and r["control"] == "linux.waagent_conf"
    )
    assert properties == {"codes": ",".join(result["codes"]), "fix": result["fix"]}
    assert "151099" in properties["codes"]
