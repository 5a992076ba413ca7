"""``bcdrfix settings``: every setting with default, what it accepts and its doc, and the
documented examples in group_data/*.py kept in step with it."""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path

from click.testing import CliRunner

from bcdrfix.cli.main import main
from bcdrfix.controls import SETTINGS, load_settings

GROUP_DATA = Path(__file__).resolve().parents[2] / "group_data"


def group_data_settings() -> dict[str, list[tuple[str, int, bool, object]]]:
    """name -> [(file, line, documented, value)] for every top-level assignment in group_data/.

    Documented: a comment on the same line, or one above it in the same paragraph (a comment
    can introduce several related settings, as the endpoint settings share one).
    """
    found: dict[str, list[tuple[str, int, bool, object]]] = {}
    for path in sorted(GROUP_DATA.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        comments = {
            tok.start[0]
            for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type == tokenize.COMMENT
        }
        for node in ast.parse(text).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                assert isinstance(target, ast.Name), f"{path.name}:{node.lineno}"
                if target.id.startswith("_"):
                    continue  # a pyinfra global argument (``_timeout``), not a bcdrfix setting
                documented = any(n in comments for n in range(node.lineno, node.end_lineno + 1))
                number = node.lineno - 1
                while not documented and number >= 1 and lines[number - 1].strip():
                    documented = number in comments
                    number -= 1
                value = ast.literal_eval(node.value)
                found.setdefault(target.id, []).append((path.name, node.lineno, documented, value))
    return found


def test_group_data_documents_every_setting_and_no_unknown_one():
    documented = group_data_settings()
    assert sorted(set(SETTINGS) - set(documented)) == [], "settings missing from group_data/"
    assert sorted(set(documented) - set(SETTINGS)) == [], "unknown names in group_data/"
    undocumented = [
        f"{file}:{line} {name}"
        for name, places in documented.items()
        for file, line, has_comment, _ in places
        if not has_comment
    ]
    assert undocumented == []


def test_group_data_examples_are_valid_settings():
    for name, places in group_data_settings().items():
        for file, line, _, value in places:
            load_settings({name: value}, f"{file}:{line}")  # raises SettingsError when wrong


def test_settings_json_lists_every_setting_with_default_accepts_and_doc():
    result = CliRunner().invoke(main, ["settings", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list(SETTINGS)
    by_name = {r["name"]: r for r in rows}
    for setting in SETTINGS.values():
        row = by_name[setting.name]
        assert row["doc"] == setting.doc and row["doc"]
        assert row["accepts"] and not row["accepts"].startswith("<")
    assert by_name["bcdrfix_allow_disruptive"]["default"] is False
    assert by_name["bcdrfix_allow_disruptive"]["accepts"] == "a boolean (true/false, y/n)"
    assert by_name["bcdrfix_agent_restart_sec"]["accepts"] == "seconds between 0 and 3600"
    assert by_name["bcdrfix_wireserver_ports"]["default"] == [80, 32526]
    assert by_name["bcdrfix_wireserver_ports"]["accepts"] == "a list of: a TCP port 1-65535"
    assert by_name["bcdrfix_waagent_conf"]["default"]["Extensions.Enabled"] == "y"
    assert by_name["bcdrfix_dhcp_interface"]["accepts"].endswith("or None (unset)")
    assert "comma-separated" in by_name["bcdrfix_skip_controls"]["accepts"]


def test_settings_table_and_quiet_names():
    runner = CliRunner()
    table = runner.invoke(main, ["settings"], catch_exceptions=False)
    assert table.exit_code == 0
    flat = " ".join(table.stdout.split())
    assert "bcdrfix_agent_min_version" in flat and "a dotted version" in flat
    quiet = runner.invoke(main, ["settings", "-q"], catch_exceptions=False)
    assert quiet.stdout.split() == list(SETTINGS)
