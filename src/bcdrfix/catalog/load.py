"""The error-code catalog: what an Azure Backup / Site Recovery error means and what fixes it.

The catalog (``catalog.yaml``, shipped with the package) maps each error code of the source
articles to its causes, in the order the articles give them. A cause names the bcdrfix controls
that fix it inside the VM, per platform, and the Azure control-plane steps (``az`` commands,
portal paths) that only Azure can do. Loading validates everything before anything uses it:

* the shape, against ``catalog.schema.json`` (JSON Schema);
* every reference: sources, causes, control-plane steps, and every control id against the control
  registry (with the right platform), every ``<placeholder>`` in an ``az`` command;
* codes and aliases unique, case-insensitively; no duplicate keys in the YAML.

Lookup accepts what an administrator has at hand::

    catalog = load_catalog(REGISTRY)                  # bcdrfix.controls.REGISTRY
    catalog.lookup("151099")                          # numeric code
    catalog.lookup("usererrorguestagentstatusunavailable")
    catalog.lookup("320001/ResourceNotFound")         # the articles' code pairs
    catalog.lookup("could not communicate with the VM agent")   # a fragment of the message
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bcdrfix.core.model import ControlRegistry

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
        return [self.message, *self.localized.values()]


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
    return text.strip().strip("\"'“”「」`").casefold()


# --- loading ----------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise CatalogError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _schema() -> dict:
    return json.loads(
        resources.files("bcdrfix.catalog").joinpath("catalog.schema.json").read_text("utf-8")
    )


def _check_schema(raw: Any, name: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = []
        for err in errors[:5]:
            where = "/".join(str(p) for p in err.absolute_path) or "(top)"
            problems.append(f"{where}: {err.message}")
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        raise CatalogError(f"{name}: " + "; ".join(problems) + more)


def _resolve(
    keys: Iterable[str], table: Mapping[str, Any], unknown: str, problems: list[str]
) -> list:
    """The items ``keys`` name in ``table``; each missing one adds ``"<unknown> 'key'"`` to problems."""
    found = []
    for key in keys:
        if key in table:
            found.append(table[key])
        else:
            problems.append(f"{unknown} {key!r}")
    return found


def parse_catalog(text: str, registry: ControlRegistry, name: str = "catalog.yaml") -> Catalog:
    """Validate catalog text against the control ``registry`` and build the model."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except CatalogError as exc:
        raise CatalogError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from None
    _check_schema(raw, name)

    problems: list[str] = []
    sources = {f: Source(f, **data) for f, data in raw["sources"].items()}
    steps = {}
    for sid, data in raw["control_plane"].items():
        for command in data.get("az", ()):
            for placeholder in _PLACEHOLDER.findall(command):
                if placeholder not in PLACEHOLDERS:
                    problems.append(f"control_plane {sid}: unknown placeholder <{placeholder}>")
        steps[sid] = ControlPlaneStep(
            sid,
            data["title"],
            tuple(data.get("az", ())),
            data.get("portal"),
            data.get("disruptive", False),
            tuple(data.get("platforms", PLATFORMS)),
        )

    def step_refs(owner: str, ids: Iterable[str]) -> tuple[ControlPlaneStep, ...]:
        found = []
        for sid in ids:
            if sid in steps:
                found.append(steps[sid])
            else:
                problems.append(f"{owner}: unknown control-plane step {sid!r}")
        return tuple(found)

    causes = {}
    for cid, data in raw["causes"].items():
        controls = {plat: tuple(ids) for plat, ids in data.get("controls", {}).items()}
        for plat, ids in controls.items():
            if plat not in data["platforms"]:
                problems.append(
                    f"cause {cid}: controls for {plat} but platforms {data['platforms']}"
                )
            for control_id in ids:
                if control_id not in registry:
                    problems.append(f"cause {cid}: control {control_id} does not exist")
                elif registry.get(control_id).platform != plat:
                    problems.append(f"cause {cid}: control {control_id} is not a {plat} control")
        causes[cid] = Cause(
            cid,
            data["title"],
            tuple(data["platforms"]),
            controls,
            step_refs(f"cause {cid}", data.get("control_plane", ())),
            tuple(data.get("advice", ())),
        )

    entries: list[Entry] = []
    names: dict[str, str] = {}
    for data in raw["codes"]:
        code = data["code"]
        for name_ in (code, *data.get("aliases", ())):
            key = name_.casefold()
            if key in names:
                problems.append(f"code {code}: {name_!r} is already used by {names[key]}")
            names[key] = code
        entry_causes = _resolve(data["causes"], causes, f"code {code}: unknown cause", problems)
        entry_sources = _resolve(data["sources"], sources, f"code {code}: unknown source", problems)
        entry = Entry(
            code=code,
            kind=data.get("kind", "code"),
            service=data["service"],
            message=data["message"],
            summary=data["summary"],
            platforms=tuple(data["platforms"]),
            scope=data["scope"],
            causes=tuple(entry_causes),
            sources=tuple(entry_sources),
            aliases=tuple(data.get("aliases", ())),
            localized=dict(data.get("localized", {})),
            control_plane=step_refs(f"code {code}", data.get("control_plane", ())),
        )
        for cause in entry.causes:
            if not set(cause.platforms) & set(entry.platforms):
                problems.append(
                    f"code {code}: cause {cause.id} is for {cause.platforms}, the code for {entry.platforms}"
                )
        has_controls = bool(entry.control_ids())
        if (entry.scope == "guest") != has_controls:
            problems.append(
                f"code {code}: scope {entry.scope} but {'some' if has_controls else 'no'} cause has controls"
            )
        entries.append(entry)
    if problems:
        raise CatalogError(f"{name}: " + "; ".join(problems))
    return Catalog(tuple(entries), causes, steps, sources)


def catalog_text() -> str:
    return resources.files("bcdrfix.catalog").joinpath("catalog.yaml").read_text("utf-8")


@functools.lru_cache(maxsize=2)
def load_catalog(registry: ControlRegistry) -> Catalog:
    """The packaged catalog, validated against the control ``registry`` (cached)."""
    return parse_catalog(catalog_text(), registry)


def load_catalog_file(path: str | Path, registry: ControlRegistry) -> Catalog:
    path = Path(path)
    return parse_catalog(path.read_text("utf-8"), registry, path.name)


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
        query = text.strip()
        if not query:
            raise CodeNotFound(text, [])
        entry = self.get(query)
        if entry is not None:
            return Match((entry,), "code", text)
        parts = [p for p in (_token(p) for p in _SPLIT.split(query)) if p]
        found = [self._index[p] for p in parts if p in self._index]
        if len(parts) > 1 and len(found) == len(parts):
            return Match(tuple(_unique(found)), "codes", text)
        by_message = self._by_message(query)
        if by_message:
            return Match(tuple(by_message), "message", text)
        # A pasted line such as "Error code: 151076" or "エラー コード:151076".
        named = _unique(
            self._index[t]
            for t in (_token(w) for w in re.split(r"[^\w-]+", query))
            if t in self._index
        )
        if named:
            return Match(tuple(named), "codes", text)
        raise CodeNotFound(text, self.nearest(query))

    def _by_message(self, query: str) -> list[Entry]:
        wanted = normalise(query)
        if len(wanted) < _MIN_FRAGMENT:
            return []
        hits = []
        for entry in self.entries:
            for message in entry.messages():
                known = normalise(message)
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


# --- plain data for --json and reports ------------------------------------------------------


def step_as_dict(step: ControlPlaneStep, values: Mapping[str, str] | None = None) -> dict:
    return {
        "id": step.id,
        "title": step.title,
        "az": step.commands(values),
        "portal": step.portal,
        "disruptive": step.disruptive,
        "platforms": list(step.platforms),
    }


def entry_as_dict(
    entry: Entry,
    registry: ControlRegistry,
    values: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> dict:
    """Everything ``explain`` shows, as JSON-ready data."""
    platforms = [platform] if platform else list(entry.platforms)

    def control(cid: str) -> dict:
        c = registry.get(cid)
        return {"id": c.id, "title": c.title, "disruptive": c.disruptive, "on_demand": c.on_demand}

    return {
        "code": entry.code,
        "aliases": list(entry.aliases),
        "kind": entry.kind,
        "service": entry.service,
        "message": entry.message,
        "localized": dict(entry.localized),
        "summary": entry.summary,
        "platforms": list(entry.platforms),
        "scope": entry.scope,
        "disruptive": is_disruptive(entry, registry, platform),
        "causes": [
            {
                "id": cause.id,
                "title": cause.title,
                "platforms": list(cause.platforms),
                "controls": {
                    p: [control(cid) for cid in cause.controls.get(p, ())]
                    for p in platforms
                    if cause.controls.get(p)
                },
                "control_plane": [s.id for s in cause.control_plane],
                "advice": list(cause.advice),
            }
            for cause in entry.causes
            if platform is None or platform in cause.platforms
        ],
        "controls": {p: entry.control_ids(p) for p in platforms},
        "control_plane": [step_as_dict(s, values) for s in entry.steps(platform)],
        "sources": [
            {
                "file": s.file,
                "title": s.title,
                "title_en": s.title_en,
                "date": s.date,
                "locale": s.locale,
            }
            for s in entry.sources
        ],
    }


def is_disruptive(entry: Entry, registry: ControlRegistry, platform: str | None = None) -> bool:
    """Whether any fix for this code - a control or a control-plane step - can hurt production."""
    controls = any(registry.get(cid).disruptive for cid in entry.control_ids(platform))
    return controls or any(step.disruptive for step in entry.steps(platform))
