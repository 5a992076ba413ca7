"""The catalog as plain data (``bcdrfix explain --json``, ``bcdrfix codes --json``, fix reports)."""

from __future__ import annotations

from collections.abc import Mapping

from bcdrfix.catalog.model import ControlPlaneStep, Entry
from bcdrfix.core.model import ControlRegistry

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
        "localized_variants": {lang: list(t) for lang, t in entry.localized_variants.items()},
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
