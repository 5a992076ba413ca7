"""pyinfra looks up the module of every frame of the call stack at each operation call: a deploy
file pyinfra executes is found by its path, not by a scan of every loaded module."""

from __future__ import annotations

import inspect
import sys

import pytest

from bcdrfix.core import callsite


def frame_of(path: str):
    """A frame of code compiled from ``path``, as pyinfra executes a deploy file."""
    scope: dict = {}
    exec(compile("import sys\nframe = sys._getframe()\n", path, "exec"), scope)
    return scope["frame"]


def test_a_deploy_files_frame_is_found_without_scanning_the_modules(tmp_path, monkeypatch):
    deploy = tmp_path / "deploy.py"
    deploy.write_text("import sys\nframe = sys._getframe()\n")
    frame = frame_of(str(deploy))
    scans = []
    real = inspect.ismodule
    monkeypatch.setattr(inspect, "ismodule", lambda obj: scans.append(1) or real(obj))
    assert inspect.getmodule(frame, str(deploy)) is None  # no module: every lookup scans
    before = len(scans)
    assert inspect.getmodule(frame, str(deploy)) is None
    assert len(scans) - before > len(sys.modules) // 2

    monkeypatch.setattr(callsite, "_indexed", {})
    callsite.index_deploy_file(str(deploy))
    found = inspect.getmodule(frame, str(deploy))  # indexed by this first lookup
    assert found is not None and found.__file__ == str(deploy)
    before = len(scans)
    for _ in range(10):
        assert inspect.getmodule(frame, str(deploy)) is found
    assert len(scans) - before <= 10  # a dictionary hit each: no scan
    # what pyinfra reads of the frame is the same: the file's lines
    assert inspect.getframeinfo(frame).code_context == ["frame = sys._getframe()\n"]
    callsite.index_deploy_file(str(deploy))  # once per file
    assert [n for n in sys.modules if n.startswith(callsite.PREFIX)].count(
        callsite._indexed[str(deploy)]
    ) == 1
    del sys.modules[callsite._indexed[str(deploy)]]


@pytest.mark.parametrize("name", [None, "", "bcdrfix.deploys.linux_agent", "<string>"])
def test_no_module_is_made_for_what_is_not_a_deploy_file(name, monkeypatch):
    monkeypatch.setattr(callsite, "_indexed", {})
    count = len(sys.modules)
    callsite.index_deploy_file(name)
    assert len(sys.modules) == count
