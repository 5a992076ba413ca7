"""core/entry_points.py: one read of the installed entry points for a stretch of lookups."""

from __future__ import annotations

from importlib import metadata

from pyinfra.api import connectors

from bcdrfix.core.entry_points import entry_points_read_once


def names(found) -> list[str]:
    return sorted(entry.name for entry in found)


def test_the_lookups_answer_as_before_and_the_function_is_put_back():
    before = names(connectors.entry_points(group="pyinfra.connectors"))
    lookup = connectors.entry_points
    with entry_points_read_once(connectors, metadata):
        assert names(connectors.entry_points(group="pyinfra.connectors")) == before
        assert names(metadata.entry_points(group="pyinfra.connectors")) == before
        assert "winrm" in before  # bcdrfix's own connector, from its installed metadata
    assert connectors.entry_points is lookup


def test_the_function_is_put_back_after_an_error():
    lookup = metadata.entry_points
    try:
        with entry_points_read_once(metadata):
            raise KeyError("boom")
    except KeyError:
        pass
    assert metadata.entry_points is lookup
