"""The ``bcdrfix`` console script: gevent is patched in first, then paramiko is imported without
what pyinfra's connections never use, then the commands, with the garbage collector off.

gevent patches the standard library before anything else is imported, as pyinfra's own CLI
does (``pyinfra_cli`` patches on import). Its ``patch_all`` looks up its plugins' entry points
at each of its 25 events, and each lookup reads the metadata of every installed distribution:
about 35 ms on the lab's controller before the first host was contacted. The installed
distributions do not change while it patches, so their entry points are read once for it.

Importing the commands (pyinfra, paramiko, rich: several hundred thousand objects, all kept for
the process's life) set off over 130 collections that found no garbage: about 30 ms. The
collector is off while they are imported; what was imported is then frozen (``gc.freeze``:
later collections skip it) and the collector runs again for the command itself.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from bcdrfix.core.entry_points import entry_points_read_once
from bcdrfix.core.exit import leave


def patch_gevent() -> None:
    """``gevent.monkey.patch_all()``, with the installed entry points read once, not per event."""
    from gevent import monkey

    with entry_points_read_once(metadata):
        monkey.patch_all()


class ImportedOnUse:
    """Stands for a module that is imported at the first use of one of its attributes."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


@contextlib.contextmanager
def _standing_in(modules: dict[str, Any]) -> Iterator[list[str]]:
    """Within: each module of ``modules`` not imported yet is what ``import`` gives for its
    name (``None``: ``import name`` raises ImportError); yields the names stood in for."""
    replaced = [name for name in modules if name not in sys.modules]
    for name in replaced:
        sys.modules[name] = modules[name]
    try:
        yield replaced
    finally:
        for name in replaced:
            del sys.modules[name]


def import_paramiko() -> None:
    """paramiko, without the imports it makes for what pyinfra's SSH connector never asks for.

    ``paramiko.config`` imports invoke (with its vendored YAML, asyncio and unittest.mock) only
    to run the commands of ``Match exec`` lines in an ssh_config: invoke is imported when such
    a line is evaluated. ``paramiko.ssh_gss`` imports gssapi for GSS-API (Kerberos) user
    authentication, which pyinfra's connector never requests (its connect passes no ``gss_*``
    argument): paramiko reports GSS-API as unavailable, and gssapi stays importable for the
    WinRM connector's Kerberos. Together about 15 ms before an audit contacts its first host.
    """
    if "paramiko" in sys.modules:
        return
    with _standing_in({"invoke": None, "gssapi": None}) as hidden:
        import paramiko.config
    config: Any = paramiko.config
    if "invoke" in hidden and importlib.util.find_spec("invoke") is not None:
        config.invoke = ImportedOnUse("invoke")


class _MockClass(type):
    """A class whose instances and subclasses are those of ``unittest.mock.Mock``."""

    def __instancecheck__(cls, instance: object) -> bool:
        mock = sys.modules.get("unittest.mock")
        return isinstance(mock, types.ModuleType) and isinstance(instance, mock.Mock)

    def __subclasscheck__(cls, subclass: type) -> bool:
        mock = sys.modules.get("unittest.mock")
        return isinstance(mock, types.ModuleType) and issubclass(subclass, mock.Mock)


class _Mock(metaclass=_MockClass):
    """Stands for ``unittest.mock.Mock`` in ``isinstance`` without importing unittest.mock."""


def _patch(*args: Any, **kwargs: Any) -> Any:
    return importlib.import_module("unittest.mock").patch(*args, **kwargs)


def import_typeguard() -> None:
    """typeguard (pyinfra checks operation arguments with it) without unittest.mock.

    typeguard imports ``unittest.mock`` (and with it asyncio and unittest: about 10 ms before an
    audit contacts its first host) for two names: ``Mock``, to pass mock objects unchecked, and
    ``patch``, for its import hook, which pyinfra never installs. While typeguard is imported,
    ``unittest.mock`` is a stand-in whose ``Mock`` answers ``isinstance`` as the real class does
    (an object can be a mock only once unittest.mock has been imported) and whose ``patch``
    imports the real one. The stand-in is gone afterwards: ``import unittest.mock`` imports the
    real module. A typeguard that asks unittest.mock for any other name is imported as it is.
    """
    if "typeguard" in sys.modules or "unittest.mock" in sys.modules:
        return
    stand_in = types.ModuleType("unittest.mock")
    stand_in.Mock = _Mock  # type: ignore[attr-defined]
    stand_in.patch = _patch  # type: ignore[attr-defined]
    with _standing_in({"unittest.mock": stand_in}):
        try:
            import typeguard  # noqa: F401
        except ImportError:  # it asks unittest.mock for another name: imported as it is, below
            pass
    import typeguard  # noqa: F401  # nothing to do when the first import succeeded


def run() -> None:
    gc.disable()
    try:
        patch_gevent()
        import_paramiko()
        import_typeguard()
        from bcdrfix.cli.main import run as run_command
    finally:
        gc.freeze()
        gc.enable()
    try:
        run_command()  # click's standalone mode ends with SystemExit
    except SystemExit as done:
        leave(done.code)
