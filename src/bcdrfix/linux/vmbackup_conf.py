"""Read and edit /etc/azure/vmbackup.conf exactly the way the Linux backup extension reads it.

The extension (Azure/azure-linux-extensions, VMBackup: ``HandlerUtil.get_value_from_configfile``,
``handle.py``) reads the file with Python's ``ConfigParser`` and looks up keys in the section
``[SnapshotThread]``. What that means in practice:

* the section name is case-sensitive (``[snapshotthread]`` is another section), key names are not;
* ``key = value`` and ``key: value`` both work; a line that starts with ``#`` or ``;`` is a comment;
  an inline ``# ...`` is part of the value;
* an indented line continues the value of the key above it;
* a key line before any section header, a line that is neither, a section given twice or a key
  given twice in one section make the parser give up: the extension then silently ignores the
  **whole file** and uses its defaults (on Python 3, which current extensions run on);
* ``MountsToSkip`` is split at ``,`` without trimming: ``/a, /b`` skips ``/a`` and `` /b``
  (with a leading space), which matches no mount.

``inspect`` uses the real ``configparser`` for what the extension sees. ``edit`` changes lines in
place, keeps every other section, key and comment, repairs what makes the parser give up and
then checks its result with ``configparser`` again.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECTION = "SnapshotThread"
DEFAULT_SECTION = "DEFAULT"

INT = "int"
BOOL = "bool"
PATHS = "paths"


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    doc: str
    # Set when the extension reads the key but it changes nothing in current versions.
    no_effect: str = ""


KEYS: dict[str, Key] = {
    k.name.lower(): k
    for k in (
        Key(
            "MountsToSkip",
            PATHS,
            "mount points the extension does not freeze (comma-separated, "
            "no spaces); '/' cannot be skipped",
        ),
        Key(
            "SafeFreezeWaitInSeconds",
            INT,
            "seconds the extension waits for the freeze (default 66)",
        ),
        Key("timeout", INT, "snapshot thread timeout in seconds (default 60)"),
        Key(
            "seqsnapshot",
            INT,
            "0 parallel snapshots, 1 sequential (set by the extension), "
            "2 sequential (set by the user)",
        ),
        Key("onlyLocalFilesystems", BOOL, "size calculation counts local file systems only"),
        Key(
            "OnAppFailureDoFsFreeze",
            BOOL,
            "freeze file systems when app-consistent pre-scripts fail",
            no_effect="the extension reads it as text and compares it with a boolean, so a value "
            "from the file never changes what it does (checked against the extension's handle.py)",
        ),
        Key(
            "OnAppSuccessDoFsFreeze",
            BOOL,
            "freeze file systems when pre-scripts succeed",
            no_effect="the extension reads it as text and compares it with a boolean, so a value "
            "from the file never changes what it does (checked against the extension's handle.py)",
        ),
        Key(
            "isanysnapshotfailed",
            BOOL,
            "the articles' switch for VMs that also use Site Recovery",
            no_effect="ignored by the backup extension since 2019",
        ),
    )
}

# Keys in the articles' template that the extension never reads.
TEMPLATE_ONLY = {"fsfreeze": "the articles' template key 'fsfreeze' is not read by the extension"}

_SECTION_RE = re.compile(
    r"\[(?P<header>.+)\]"
)  # configparser.SECTCRE, matched on the stripped line
_OPTION_RE = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")  # configparser.OPTCRE
_NONSPACE = re.compile(r"\S")
_PATH_RE = re.compile(r"^/([^,%\n\r\0]*[^\s,%])?$")  # ConfigParser keeps inner spaces


# --- desired values ---------------------------------------------------------------------------


def normalise_desired(desired: Mapping[str, Any]) -> dict[str, str | None]:
    """Validate desired keys/values; return ``{canonical key: text or None}``.

    ``None`` asks for the key to be absent. Raises ValueError with a one-line message.
    """
    if not isinstance(desired, Mapping):
        raise ValueError("expected a mapping of [SnapshotThread] keys to values")
    result: dict[str, str | None] = {}
    for raw_key, raw_value in desired.items():
        lower = str(raw_key).strip().lower()
        if lower in TEMPLATE_ONLY:
            raise ValueError(f"{raw_key}: {TEMPLATE_ONLY[lower]}")
        if lower not in KEYS:
            raise ValueError(
                f"{raw_key!r} is not a key the backup extension reads "
                f"(known: {', '.join(k.name for k in KEYS.values())})"
            )
        key = KEYS[lower]
        result[key.name] = None if raw_value is None else _value_text(key, raw_value)
    return result


def _value_text(key: Key, value: Any) -> str:
    if key.kind == PATHS:
        items = [value] if isinstance(value, str) else list(value)
        paths = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
        for path in paths:
            if not _PATH_RE.match(path):
                raise ValueError(
                    f"{key.name}: {path!r} is not an absolute mount point (no ',' or '%', no spaces around it)"
                )
        if "/" in paths:
            raise ValueError(f"{key.name}: the extension always freezes '/', it cannot be skipped")
        return ",".join(dict.fromkeys(paths))
    if key.kind == INT:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"{key.name}={value!r}: expected a whole number") from None
        if key.name == "seqsnapshot" and number not in (0, 1, 2):
            raise ValueError(f"seqsnapshot={value!r}: expected 0, 1 or 2")
        if key.name != "seqsnapshot" and not 1 <= number <= 86400:
            raise ValueError(f"{key.name}={value!r}: expected seconds between 1 and 86400")
        return str(number)
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "false", "yes", "no", "y", "n", "1", "0"):
        truth = value if isinstance(value, bool) else text in ("true", "yes", "y", "1")
        return "True" if truth else "False"
    raise ValueError(f"{key.name}={value!r}: expected true or false")


# --- what the extension sees ------------------------------------------------------------------


def read(text: str) -> tuple[configparser.ConfigParser | None, str | None]:
    """Parse like the extension: ``(parser, None)`` or ``(None, why the whole file is ignored)``."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return None, " ".join(str(exc).split())
    return parser, None


def effective_value(
    parser: configparser.ConfigParser | None, key: str
) -> tuple[str | None, str | None]:
    """``(value, problem)`` of one key as the extension's ``get`` returns it."""
    if parser is None or not parser.has_option(SECTION, key):
        return None, None
    try:
        return parser.get(SECTION, key), None
    except configparser.Error as exc:  # e.g. a stray '%' (interpolation): the key falls back
        return None, " ".join(str(exc).split())


@dataclass(frozen=True)
class KeyState:
    key: str
    current: str | None
    desired: str | None
    compliant: bool
    note: str = ""

    def describe(self) -> str:
        now = "absent" if self.current is None else f"{self.current!r}"
        want = "absent" if self.desired is None else f"{self.desired!r}"
        text = f"{self.key} is {now}" if self.compliant else f"{self.key} is {now}, want {want}"
        return f"{text} ({self.note})" if self.note else text


def same_value(key: str, current: str | None, desired: str | None) -> bool:
    if current is None or desired is None:
        return current is desired
    kind = KEYS[key.lower()].kind
    if kind == PATHS:
        # The extension compares mount points exactly, after split(',') and nothing else.
        return set(current.split(",")) == set(desired.split(","))
    if kind == INT:
        try:
            return int(current) == int(desired)
        except ValueError:
            return False
    return current.strip().lower() == desired.lower()


def inspect(
    text: str | None, desired: Mapping[str, str | None]
) -> tuple[list[KeyState], str | None]:
    """The state of each desired key and, if the extension ignores the whole file, why."""
    parser, problem = read(text) if text is not None else (None, None)
    states = []
    for key, want in desired.items():
        current, key_problem = effective_value(parser, key)
        note = KEYS[key.lower()].no_effect
        if key_problem:
            note = f"the extension cannot read it: {key_problem}"
        compliant = problem is None and key_problem is None and same_value(key, current, want)
        states.append(KeyState(key, current, want, compliant, note))
    return states, problem


def ineffective_entries(text: str | None) -> list[str]:
    """Keys the extension reads wrongly or not at all although they look set."""
    if text is None:
        return []
    parser, problem = read(text)
    if parser is None:
        return []
    found = []
    for section in parser.sections():
        if section != SECTION and section.lower() == SECTION.lower():
            found.append(f"[{section}] is not [{SECTION}] (section names are case-sensitive)")
    if parser.has_section(SECTION):
        for option in parser.options(SECTION):
            if option in TEMPLATE_ONLY:
                found.append(TEMPLATE_ONLY[option])
    value, _ = effective_value(parser, "MountsToSkip")
    for entry in (value or "").split(","):
        if entry and entry != entry.strip():
            found.append(f"MountsToSkip entry {entry!r} has spaces around it and matches no mount")
    return found


# --- line model (mirrors configparser's _read with the default options) ---------------------------


@dataclass
class Line:
    text: str
    kind: str  # blank | comment | header | option | continuation | invalid | preamble-option
    section: str | None = None
    key: str | None = None  # lower-cased option name (for option and continuation lines)


def classify(text: str) -> list[Line]:
    lines: list[Line] = []
    section: str | None = None
    option: str | None = None
    indent_level = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", ";")):
            # Neither ends a value: configparser lets an indented line after them continue it.
            lines.append(Line(raw, "blank" if not stripped else "comment", section, option))
            continue
        found = _NONSPACE.search(raw)
        indent = found.start() if found else len(raw)
        if option is not None and indent > indent_level:
            lines.append(Line(raw, "continuation", section, option))
            continue
        indent_level = indent
        header = _SECTION_RE.match(stripped)
        if header:
            section, option = header.group("header"), None
            lines.append(Line(raw, "header", section))
            continue
        match = _OPTION_RE.match(stripped)
        if match and match.group("option"):
            option = match.group("option").rstrip().lower()
            kind = "option" if section is not None else "preamble-option"
            lines.append(Line(raw, kind, section, option))
        else:
            lines.append(Line(raw, "invalid", section, option))
    return lines


def _render(lines: Iterable[Line]) -> str:
    return "\n".join(line.text for line in lines)


def _comment(line: Line, why: str) -> Line:
    return Line(f"# bcdrfix ({why}): {line.text.strip()}", "comment", line.section)


# --- repairs ------------------------------------------------------------------------------------


def repair(text: str) -> tuple[str, list[str]]:
    """Make the file readable for the extension, changing as little as possible.

    Returns the new text and one line per repair.
    """
    done: list[str] = []
    lines = classify(text)

    # Keys before any section header: the parser stops at once. They were meant for the extension.
    first = next((i for i, l in enumerate(lines) if l.kind == "preamble-option"), None)
    if first is not None:
        lines.insert(first, Line(f"[{SECTION}]", "header", SECTION))
        done.append(f"added the missing [{SECTION}] header above line {first + 1}")
        lines = classify(_render(lines))

    # The extension looks for [SnapshotThread] exactly.
    for line in lines:
        if (
            line.kind == "header"
            and line.section != SECTION
            and (line.section or "").lower() == SECTION.lower()
        ):
            done.append(f"renamed [{line.section}] to [{SECTION}]")
            line.text = line.text.replace(f"[{line.section}]", f"[{SECTION}]", 1)
    lines = classify(_render(lines))

    # A section given twice: move the later bodies into the first one.
    lines, merged = _merge_duplicate_sections(lines)
    done += merged

    out: list[Line] = []
    for line in lines:
        if line.kind == "invalid":
            out.append(
                _comment(line, "not a key = value line, the extension could not read the file")
            )
            done.append(f"commented out the unreadable line {line.text.strip()!r}")
        elif line.kind == "continuation" and line.section == SECTION and line.key in KEYS:
            stripped = line.text.strip()
            match = _OPTION_RE.match(stripped)
            if match and match.group("option"):
                out.append(
                    Line(stripped, "option", line.section, match.group("option").rstrip().lower())
                )
                done.append(f"removed the indentation that glued {stripped!r} to {line.key}")
            else:
                out.append(_comment(line, f"indented, it was glued to the value of {line.key}"))
                done.append(f"commented out {stripped!r}, glued to the value of {line.key}")
        else:
            out.append(line)
    lines = classify(_render(out))

    # A key given twice in one section: keep the last one, like the admin who appended it meant.
    last: dict[tuple[str | None, str | None], int] = {}
    for index, line in enumerate(lines):
        if line.kind == "option":
            last[(line.section, line.key)] = index
    out = []
    dropping = False
    for index, line in enumerate(lines):
        if line.kind == "option":
            dropping = last[(line.section, line.key)] != index
            if dropping:
                done.append(f"commented out the earlier duplicate {line.text.strip()!r}")
        elif line.kind != "continuation":
            dropping = False
        out.append(_comment(line, "duplicate key, the last one is kept") if dropping else line)
    return _render(out), done


def _merge_duplicate_sections(lines: list[Line]) -> tuple[list[Line], list[str]]:
    blocks: list[list[Line]] = [[]]
    for line in lines:
        if line.kind == "header":
            blocks.append([line])
        else:
            blocks[-1].append(line)
    merged: list[list[Line]] = [blocks[0]]
    seen: dict[str | None, list[Line]] = {}
    done = []
    for block in blocks[1:]:
        name = block[0].section
        if name in seen:
            target = seen[name]
            while target and target[-1].kind == "blank":
                target.pop()
            target.extend(block[1:])
            done.append(f"merged the second [{name}] section into the first one")
        else:
            seen[name] = block
            merged.append(block)
    if not done:
        return lines, done
    return classify(_render([line for block in merged for line in block])), done


# --- edit ---------------------------------------------------------------------------------------


def edit(text: str | None, desired: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """The file with the desired keys set in [SnapshotThread]; everything else is kept.

    Returns the new text and what was changed. Raises ValueError if the result would not give
    the extension the desired values (a bug, never a silent half-edit).
    """
    text = text if text is not None else ""
    text, done = repair(text)
    lines = classify(text)
    for key, value in desired.items():
        lower = key.lower()
        indexes = [
            i
            for i, l in enumerate(lines)
            if l.kind == "option" and l.key == lower and l.section in (SECTION, DEFAULT_SECTION)
        ]
        in_section = [i for i in indexes if lines[i].section == SECTION]
        if value is None:
            for i in reversed(indexes):
                end = _value_end(lines, i)
                lines[i:end] = [_comment(l, "removed by bcdrfix") for l in lines[i:end]]
                done.append(f"commented out {key}")
            continue
        if in_section:
            i = in_section[-1]
            current = lines[i]
            match = re.match(r"^(\s*)([^=:]*?)(\s*[=:]\s*)(.*)$", current.text)
            end = _value_end(lines, i)
            if match and same_value(key, match.group(4).strip(), value) and end == i + 1:
                continue
            new_text = (
                f"{match.group(1)}{match.group(2)}{match.group(3)}{value}"
                if match
                else f"{key} = {value}"
            )
            lines[i:end] = [Line(new_text, "option", SECTION, lower)]
            done.append(f"set {key} = {value}")
            continue
        lines = _append_to_section(lines, Line(f"{key} = {value}", "option", SECTION, lower))
        done.append(f"added {key} = {value}")
        lines = classify(_render(lines))
    result = _render(lines)
    if result and not result.endswith("\n"):
        result += "\n"
    _verify(result, desired)
    return result, done


def _value_end(lines: list[Line], index: int) -> int:
    end = index + 1
    while end < len(lines) and lines[end].kind == "continuation":
        end += 1
    return end


def _append_to_section(lines: list[Line], new: Line) -> list[Line]:
    headers = [i for i, l in enumerate(lines) if l.kind == "header" and l.section == SECTION]
    if not headers:
        while lines and lines[-1].kind == "blank":
            lines = lines[:-1]
        prefix = [Line("", "blank")] if lines else []
        return lines + prefix + [Line(f"[{SECTION}]", "header", SECTION), new, Line("", "blank")]
    start = headers[0]
    end = start + 1
    while end < len(lines) and lines[end].kind != "header":
        end += 1
    # After the last key line of the section, before trailing blank lines and comments.
    insert = start + 1
    for i in range(start + 1, end):
        if lines[i].kind in ("option", "continuation"):
            insert = i + 1
    return lines[:insert] + [new] + lines[insert:]


def _verify(text: str, desired: Mapping[str, str | None]) -> None:
    parser, problem = read(text)
    if parser is None:
        raise ValueError(f"bcdrfix produced a vmbackup.conf the extension cannot read: {problem}")
    for key, want in desired.items():
        got, key_problem = effective_value(parser, key)
        if key_problem or not same_value(key, got, want):
            raise ValueError(f"bcdrfix could not set {key} (result {got!r}, wanted {want!r})")
