"""Helpers for the linux_backup unit tests: observations built through the real probe parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

import bcdrfix.controls  # noqa: F401  (registers controls)
from bcdrfix.controls import load_settings
from bcdrfix.core.observe import END, PROBES, SECTION, parse_output

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def observe(sections: dict[str, str], unit: str = "walinuxagent.service") -> dict:
    """What the batched probe returns when each probe prints the given text."""
    lines = [f"{SECTION}preamble", f"unit={unit}", "systemd=1"]
    for name, text in sections.items():
        assert name in PROBES, name
        lines.append(f"{SECTION}{name}")
        lines += text.splitlines()
        lines.append(f"{END}{name}")
    return parse_output(lines)


def file_section(text: str | None, mode: str = "644") -> str:
    """The output of the probes' ``bcdr_file`` for a file holding ``text`` (None: missing)."""
    import base64

    if text is None:
        return "missing"
    data = text.encode()
    return f"file {mode} root root {len(data)}\n" + base64.b64encode(data).decode()


@pytest.fixture
def settings():
    def make(**values):
        return load_settings({f"bcdrfix_{k}": v for k, v in values.items()})

    return make
