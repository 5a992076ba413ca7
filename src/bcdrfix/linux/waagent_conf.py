"""Read and edit /etc/waagent.conf exactly the way the Linux agent reads it.

The agent (azurelinuxagent/common/conf.py) reads the file line by line:

* a line that *starts* with ``#`` is skipped (an indented ``#`` is not a comment);
* any other line needs ``=``; the key is the text before the first ``=``, stripped;
* the value is the text after it, cut at the first ``#``, stripped of spaces and double quotes;
* the value ``None`` means "unset"; the **last** occurrence of a key wins;
* switches are ``y``/``n`` case-insensitively, anything else means the default.

``edit`` therefore leaves exactly one effective line per desired key and does not touch any
other line: it rewrites the last occurrence in place, comments out earlier duplicates (and the
articles' misspelling ``Extensions.Enable``), and appends keys that are missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SWITCH = "switch"

# Keys whose values bcdrfix validates; other well-formed keys are written as given.
KNOWN_KEYS: dict[str, Any] = {
    "Extensions.Enabled": SWITCH,
    "Logs.Verbose": SWITCH,
    "AutoUpdate.Enabled": SWITCH,
    "AutoUpdate.UpdateToLatestVersion": SWITCH,
    "OS.EnableFirewall": SWITCH,
    "Provisioning.Agent": ("auto", "waagent", "cloud-init", "disabled"),
    "HttpProxy.Host": re.compile(r"^[A-Za-z0-9.\-:\[\]]+$"),
    "HttpProxy.Port": re.compile(r"^\d{1,5}$"),
}

# Spellings found in the articles that the agent does not read, mapped to the real key.
ALIASES = {"Extensions.Enable": "Extensions.Enabled"}

# Keys the agent no longer reads; asking for them is a mistake worth a clear error.
REMOVED = {"Provisioning.Enabled": "removed from the agent in 2.2.45; use Provisioning.Agent"}

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


def normalise_desired(desired: Mapping[str, Any]) -> dict[str, str]:
    """Validate desired keys/values and return them in the agent's spelling.

    Raises ValueError with a one-line message on the first bad entry.
    """
    result: dict[str, str] = {}
    for raw_key, raw_value in desired.items():
        key = str(raw_key).strip()
        key = ALIASES.get(key, key)
        if key in REMOVED:
            raise ValueError(f"{key}: {REMOVED[key]}")
        if not _KEY.match(key):
            raise ValueError(f"{raw_key!r} is not a waagent.conf key")
        value = _value_text(raw_value)
        if any(ch in value for ch in '#"\n\r\0') or value != value.strip():
            raise ValueError(f"{key}={raw_value!r}: value must not contain '#', quotes or newlines")
        rule = KNOWN_KEYS.get(key)
        if rule == SWITCH:
            if value.lower() not in ("y", "n"):
                raise ValueError(f"{key}={raw_value!r}: expected y or n")
            value = value.lower()
        elif isinstance(rule, tuple) and value not in rule:
            raise ValueError(f"{key}={raw_value!r}: expected one of {', '.join(rule)}")
        elif isinstance(rule, re.Pattern) and not rule.match(value):
            raise ValueError(f"{key}={raw_value!r}: not a valid value for {key}")
        if key in result and result[key] != value:
            raise ValueError(f"{key} is given twice with different values")
        result[key] = value
    return result


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "y" if value else "n"
    if value is None:
        return "None"
    return str(value)


@dataclass(frozen=True)
class Line:
    number: int  # 0-based index in the file
    text: str
    key: str | None  # None for comments and lines without '='
    value: str | None  # as the agent parses it (None also when the value is 'None')


def parse_lines(text: str) -> list[Line]:
    lines = []
    for number, line in enumerate(text.split("\n")):
        if line.startswith("#") or "=" not in line:
            lines.append(Line(number, line, None, None))
            continue
        key, rest = line.split("=", 1)
        value = rest.split("#")[0].strip('" ').strip()
        lines.append(Line(number, line, key.strip(), None if value == "None" else value))
    return lines


def parse(text: str) -> dict[str, str | None]:
    """The key/value map the agent builds from ``text`` (last occurrence wins)."""
    values: dict[str, str | None] = {}
    for line in parse_lines(text):
        if line.key is not None:
            values[line.key] = line.value
    return values


def _same(key: str, current: str | None, desired: str) -> bool:
    if desired == "None":
        return current is None
    if current is None:
        return False
    if KNOWN_KEYS.get(key) == SWITCH:
        return current.lower() == desired.lower()
    return current == desired


@dataclass(frozen=True)
class KeyState:
    key: str
    desired: str
    current: str | None  # the agent's effective value, None when unset
    lines: tuple[int, ...]  # 1-based line numbers where the key is assigned
    alias_lines: tuple[int, ...]  # 1-based line numbers of misspelled aliases

    @property
    def compliant(self) -> bool:
        return (
            len(self.lines) == 1
            and not self.alias_lines
            and _same(self.key, self.current, self.desired)
        )

    def describe(self) -> str:
        if self.compliant:
            return f"{self.key}={self.current}"
        problems = []
        if not self.lines:
            problems.append("missing")
        elif not _same(self.key, self.current, self.desired):
            problems.append(f"is {self.current!r}")
        if len(self.lines) > 1:
            problems.append(f"set on {len(self.lines)} lines {list(self.lines)}")
        if self.alias_lines:
            aliases = [a for a, real in ALIASES.items() if real == self.key]
            problems.append(f"misspelled as {aliases[0]} on line(s) {list(self.alias_lines)}")
        return f"{self.key} {', '.join(problems)} (want {self.desired!r})"


def inspect(text: str, desired: Mapping[str, str]) -> list[KeyState]:
    """Per desired key: its effective value and where it is set."""
    lines = parse_lines(text)
    effective = parse(text)
    states = []
    for key, want in desired.items():
        aliases = {a for a, real in ALIASES.items() if real == key}
        states.append(
            KeyState(
                key=key,
                desired=want,
                current=effective.get(key),
                lines=tuple(line.number + 1 for line in lines if line.key == key),
                alias_lines=tuple(line.number + 1 for line in lines if line.key in aliases),
            )
        )
    return states


def edit(text: str, desired: Mapping[str, str]) -> str:
    """Return ``text`` with every desired key effective exactly once; other lines untouched."""
    lines = text.split("\n")
    appended: list[str] = []
    for state in inspect(text, desired):
        if state.compliant:
            continue
        wanted = f"{state.key}={state.desired}"
        if state.lines:
            *earlier, last = state.lines
            if not _same(state.key, state.current, state.desired):
                lines[last - 1] = _rewrite(lines[last - 1], wanted)
            for number in earlier:
                lines[number - 1] = f"# bcdrfix: duplicate, superseded below: {lines[number - 1]}"
            for number in state.alias_lines:
                lines[number - 1] = f"# bcdrfix: the agent reads {state.key}: {lines[number - 1]}"
        elif state.alias_lines:
            *earlier, last = state.alias_lines
            lines[last - 1] = _rewrite(lines[last - 1], wanted)
            for number in earlier:
                lines[number - 1] = f"# bcdrfix: the agent reads {state.key}: {lines[number - 1]}"
        else:
            appended.append(wanted)
    if appended:
        if text.count("\r\n") > text.count("\n") // 2:  # a CRLF file stays CRLF
            appended = [line + "\r" for line in appended]
        if lines and lines[-1] == "":
            lines = lines[:-1] + appended + [""]
        else:
            lines = lines + appended + [""]
    return "\n".join(lines)


def _rewrite(line: str, wanted: str) -> str:
    """Replace the assignment, keep an inline comment the admin wrote and a CRLF line end."""
    eol = "\r" if line.endswith("\r") else ""
    _, rest = line.rstrip("\r").split("=", 1)
    if "#" in rest:
        return f"{wanted} #{rest.split('#', 1)[1]}{eol}"
    return f"{wanted}{eol}"


# --- what else stops the agent or the extension from reading the file ----------------------------

_PROXY_KEYS = ("HttpProxy.Host", "HttpProxy.Port")


def undecodable_line(text: str) -> tuple[int, str] | None:
    """The first line (1-based, shown safely) that is not UTF-8: the agent dies reading it."""
    try:
        text.encode("utf-8")  # undecodable bytes came back as lone surrogates: these fail
        return None
    except UnicodeEncodeError:
        pass
    for number, line in enumerate(text.split("\n"), start=1):
        if any("\udc80" <= ch <= "\udcff" for ch in line):
            shown = line.encode("utf-8", errors="surrogateescape").decode(
                "ascii", "backslashreplace"
            )
            return number, shown.rstrip("\r")
    return None


def spaced_proxy_lines(text: str) -> list[int]:
    """1-based lines ``HttpProxy.Host = x``: the agent reads them, the backup extension does not."""
    return [
        line.number + 1
        for line in parse_lines(text)
        if line.key in _PROXY_KEYS and not line.text.startswith(f"{line.key}=")
    ]


def normalise_proxy_lines(text: str) -> str:
    """Rewrite spaced HttpProxy lines as ``Key=value`` (the value the agent reads, unchanged)."""
    lines = text.split("\n")
    spaced = set(spaced_proxy_lines(text))
    for line in parse_lines(text):
        if line.number + 1 in spaced:
            eol = "\r" if line.text.endswith("\r") else ""
            lines[line.number] = f"{line.key}={'None' if line.value is None else line.value}{eol}"
    return "\n".join(lines)
