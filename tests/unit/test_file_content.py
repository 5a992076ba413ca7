"""The file-replacing script bcdrfix sends to hosts, run for real with /bin/sh on temp files."""

from __future__ import annotations

import os
import stat
import subprocess

from bcdrfix.core.operations.files import replace_file_script, sha256_text

HOSTILE = "a'b\"c $(touch /tmp/pwned) `id` ; rm -rf / \n\\ \u00e9\u4e2d #"


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True)


def test_replaces_content_keeps_mode_and_owner_and_leaves_a_backup(tmp_path):
    path = tmp_path / "waagent.conf"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    os.chown(path, 0, 4)  # group adm
    proc = run(replace_file_script(str(path), "new\n", sha256_text("old\n")))
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "new\n"
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == 4
    backups = list(tmp_path.glob("waagent.conf.bcdrfix-*"))
    assert len(backups) == 1 and backups[0].read_text() == "old\n"
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o640
    assert not list(tmp_path.glob("*.bcdrfix.*"))  # no temp file left


def test_refuses_when_the_file_changed_since_it_was_observed(tmp_path):
    path = tmp_path / "waagent.conf"
    path.write_text("changed by someone else\n")
    proc = run(replace_file_script(str(path), "new\n", sha256_text("old\n")))
    assert proc.returncode == 3
    assert "changed since it was observed" in proc.stderr
    assert path.read_text() == "changed by someone else\n"
    assert not list(tmp_path.glob("*.bcdrfix*"))


def test_creates_missing_file_and_directory_with_given_mode(tmp_path):
    path = tmp_path / "unit.service.d" / "zz-bcdrfix-restart.conf"
    proc = run(replace_file_script(str(path), "[Service]\n", None, mode="600"))
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "[Service]\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_hostile_path_and_content_stay_literal(tmp_path):
    directory = tmp_path / "dir $(id) 'q'"
    path = directory / "f;`id`"
    proc = run(replace_file_script(str(path), HOSTILE, None))
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == HOSTILE
    assert not os.path.exists("/tmp/pwned")
