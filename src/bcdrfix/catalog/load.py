"""Loading the error-code catalog (``catalog.yaml``, package data) and validating all of it.

The catalog maps each error code of the source articles to its causes, in the order the articles
give them. A cause names the bcdrfix controls that fix it inside the VM, per platform, and the
Azure control-plane steps (``az`` commands, portal paths) that only Azure can do. Loading
validates everything before anything uses it:

* the shape, against ``catalog.schema.json`` (JSON Schema);
* every reference: sources, causes, control-plane steps, and every control id against the control
  registry it is given (with the right platform), every ``<placeholder>`` in an ``az`` command;
* codes and aliases unique, case-insensitively; no duplicate keys in the YAML.

    catalog = load_catalog(REGISTRY)                  # bcdrfix.controls.REGISTRY
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bcdrfix.catalog.model import (
    _PLACEHOLDER,
    PLACEHOLDERS,
    PLATFORMS,
    Catalog,
    CatalogError,
    Cause,
    ControlPlaneStep,
    Entry,
    Source,
)
from bcdrfix.core.model import ControlRegistry

if TYPE_CHECKING:
    import yaml

# --- loading ----------------------------------------------------------------------------------


@functools.cache
def _unique_key_loader() -> type[yaml.SafeLoader]:
    """A safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently).

    libyaml's parser when PyYAML was built with it (several times faster: the catalog is read by
    every audit), else the pure-Python one. yaml is imported here, at the first catalog read:
    an audit reads it after its first host answered, not before contacting one (about 7 ms).
    """
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeyLoader(base):  # type: ignore[valid-type,misc]
        pass

    def construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise CatalogError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    UniqueKeyLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    return UniqueKeyLoader


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


def parse_catalog(
    text: str, registry: ControlRegistry, name: str = "catalog.yaml", schema: bool = True
) -> Catalog:
    """Validate catalog text against the control ``registry`` and build the model.

    ``schema``: also check it against ``catalog.schema.json`` (jsonschema: about 80 ms; the
    packaged catalog is checked by the tests instead of by every audit).
    """
    import yaml

    try:
        raw = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
    except CatalogError as exc:
        raise CatalogError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from None
    if schema:
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
            localized={
                lang: text if isinstance(text, str) else text[0]
                for lang, text in data.get("localized", {}).items()
            },
            localized_variants={
                lang: tuple(text[1:])
                for lang, text in data.get("localized", {}).items()
                if not isinstance(text, str) and len(text) > 1
            },
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
    """The packaged catalog, validated against the control ``registry`` (cached); its schema is
    checked by the tests (``tests/catalog``), not at every start."""
    return parse_catalog(catalog_text(), registry, schema=False)


def load_catalog_file(path: str | Path, registry: ControlRegistry) -> Catalog:
    path = Path(path)
    return parse_catalog(path.read_text("utf-8"), registry, path.name)
