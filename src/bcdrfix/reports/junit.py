"""JUnit XML: one test suite per host, one test case per control, so any CI shows the audit.

fail and needs-approval are ``<failure>``, error is ``<error>``, not-applicable is ``<skipped>``;
the element's text carries the evidence (observed, desired), the error codes the control
prevents and the command that fixes it. A host that could not be audited is one ``<error>``
test case named ``audit``; a stopped VM is one ``<skipped>`` test case.

Each suite carries the Ant schema's ``hostname`` (the host's address, else its name), ``id``,
``package`` and a ``timestamp`` in its ISO 8601 form without zone (UTC); each test case carries
the control's error codes and its fix command as ``<properties>`` for CI tools that read them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from bcdrfix.audit.document import AUDITED, NOT_RUNNING, results_by_host
from bcdrfix.audit.guest import describe
from bcdrfix.reports.files import write_atomically


def _evidence(result: dict) -> str:
    lines = [
        f"{result['control']}: {result['status']}: {result['summary']}",
        f"observed: {json.dumps(result['observed'], ensure_ascii=False, sort_keys=True)}",
        f"desired:  {json.dumps(result['desired'], ensure_ascii=False, sort_keys=True)}",
        f"prevents: {', '.join(result['codes'])}",
    ]
    if result.get("fix"):
        lines.append(f"fix:      {result['fix']}")
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters; observed file contents may have them."""
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else f"\\x{ord(ch):02x}" for ch in text)


def ant_timestamp(text: str) -> str:
    """ISO 8601 with an offset -> ``YYYY-MM-DDTHH:MM:SS`` in UTC, the form the Ant schema accepts."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat()


def _properties(parent: ET.Element, items: list[tuple[str, str]]) -> None:
    if items:
        properties = ET.SubElement(parent, "properties")
        for name, value in items:
            ET.SubElement(properties, "property", name=name, value=_clean(value))


def build_junit(document: dict) -> ET.ElementTree:
    by_host = results_by_host(document)
    run_started = {run["id"]: run["started"] for run in document["runs"]}
    titles = {control["id"]: control["title"] for control in document["controls"]}

    root = ET.Element("testsuites", name="bcdrfix audit")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for index, host in enumerate(document["hosts"]):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=host["name"],
            hostname=_clean(str(host.get("address") or host["name"])),
            id=str(index),
            package="bcdrfix",
        )
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        properties = ET.SubElement(suite, "properties")
        for key in ("platform", "address", "state"):
            if host.get(key):
                ET.SubElement(properties, "property", name=key, value=_clean(str(host[key])))
        for command in host.get("fix_commands", []):
            ET.SubElement(properties, "property", name="fix", value=_clean(command))
        if host.get("backup_in_guest"):
            last = describe(host["backup_in_guest"])
            ET.SubElement(properties, "property", name="backup_in_guest", value=_clean(last))
        host_results = list(by_host.get(host["name"], {}).values())
        share = (host.get("duration_s") or 0.0) / max(len(host_results), 1)
        if host["state"] != AUDITED:
            case = ET.SubElement(suite, "testcase", classname=host["name"], name="audit", time="0")
            counts["tests"] += 1
            message = _clean(f"{host['state']}: {host.get('message') or ''}".strip())
            if host["state"] == NOT_RUNNING:
                ET.SubElement(case, "skipped", message=message)
                counts["skipped"] += 1
            else:
                element = ET.SubElement(case, "error", message=message, type=host["state"])
                element.text = message
                counts["errors"] += 1
        for result in host_results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=host["name"],
                name=result["control"],
                time=f"{share:.3f}",
            )
            codes = [("codes", ",".join(result["codes"]))] if result["codes"] else []
            fix = [("fix", result["fix"])] if result.get("fix") else []
            _properties(case, codes + fix)
            counts["tests"] += 1
            status = result["status"]
            message = _clean(result["summary"])
            if status in ("fail", "needs-approval"):
                element = ET.SubElement(case, "failure", message=message, type=status)
                element.text = _clean(_evidence(result))
                counts["failures"] += 1
            elif status == "error":
                element = ET.SubElement(case, "error", message=message, type=status)
                element.text = _clean(_evidence(result))
                counts["errors"] += 1
            elif status == "not-applicable":
                ET.SubElement(case, "skipped", message=message)
                counts["skipped"] += 1
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _clean(
                    f"{titles.get(result['control'], result['control'])}: {result['summary']}"
                )
        duration = host.get("duration_s") or 0.0
        suite.set("timestamp", ant_timestamp(run_started.get(host["run"], "")))
        suite.set("time", f"{duration:.3f}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        total_time += duration
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(document: dict, path: str) -> None:
    tree = build_junit(document)
    write_atomically(
        path, lambda handle: tree.write(handle, encoding="unicode", xml_declaration=True)
    )
