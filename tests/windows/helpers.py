"""Helpers for the Windows tests: fixture data, a PowerShell grammar, a pyinfra host stand-in."""

from __future__ import annotations

import json
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
    'double "quotes" and \'single\'',
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
            text = script.encode("utf-8")[node.start_byte:node.end_byte].decode("utf-8", "replace")
            problems.append(f"{'MISSING' if node.is_missing else 'ERROR'} at line "
                            f"{node.start_point[0] + 1}: {text[:60]!r}")
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
            text = data[node.start_byte:node.end_byte].decode("utf-8")
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
        commands = [c.get_raw_value() if hasattr(c, "get_raw_value") else str(c)
                    for c in op._inner(**kwargs)]
    return commands, fake.noops
