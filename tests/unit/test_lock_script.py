"""The per-host run lock's script, run for real under sh in a folder of its own (the lab tests
prove it over SSH, where it also follows the sshd serving the connection)."""

from __future__ import annotations

import os
import re
import subprocess
import time

from bcdrfix.core.operations.files import REFUSED
from bcdrfix.core.operations.lock import lock_script


def take(folder, run: str, wait: int = 0, ttl: int = 60) -> subprocess.CompletedProcess:
    script = lock_script("web-01", run, wait, ttl, lock_dir=str(folder))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


def holder(folder) -> list[str]:
    try:
        return (folder / "run.holder").read_text().split()
    except FileNotFoundError:
        return []


def test_held_by_a_live_holder_refused_to_others_reentrant_for_its_run(tmp_path):
    assert take(tmp_path, "run-a").returncode == 0
    run, since, pid = holder(tmp_path)
    assert run == "run-a" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", since)
    os.kill(int(pid), 0)  # the holder process is alive
    other = take(tmp_path, "run-b")
    assert other.returncode == REFUSED
    assert f"holds host web-01 since {since} (run run-a)" in other.stderr
    assert take(tmp_path, "run-a").returncode == 0  # the same run: its own lock
    os.kill(int(pid), 15)


def test_released_after_its_ttl(tmp_path):
    assert take(tmp_path, "run-a", ttl=2).returncode == 0
    deadline = time.monotonic() + 15
    while holder(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert holder(tmp_path) == []
    assert take(tmp_path, "run-b").returncode == 0
    os.kill(int(holder(tmp_path)[2]), 15)
