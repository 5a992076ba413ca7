"""The catalog's model and lookup: entries, causes, control-plane steps, sources, ``Catalog``.

Lookup accepts what an administrator has at hand::

    catalog.lookup("151099")                          # numeric code
    catalog.lookup("usererrorguestagentstatusunavailable")
    catalog.lookup("320001/ResourceNotFound")         # the articles' code pairs
    catalog.lookup("could not communicate with the VM agent")   # a fragment of the message
    catalog.lookup("Error 151099: Task execution has timed out")  # a pasted line: the code wins
    catalog.lookup("１５１０９９")                                 # full-width forms are folded (NFKC)
"""

from __future__ import annotations

import difflib
import functools
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PLATFORMS = ("linux", "windows")

# Every <placeholder> an ``az`` command may use; `bcdrfix explain --set NAME=VALUE` fills them.
PLACEHOLDERS = {
    "resource-group": "resource group of the VM",
    "vm-name": "name of the VM (also its backup container and item name)",
    "vault-name": "Recovery Services vault that protects the VM",
    "vault-resource-group": "resource group of that vault",
    "restore-point-resource-group": "AzureBackupRG_<geo>_<number>, where the restore points live",
    "location": "Azure region, e.g. japaneast",
    "extension-name": "extension instance name printed by the previous command",
    "nsg-name": "network security group of the VM's NIC or subnet",
    "priority": "free NSG rule priority (100-4096)",
    "lock-name": "lock name printed by the previous command",
    "collection-name": "restore point collection name printed by the previous command",
    "policy-name": "backup policy name",
    "key-vault-name": "key vault of the encrypted VM",
    "job-id": "backup job id printed by the previous command",
    "disk-name": "managed disk name",
    "vm-size": "VM size, e.g. Standard_D4s_v5",
    "recovery-point-name": "recovery point name from `az backup recoverypoint list`",
    "storage-account": "storage account name",
    "storage-account-id": "storage account resource id",
    "target-resource-group": "resource group that receives the restored disks or VM",
    "new-vm-name": "name of the VM to create",
    "restored-os-disk": "restored OS disk name or id",
    "restored-data-disk": "restored data disk name or id",
    "os-type": "linux or windows",
    "plan-name": "Marketplace plan name",
    "plan-product": "Marketplace plan product (offer)",
    "plan-publisher": "Marketplace plan publisher",
    "container": "blob container that holds the disk blobs",
    "blob-name": "disk blob name",
    "snapshot-time": "snapshot timestamp printed by the previous command",
    "days": "soft-delete retention in days",
    "tag-name": "tag the policy requires",
    "tag-value": "value of that tag",
}
_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9-]*)>")


class CatalogError(ValueError):
    """The catalog file is invalid; one line naming every problem."""


class CodeNotFound(LookupError):
    """No catalog entry matches; ``nearest`` lists the closest known codes."""

    def __init__(self, text: str, nearest: list[str]):
        self.text = text
        self.nearest = nearest
        hint = f"; nearest known codes: {', '.join(nearest)}" if nearest else ""
        super().__init__(f"unknown error code or message {text!r}{hint} (bcdrfix codes lists all)")


# --- model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    file: str
    title: str
    title_en: str
    service: str
    date: str
    locale: str


@dataclass(frozen=True)
class ControlPlaneStep:
    """An Azure action bcdrfix prints but never runs."""

    id: str
    title: str
    az: tuple[str, ...] = ()
    portal: str | None = None
    disruptive: bool = False
    platforms: tuple[str, ...] = PLATFORMS

    def commands(self, values: Mapping[str, str] | None = None) -> list[str]:
        return [fill_placeholders(command, values or {}) for command in self.az]


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    platforms: tuple[str, ...]
    controls: Mapping[str, tuple[str, ...]]
    control_plane: tuple[ControlPlaneStep, ...] = ()
    advice: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One error code (or one uncoded symptom of the oldest article)."""

    code: str
    kind: str
    service: str
    message: str
    summary: str
    platforms: tuple[str, ...]
    scope: str
    causes: tuple[Cause, ...]
    sources: tuple[Source, ...]
    aliases: tuple[str, ...] = ()
    localized: Mapping[str, str] = field(default_factory=dict)
    # Further messages per language (the articles give 400094 two Japanese ones).
    localized_variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    control_plane: tuple[ControlPlaneStep, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The code and its aliases (``320001`` and ``ResourceNotFound``)."""
        return (self.code, *self.aliases)

    @property
    def display(self) -> str:
        return "/".join(self.names)

    def control_ids(self, platform: str | None = None) -> list[str]:
        """Controls of every cause, in cause order, each once; ``None`` means both platforms."""
        ids: list[str] = []
        for cause in self.causes:
            for plat in (platform,) if platform else PLATFORMS:
                for cid in cause.controls.get(plat, ()):
                    if cid not in ids:
                        ids.append(cid)
        return ids

    def steps(self, platform: str | None = None) -> list[ControlPlaneStep]:
        """Control-plane steps: the code's own first, then each cause's, each once."""
        steps: list[ControlPlaneStep] = []
        for step in (*self.control_plane, *(s for c in self.causes for s in c.control_plane)):
            if step not in steps and (platform is None or platform in step.platforms):
                steps.append(step)
        return steps

    def messages(self) -> list[str]:
        variants = (text for texts in self.localized_variants.values() for text in texts)
        return [self.message, *self.localized.values(), *variants]

    def localized_messages(self) -> list[tuple[str, str]]:
        """(language, message) of every translation, variants after each language's main one."""
        return [
            (lang, text)
            for lang, main in self.localized.items()
            for text in (main, *self.localized_variants.get(lang, ()))
        ]


@dataclass(frozen=True)
class Match:
    """The result of a lookup: the entries and how they were found."""

    entries: tuple[Entry, ...]
    how: str  # "code", "codes" (a pair or list), "message"
    text: str

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.entries]


# --- helpers ----------------------------------------------------------------------------------


def fill_placeholders(command: str, values: Mapping[str, str]) -> str:
    """Replace ``<name>`` with the shell-quoted value; unknown or unset placeholders stay.

    >>> fill_placeholders("az vm restart --name <vm-name>", {"vm-name": "web 01"})
    "az vm restart --name 'web 01'"
    """

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return shlex.quote(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, command)


def normalise(text: str) -> str:
    """Case-folded words: punctuation and runs of spaces become one space (any script)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def _token(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip("\"'“”「」`").casefold()


# Scripts written without spaces between words (the portal's Japanese messages; Korean text is
# often pasted without its spaces): such queries are compared with every space removed. Compiled
# at its first use, by a lookup: building its character set takes about 2 ms, which every
# command's start-up paid (an audit never looks a message up).
@functools.cache
def _no_space_script() -> re.Pattern[str]:
    return re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff]")


def _compact(text: str) -> str:
    return text.replace(" ", "")


# --- lookup -----------------------------------------------------------------------------------

_MIN_FRAGMENT = 6  # characters of a message fragment; shorter text matches too much
_SPLIT = re.compile(r"[\s/,;、]+")


@dataclass(frozen=True)
class Catalog:
    entries: tuple[Entry, ...]
    causes: Mapping[str, Cause]
    steps: Mapping[str, ControlPlaneStep]
    sources: Mapping[str, Source]

    @functools.cached_property
    def _index(self) -> dict[str, Entry]:
        return {name.casefold(): entry for entry in self.entries for name in entry.names}

    def get(self, code: str) -> Entry | None:
        """The entry of one code or alias, case-insensitively."""
        return self._index.get(_token(code))

    def lookup(self, text: str) -> Match:
        """Find the entries for a code, a code pair (``a/b``), or a message fragment.

        Raises ``CodeNotFound`` (with the nearest known codes) when nothing matches.
        """
        query = unicodedata.normalize("NFKC", text).strip()
        if not query:
            raise CodeNotFound(text, [])
        entry = self.get(query)
        if entry is not None:
            return Match((entry,), "code", text)
        parts = [p for p in (_token(p) for p in _SPLIT.split(query)) if p]
        found = [self._index[p] for p in parts if p in self._index]
        if len(parts) > 1 and len(found) == len(parts):
            return Match(tuple(_unique(found)), "codes", text)
        # A pasted line such as "Error code: 151076", "エラー コード:151076" or
        # "Error 151099: Task execution has timed out": a code in the text names the entry, even
        # when the text also holds (part of) another code's message. No message contains a code.
        named = _unique(
            self._index[t]
            for t in (_token(w) for w in re.split(r"[^\w-]+", query))
            if t in self._index
        )
        if named:
            return Match(tuple(named), "codes", text)
        by_message = self._by_message(query)
        if by_message:
            return Match(tuple(by_message), "message", text)
        raise CodeNotFound(text, self.nearest(query))

    def _by_message(self, query: str) -> list[Entry]:
        wanted = normalise(query)
        if len(wanted) < _MIN_FRAGMENT:
            return []
        compact = bool(_no_space_script().search(wanted))
        if compact:
            wanted = _compact(wanted)
        hits = []
        for entry in self.entries:
            for message in entry.messages():
                known = _compact(normalise(message)) if compact else normalise(message)
                # A fragment of the message, or a pasted text that contains the whole message.
                if wanted in known or (len(known) >= _MIN_FRAGMENT and known in wanted):
                    hits.append(entry)
                    break
        return hits

    def nearest(self, text: str, count: int = 5) -> list[str]:
        """Known codes closest in spelling to ``text`` (for "did you mean")."""
        by_key = {name.casefold(): name for entry in self.entries for name in entry.names}
        parts = [_token(p) for p in _SPLIT.split(text) if p.strip()] or [_token(text)]
        found: list[str] = []
        for part in parts:
            for key in difflib.get_close_matches(part, by_key, n=count, cutoff=0.6):
                if by_key[key] not in found:
                    found.append(by_key[key])
        if not found:  # a partial code: "GuestAgent" -> every code that contains it
            needle = _token(text)
            found = [name for key, name in by_key.items() if len(needle) >= 4 and needle in key]
        return found[:count]

    def codes_for_control(self, control_id: str) -> tuple[str, ...]:
        """Codes whose causes name this control, in catalog order (what the audit reports)."""
        return self._codes_by_control.get(control_id, ())

    @functools.cached_property
    def _codes_by_control(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for entry in self.entries:
            if entry.kind != "code":
                continue
            for control_id in entry.control_ids():
                found.setdefault(control_id, []).append(entry.display)
        return {cid: tuple(codes) for cid, codes in found.items()}

    def for_platform(self, platform: str | None) -> list[Entry]:
        return [e for e in self.entries if platform is None or platform in e.platforms]


def _unique(items: Iterable[Entry]) -> list[Entry]:
    out: list[Entry] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
