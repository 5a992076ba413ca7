"""``bcdrfix settings``: every ``bcdrfix_*`` setting with its default, what it accepts and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from bcdrfix.cli.output import console, echo_json, json_option, printable, quiet_option
from bcdrfix.controls import SETTINGS
from bcdrfix.core.settings import Setting, SettingsError


class _Probe:
    """A value no validator accepts; the validator's refusal says what it expects."""

    def __repr__(self) -> str:
        return "<probe>"


def accepts(setting: Setting) -> str:
    """What a setting accepts; ``None`` (unset) too when that is its default."""
    text = _expected(setting)
    return f"{text}, or None (unset)" if setting.default is None else text


def _expected(setting: Setting) -> str:
    """What a setting's validator accepts, in its own words ("a boolean (true/false, y/n)").

    The validators say it when they refuse a value, so a value none of them accepts is offered
    (first a non-value, then a string and a list with a NUL byte in them); the part of the
    message after "expected" is the answer. The meaning thus cannot drift from the validation.
    """
    many = isinstance(setting.default, (tuple, list))
    for probe in ([_Probe()], " bad\x00 ") if many else (_Probe(), " bad\x00 ", [_Probe()]):
        try:
            setting.validate(setting.name, probe)
        except SettingsError as exc:
            _, found, expected = str(exc).partition(": expected ")
            if found:
                return f"a list of: {expected}" if many else expected
            _, found, expected = str(exc).partition(" is not ")
            if found:
                return f"a list of: {expected}" if many else expected
        except (TypeError, ValueError):
            continue
    doc = (getattr(setting.validate, "__doc__", None) or "").strip().splitlines()
    if doc:  # a validator that refuses nothing says in its docstring what it takes
        return doc[0].rstrip(".")[:1].lower() + doc[0].rstrip(".")[1:]
    return "a list" if many else type(setting.default).__name__


def _plain(value: Any) -> Any:
    """A default as JSON data (mappings and tuples of the settings tables are read-only)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def settings_rows() -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "default": _plain(s.default),
            "accepts": accepts(s),
            "doc": s.doc,
        }
        for s in SETTINGS.values()
    ]


@click.command("settings")
@json_option("Print the settings as JSON: name, default, accepts, doc.")
@quiet_option("Only the setting names, one per line.")
def settings_command(as_json: bool, quiet: bool) -> None:
    """List every bcdrfix_* setting: its default, what it accepts and what it does.

    Set them in group_data/*.py (documented examples), in the inventory per host or group, or per
    run with --data NAME=VALUE; every value is validated before any host is contacted.

    \b
    Examples:
      bcdrfix settings
      bcdrfix settings --json | jq -r '.[] | select(.accepts | startswith("a boolean")) | .name'
    """
    rows = settings_rows()
    if as_json:
        echo_json(rows)
        return
    out = console()
    if quiet:
        for row in rows:
            out.print(row["name"])
        return
    table = Table(title="bcdrfix settings", title_justify="left", show_lines=True)
    table.add_column("Setting", no_wrap=True, style="cyan")
    table.add_column("Default", overflow="fold", max_width=36)
    table.add_column("Accepts", overflow="fold", max_width=32)
    table.add_column("What it does", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(
            row["name"],
            Text(printable(repr(row["default"]))),
            Text(row["accepts"]),
            Text(row["doc"]),
        )
    if not out.is_terminal:
        out.width = max(out.width, 140)  # piped: a table that stays readable in a file
    out.print(table)
