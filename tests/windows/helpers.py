"""Helpers for the Windows tests: fixture data, a PowerShell grammar, a pyinfra host stand-in,
inventories of ``@fake`` Windows hosts and a record of the commands their connector receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import tree_sitter
import tree_sitter_powershell

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

# Values an attacker or a careless inventory could put in any data field.
HOSTILE = [
    "it's",
    "'; Remove-Item -Recurse C:\\ ; '",
    "$env:USERPROFILE $(whoami) ${x}",
    "`n`r`0 back`ticks",
    "a; b | c & d && e || f",
    "double \"quotes\" and 'single'",
    "line one\nline two\r\nline three",
    "\u2018smart\u2019 \u201aquotes\u201b",
    "日本語のサービス名 / 한국어 / ümlaut",
    "@(1,2) @{a=1} [int]5 -and -or #comment <# block #>",
    "''''",
    "'",
    "",
]


def parse_powershell(script: str):
    return _PARSER.parse(script.encode("utf-8"))


def syntax_problems(script: str) -> list[str]:
    """ERROR and MISSING nodes of a script, with their line and text."""
    problems = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            text = script.encode("utf-8")[node.start_byte : node.end_byte].decode(
                "utf-8", "replace"
            )
            problems.append(
                f"{'MISSING' if node.is_missing else 'ERROR'} at line "
                f"{node.start_point[0] + 1}: {text[:60]!r}"
            )
        for child in node.children:
            walk(child)

    walk(parse_powershell(script).root_node)
    return problems


def verbatim_strings(script: str) -> list[str]:
    """The decoded values of every single-quoted string literal in the script."""
    data = script.encode("utf-8")
    values = []

    def walk(node):
        if node.type == "verbatim_string_characters":
            text = data[node.start_byte : node.end_byte].decode("utf-8")
            inner = text[1:-1]
            for quote in "'\u2018\u2019\u201a\u201b":
                inner = inner.replace(quote * 2, quote)
            values.append(inner)
        for child in node.children:
            walk(child)

    walk(parse_powershell(script).root_node)
    return values


def load_fixture_lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")


def observation_output(name: str) -> list[str]:
    """The observation fixture as the script prints it: one compact JSON line."""
    data = json.loads((FIXTURES / f"observation_{name}.json").read_text(encoding="utf-8"))
    return [json.dumps(data, ensure_ascii=False, separators=(",", ":"))]


class FakeHost:
    """What bcdrfix operations use of pyinfra's host: ``noop``."""

    def __init__(self):
        self.noops: list[str] = []
        self.data = {}

    def noop(self, description: str) -> None:
        self.noops.append(description)


@contextmanager
def operation_host():
    from pyinfra.context import ctx_host

    fake = FakeHost()
    with ctx_host.use(fake):
        yield fake


def run_operation(op, **kwargs) -> tuple[list[str], list[str]]:
    """Commands (raw text) an operation yields for these arguments, and its noop messages."""
    with operation_host() as fake:
        commands = [
            c.get_raw_value() if hasattr(c, "get_raw_value") else str(c)
            for c in op._inner(**kwargs)
        ]
    return commands, fake.noops


# --- @fake Windows hosts ------------------------------------------------------------------------


def observation_response(fixture: str) -> dict:
    """``fake_responses`` of a host that answers the observation script with a fixture."""
    from bcdrfix.windows.facts import MARKER

    return {MARKER: observation_output(fixture)}


def write_inventory(path, responses: dict[str, dict]) -> None:
    """An inventory file of ``@fake/NAME`` hosts in the ``windows`` group, with no simulated delay.

    ``responses`` maps each host name to its ``fake_responses`` (command substring -> output);
    every other command succeeds with no output, as pyinfra's fake connector does.
    """
    hosts = []
    for name, extra in responses.items():
        hosts.append(
            (f"@fake/{name}", {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": extra})
        )
    path.write_text(f"windows = {hosts!r}\n", encoding="utf-8")


# Runs the bcdrfix command with a logging handler on pyinfra's fake connector, which logs every
# command it receives ("[fake] simulating command on %s: %s"); each one is written as a JSON line
# [host, command] to the file named by the first argument. Nothing in bcdrfix is replaced.
_RECORD_CONNECTOR_INPUT = r"""
import json, logging, sys
record_file = open(sys.argv[1], "a", encoding="utf-8")
class ConnectorInput(logging.Handler):
    def emit(self, record):
        if record.msg == "[fake] simulating command on %s: %s":
            record_file.write(json.dumps([str(a) for a in record.args]) + "\n")
            record_file.flush()
pyinfra_logger = logging.getLogger("pyinfra")
pyinfra_logger.setLevel(logging.DEBUG)
pyinfra_logger.addHandler(ConnectorInput(logging.DEBUG))
sys.argv = ["bcdrfix", *sys.argv[2:]]
from bcdrfix.cli.main import run
run()
"""


def run_bcdrfix(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, list[str]]]:
    """Run ``bcdrfix ARGS...`` and return its result and, per ``@fake`` host name (without the
    ``@fake/`` prefix), the commands its connector received, in order."""
    record = tmp_path / f"connector-input-{len(list(tmp_path.glob('connector-input-*')))}.jsonl"
    record.touch()
    env = {**os.environ, "COLUMNS": "80"}  # what a user's default terminal shows
    result = subprocess.run(
        [sys.executable, "-c", _RECORD_CONNECTOR_INPUT, str(record), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    commands: dict[str, list[str]] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        host, command = json.loads(line)
        commands.setdefault(host.removeprefix("@fake/"), []).append(command)
    return result, commands
