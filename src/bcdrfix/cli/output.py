"""What every command prints through: consoles, JSON, and the options they share.

Conventions (README, "Command line"): results on stdout, progress and errors on stderr;
``--json`` prints one JSON document on stdout and nothing else there; ``-q`` drops progress and
tables; ``-v`` adds detail; ``NO_COLOR`` (rich honours it) turns colour off. Consoles never
interpret markup and every untrusted string goes through ``printable``: host names, inventory
values, pasted codes and whatever a host reports reach the terminal as text, never as markup or
control sequences.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from bcdrfix.core.redact import redact_data
from bcdrfix.reports.terminal import printable

__all__ = ["console", "dumps", "echo_json", "json_option", "printable", "quiet_option", "text"]


def console(stderr: bool = False) -> Console:
    """A console without markup, emoji or highlighting (``[brackets]`` in names stay literal)."""
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


def text(value: Any, style: str = "") -> Text:
    """Untrusted text for a console: ``printable`` (rich itself keeps ESC and CSI), styled."""
    return Text(printable(value), style=style)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def dumps(data: Any) -> str:
    """JSON with readable non-ASCII text, proxy passwords masked, no raw control character.

    ``json.dumps(..., ensure_ascii=False)`` leaves DEL, the C1 controls (``\\x9b`` is a CSI on
    many terminals) and bidi overrides raw; outside strings JSON has only spaces and newlines, so
    escaping every other non-printable character keeps the document valid and equal.
    """
    text = json.dumps(redact_data(data), indent=2, ensure_ascii=False)  # no proxy password
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch == "\n" or unicodedata.category(ch) == "Zs"
        else _json_escape(ch)
        for ch in text
    )


def echo_json(data: Any) -> None:
    click.echo(dumps(data))


def quiet_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--quiet", "-q", is_flag=True, help=help_text)


def verbose_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--verbose", "-v", "verbose", count=True, help=help_text)


def json_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--json", "as_json", is_flag=True, help=help_text)
