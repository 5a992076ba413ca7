"""The per-host run lock's script, run for real under sh in a folder of its own (the lab tests
prove it over SSH, where it also follows the sshd serving the connection)."""

from __future__ import annotations

import os
import re
import subprocess
import time

from bcdrfix.core.operations.files import (
    REFUSED,
    content_stdin,
    replace_file_script,
    sha256_text,
)
from bcdrfix.core.operations.lock import lock_script, locked


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


def test_a_silent_connection_releases_the_lock_but_ss_runs_only_once_it_can_be_stale(tmp_path):
    """The holder asks `ss` how long its sshd's connection has been silent, every 3 s, but only
    once the run is older than `stale` (a younger connection cannot be that silent): a short
    run's holder starts no `ss` at all. Here a fake sshd serves the run and a fake `ss` says
    the connection has been silent for an hour."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "ss-calls"
    (bin_dir / "ss").write_text(
        f"#!/bin/sh\necho x >> {calls}\nsid=$(cat {tmp_path}/sshd.pid)\n"
        'printf \'ESTAB 0 0 1.2.3.4:22 5.6.7.8:9 users:(("sshd",pid=%s,fd=4))\\n\' "$sid"\n'
        "echo ' cubic lastrcv:3600000'\n"
    )
    (bin_dir / "ss").chmod(0o755)
    sshd = bin_dir / "sshd"
    sshd.symlink_to(os.path.realpath("/bin/sh"))  # its command name (comm) is "sshd"
    lock = tmp_path / "lock"
    script = lock_script("web-01", "run-a", 0, 60, stale=5, lock_dir=str(lock))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    fake = subprocess.Popen(
        [str(sshd), "-c", f'echo $$ > {tmp_path}/sshd.pid; sh -c "$1"; sleep 30', "sshd", script],
        env=env,
    )
    try:
        deadline = time.monotonic() + 5
        while not holder(lock) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder(lock)[0] == "run-a"
        time.sleep(4)  # younger than stale (5 s): held, and no ss yet
        assert holder(lock) and not calls.exists()
        deadline = time.monotonic() + 10
        while holder(lock) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder(lock) == [] and calls.read_text() == "x\n"  # released at the first ss
    finally:
        fake.kill()
        fake.wait()


def test_the_first_change_carries_the_lock_in_one_command(tmp_path):
    """A run's first change on a host takes the lock in the same command: the file's content
    still arrives on stdin, and a host another run holds is refused before anything changes."""
    path = tmp_path / "etc" / "waagent.conf"
    path.parent.mkdir()
    path.write_text("old\n")
    write = replace_file_script(
        str(path),
        "new\n",
        sha256_text("old\n"),
        lock_dir=str(tmp_path / "w"),
        backup_dir=str(tmp_path / "b"),
    )

    def run(run_id: str) -> subprocess.CompletedProcess:
        lock = lock_script("web-01", run_id, 0, 60, lock_dir=str(tmp_path / "lock"))
        command = locked(write, lock).get_raw_value()
        stdin = "".join(line + "\n" for line in content_stdin("new\n"))
        return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, text=True)

    assert take(tmp_path / "lock", "run-a").returncode == 0  # another run holds the host
    refused = run("run-b")
    assert refused.returncode == REFUSED and "holds host web-01" in refused.stderr
    assert path.read_text() == "old\n"
    os.kill(int(holder(tmp_path / "lock")[2]), 15)  # its sleep lets go of flock within 1 s
    deadline = time.monotonic() + 10
    while (done := run("run-b")).returncode == REFUSED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == "new\n" and holder(tmp_path / "lock")[0] == "run-b"
    os.kill(int(holder(tmp_path / "lock")[2]), 15)
