"""The command-line conventions of the README's table: one exit-status scheme for audit and fix,
--json / --quiet / -v, progress while fixing, NO_COLOR, kebab-case JSON values, and untrusted
text (host names, pasted codes) never interpreted as markup or sent raw to the terminal."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from rich.console import Console

from bcdrfix.audit.document import SCHEMA_NAME
from bcdrfix.cli.fix import _print_report
from bcdrfix.cli.main import COMMANDS, main
from bcdrfix.cli.output import dumps
from bcdrfix.fix import by_code
from bcdrfix.fix.by_code import ControlOutcome, FixReport, HostReport
from bcdrfix.reports.terminal import print_findings, print_summary, printable

KEBAB = re.compile(r"^[a-z]+(-[a-z]+)*$")
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)[0-9;]*m")  # a foreground colour
HOSTILE = "[/bold]vm[red]\x1b[2J\x9b31m\u202e"  # rich markup, ESC/CSI sequences, a bidi override
RAW = ("\x1b", "\x9b", "\u202e")


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, list(args), catch_exceptions=False, env=env)

    return invoke


@pytest.fixture
def dead_inventory(tmp_path):
    """Hosts that refuse connections, one of them with a hostile name."""
    path = tmp_path / "dead.py"
    path.write_text(
        "_ssh = {'ssh_hostname': '127.0.0.1', 'ssh_port': 1, 'ssh_connect_retries': 0}\n"
        f"linux = [('vm-a', _ssh), ({HOSTILE!r}, _ssh)]\n"
    )
    return str(path)


def no_raw_controls(text: str) -> None:
    for ch in RAW:
        assert ch not in text, repr(text)


# --- exit status --------------------------------------------------------------------------------


def test_unreachable_hosts_exit_with_the_same_status_in_audit_and_fix(run, dead_inventory):
    audit = run("audit", dead_inventory, "--json", "-q")
    fix = run("fix", dead_inventory, "--code", "151095", "--json", "-q")
    assert audit.exit_code == fix.exit_code == 2, (audit.output, fix.output)
    document = json.loads(audit.stdout)
    assert document["schema"] == SCHEMA_NAME and document["summary"]["exit_status"] == 2
    assert {h["state"] for h in document["hosts"]} == {"unreachable"}
    report = json.loads(fix.stdout)
    assert report["exit_code"] == 2 and not any(h["reachable"] for h in report["hosts"])


def host(*outcomes: str, reachable: bool = True) -> HostReport:
    return HostReport(
        "vm",
        "linux",
        reachable=reachable,
        outcomes=[ControlOutcome(f"linux.c{n}", "t", o, "s") for n, o in enumerate(outcomes)],
    )


@pytest.mark.parametrize(
    "outcomes,status",
    [
        ((by_code.CHANGED, by_code.ALREADY_RIGHT, by_code.NOT_APPLICABLE), 0),
        ((by_code.CHANGED, by_code.NEEDS_APPROVAL), 1),  # like an audit finding
        ((by_code.WOULD_CHANGE,), 1),
        ((by_code.CHANGED_REST_BY_HAND,), 1),
        ((by_code.NOT_CHANGED,), 1),
        ((by_code.NEEDS_APPROVAL, by_code.FAILED), 2),  # a fix failed: not done
        ((by_code.NOT_RUN,), 2),
    ],
)
def test_fix_exit_status_follows_the_audit_scheme(outcomes, status):
    assert FixReport("q", ["c"], False, [host(*outcomes)], []).exit_code == status


def test_every_fix_outcome_and_host_state_in_json_is_kebab_case():
    values = [
        by_code.ALREADY_RIGHT,
        by_code.CHANGED,
        by_code.CHANGED_REST_BY_HAND,
        by_code.WOULD_CHANGE,
        by_code.NOT_CHANGED,
        by_code.NEEDS_APPROVAL,
        by_code.NOT_APPLICABLE,
        by_code.FAILED,
        by_code.ERROR,
        by_code.NOT_RUN,
    ]
    assert [v for v in values if not KEBAB.match(v)] == []
    data = FixReport("q", ["c"], False, [host(*values)], []).as_dict()
    assert all(KEBAB.match(o["outcome"]) for h in data["hosts"] for o in h["outcomes"])


def test_the_top_level_help_lists_every_command_imported_by_its_name(run):
    """The commands are imported when asked for (cli/main.py's ``COMMANDS``): the help imports
    each to show its summary, and a name that does not match its command stops it."""
    result = run("--help")
    assert result.exit_code == 0
    listed = re.findall(r"^  ([a-z]+)  ", result.output.split("Commands:")[1], re.M)
    assert listed == sorted(COMMANDS)


# --- --json, --quiet, -v, progress ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command,options",
    [
        (["audit"], ("--json", "--quiet", "-v")),
        (["fix"], ("--json", "--quiet", "-v")),
        (["explain"], ("--json", "--quiet")),
        (["codes"], ("--json", "--quiet")),
        (["settings"], ("--json", "--quiet")),
        (["inventory", "hosts"], ("--quiet",)),
        (["report", "merge"], ("--quiet",)),
    ],
)
def test_every_command_has_the_shared_options(run, command, options):
    result = run(*command, "--help")
    assert result.exit_code == 0
    for option in options:
        assert re.search(rf"(^|[ ,]){re.escape(option)}\b", result.output, re.M), option


def test_fix_shows_progress_on_stderr_as_it_goes_and_quiet_drops_it(run, dead_inventory):
    loud = run("fix", dead_inventory, "--code", "151095", "--limit", "vm-a")
    assert "checking 1 host(s) for 151095" in loud.stderr
    assert "vm-a: unreachable" in loud.stderr
    assert "vm-a: unreachable" in loud.stdout  # the result line
    # both streams as a terminal shows them: the progress comes before the result table
    assert loud.output.index("checking 1 host(s)") < loud.output.index("bcdrfix fix 151095")
    quiet = run("fix", dead_inventory, "--code", "151095", "--limit", "vm-a", "-q")
    assert quiet.stderr == "" and quiet.stdout.startswith("vm-a: unreachable")
    assert quiet.exit_code == loud.exit_code == 2


def test_fix_table_shows_why_only_with_verbose():
    report = FixReport(
        "151099",
        ["151099"],
        False,
        [
            HostReport(
                "vm",
                "linux",
                outcomes=[
                    ControlOutcome("linux.a", "t", by_code.ALREADY_RIGHT, "unit active", ["x"]),
                    ControlOutcome("linux.b", "t", by_code.CHANGED, "was off", ["Start it"]),
                ],
            )
        ],
        [],
    )
    plain, verbose = Console(width=200, record=True), Console(width=200, record=True)
    _print_report(plain, report)
    _print_report(verbose, report, verbose=1)
    default, detailed = plain.export_text(), verbose.export_text()
    assert "already right" in default and "unit active" not in default
    assert "was off -> Start it" in default
    assert "unit active -> x" in detailed


def test_audit_verbose_lists_findings_with_evidence_and_fix():
    document = audit_document("vm-1")
    out = Console(width=200, record=True)
    print_findings(out, document)
    text = out.export_text()
    assert "vm-1" in text and "linux.agent_service: agent stopped" in text
    assert "observed: " in text and "fix: pyinfra INV deploys/linux_agent.py --limit vm-1" in text


# --- colour and untrusted text ------------------------------------------------------------------


def test_no_color_is_honoured(run):
    coloured = run("explain", "151099", env={"FORCE_COLOR": "1"})
    assert COLOUR.search(coloured.stdout)  # the check below can see colour
    for args in (["explain", "151099"], ["codes"], ["settings"]):
        result = run(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
        assert result.exit_code == 0
        assert not COLOUR.search(result.stdout), args


def audit_document(name: str) -> dict:
    return {
        "controls": [{"id": "linux.agent_service"}],
        "hosts": [{"name": name, "state": "audited", "message": ""}],
        "results": [
            {
                "host": name,
                "control": "linux.agent_service",
                "status": "fail",
                "summary": "agent stopped",
                "observed": {"active": "inactive\x1b[2J"},
                "desired": {"active": "active"},
                "codes": ["151099"],
                "fix": f"pyinfra INV deploys/linux_agent.py --limit {name}",
            }
        ],
        "summary": {
            "hosts": 1,
            "audited": 1,
            "compliant": 0,
            "with_findings": 1,
            "not_audited": 0,
            "not_running": 0,
            "results": {
                "pass": 0,
                "fail": 1,
                "needs-approval": 0,
                "not-applicable": 0,
                "error": 0,
            },
            "worst_controls": [],
            "exit_status": 1,
        },
    }


def test_host_names_with_markup_and_escape_sequences_print_literally():
    document = audit_document(HOSTILE)
    out = Console(width=200, record=True, markup=True)  # even a console that parses markup
    print_summary(out, document)
    print_findings(out, document)
    text = out.export_text()
    assert "[/bold]vm[red]" in text
    assert "[/bold]vm[red]?[2J?31m?" in text
    no_raw_controls(text)


def test_audit_and_fix_print_hostile_host_names_escaped(run, dead_inventory):
    audit = run("audit", dead_inventory)
    fix = run("fix", dead_inventory, "--code", "151095")
    for result in (audit, fix):
        assert result.exit_code == 2
        assert "[/bold]vm[red]?[2J" in result.output
        no_raw_controls(result.output)
    assert "\\u001b" in run("audit", dead_inventory, "--json", "-q").stdout


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "\x1b[2J151099x\x9b"],
        ["explain", "151099", "--set", "vm\x1b[31m=x"],
        ["fix", "inventories/none.py", "--code", "\x1b]0;owned\x07"],
        ["codes", "--platform", "\x1b[2J"],
    ],
)
def test_pasted_input_with_control_characters_never_reaches_the_terminal_raw(run, args):
    result = run(*args)
    assert result.exit_code == 2
    assert "\\x1b" in result.output
    no_raw_controls(result.output)
    assert "\x07" not in result.output


def test_explain_prints_hostile_values_escaped(run):
    result = run("explain", "151099", "--inventory", "inv\x1b[2J.py", "--set", "vm-name=a\x9bb")
    assert result.exit_code == 0
    assert "inv?[2J.py" in result.output and "a?b" in result.output
    no_raw_controls(result.output)
    data = run("explain", "151099", "--json", "--set", "vm-name=a\x9bb\u202e").stdout
    no_raw_controls(data)
    commands = [c for s in json.loads(data)["entries"][0]["control_plane"] for c in s["az"]]
    assert any("a\x9bb\u202e" in c for c in commands)  # escaped in the text, equal once parsed


def test_json_escapes_every_control_character_and_stays_equal():
    data = {"name": "a\x1b\x7f\x9b\u202e\U000e0041b 日本語\u3000x", "n": [1, "\n"]}
    text = dumps(data)
    assert json.loads(text) == data
    assert text.isascii() is False and "日本語" in text
    no_raw_controls(text)
    assert all(ch.isprintable() or ch in "\n\u3000" for ch in text)


def test_printable_keeps_text_and_escapes_controls():
    assert printable("エラー コード:151099 [b]") == "エラー コード:151099 [b]"
    assert printable("a\x1b[31mb\nc\u202e") == "a?[31mb?c?"
    assert printable("http://user:s3cret@proxy:3128") == "http://***@proxy:3128"


def vocabulary(data, keys=("status", "state", "outcome", "kind", "scope", "service", "matched_by")):
    """Every value of a vocabulary key anywhere in a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys and isinstance(value, str):
                yield key, value
            yield from vocabulary(value, keys)
    elif isinstance(data, list):
        for item in data:
            yield from vocabulary(item, keys)


def test_status_values_are_kebab_case_in_every_json_output(run, dead_inventory):
    outputs = [
        run("codes", "--json").stdout,
        run("explain", "151099", "--json").stdout,
        run("audit", dead_inventory, "--json", "-q").stdout,
        run("fix", dead_inventory, "--code", "UserErrorBackupOperationInProgress", "--json").stdout,
        run("inventory", "hosts", dead_inventory, "--format", "json").stdout,
    ]
    found = [pair for text in outputs for pair in vocabulary(json.loads(text))]
    assert {key for key, _ in found} >= {"state", "outcome", "kind", "scope", "matched_by"}
    assert [pair for pair in found if not KEBAB.match(pair[1])] == []
