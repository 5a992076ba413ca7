"""Secrets never printed, host names never trusted (issue 10)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bcdrfix.audit.document import summarize
from bcdrfix.core.redact import printable, redact, redact_data
from bcdrfix.reports import write_reports
from bcdrfix.reports.terminal import host_line, summary_table


@pytest.mark.parametrize(
    "text",
    [
        "https_proxy=http://user:s3cret@10.0.0.5:3128",
        "https_proxy=user:s3cret@10.0.0.5:3128",
        "HTTPS_PROXY='http://user:s3cret@proxy.corp:8080/'",
        "Environment=https_proxy=socks5h://u:s3cret@p:1 no_proxy=x",
        "proxy: user:s3cret@10.0.0.5:3128",
    ],
)
def test_proxy_passwords_are_masked(text):
    assert "s3cret" not in redact(text) and "***@" in redact(text)


def test_text_without_credentials_is_unchanged():
    text = "storage via proxy 10.0.0.5:3128 (https_proxy=http://10.0.0.5:3128 in env); a@b"
    assert redact(text) == text


def test_nested_data_is_redacted():
    data = {"observed": {"env": ["https_proxy=http://u:s3cret@h:1"]}, "n": 3}
    assert "s3cret" not in repr(redact_data(data)) and redact_data(data)["n"] == 3


def test_control_characters_are_replaced():
    assert printable("vm\x1b]0;owned\x07\x1b[2J-01") == "vm?]0;owned??[2J-01"


# --- where it is applied --------------------------------------------------------------------------

AUDIT_TESTS = Path(__file__).resolve().parents[1] / "audit"


@pytest.fixture
def document():
    sys.path.insert(0, str(AUDIT_TESTS))
    try:
        from test_reports import host, make_document, result
    finally:
        sys.path.remove(str(AUDIT_TESTS))
    doc = make_document()
    name = "evil\x1b]0;pwned\x07\x1b[2J[bold]x[/]"
    doc["hosts"].append(host(name))
    doc["results"].append(
        result(
            name,
            "linux.connectivity",
            "fail",
            "storage via proxy p:3128 (https_proxy=http://user:s3cret@p:3128)",
            observed={"proxy_source": "https_proxy=user:s3cret@p:3128"},
        )
    )
    doc["summary"] = summarize(doc)
    return doc


def test_no_report_contains_a_proxy_password(document, tmp_path):
    paths = [str(tmp_path / f"r.{ext}") for ext in ("json", "xml", "html")]
    write_reports(document, paths)
    for path in paths:
        text = Path(path).read_text()
        assert "s3cret" not in text and "***@" in text, path


def test_terminal_summary_survives_hostile_host_names(document):
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True)
    console.print(summary_table(document, 200))
    console.print(host_line(document["hosts"][-1], 1))
    text = out.getvalue()
    assert "]0;pwned" not in text.replace("?]0;pwned", "") and "\x1b[2J" not in text
    assert "[bold]x[/]" in text  # shown literally, not read as markup
