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
    vault = tmp_path / "backups"
    proc = run(replace_file_script(str(path), "new\n", sha256_text("old\n"), backup_dir=str(vault)))
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "new\n"
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == 4
    # Issue 10: never beside the file (folders like interfaces.d load every file in them).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "waagent.conf"]
    backups = list(vault.glob(f"{str(tmp_path).lstrip('/')}/waagent.conf.*"))
    assert len(backups) == 1 and backups[0].read_text() == "old\n"
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o640 and backups[0].stat().st_gid == 4
    assert stat.S_IMODE(vault.stat().st_mode) == 0o700
    assert f"kept as {backups[0]}" in proc.stdout


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


def test_a_symlink_to_another_file_is_refused(tmp_path):
    """Issue 10: a symlinked waagent.conf (to /etc/shadow) became a regular file with its text."""
    secret = tmp_path / "shadow"
    secret.write_text("root:x:1::\n")
    link = tmp_path / "waagent.conf"
    link.symlink_to(secret)
    proc = run(replace_file_script(str(link), "Extensions.Enabled=y\n", None, backup=False))
    assert proc.returncode == 4 and "is a symlink to" in proc.stderr
    assert link.is_symlink() and secret.read_text() == "root:x:1::\n"


def test_a_symlink_to_a_file_of_the_same_name_is_edited_in_place(tmp_path):
    (tmp_path / "azure").mkdir()
    target = tmp_path / "azure" / "waagent.conf"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    link = tmp_path / "waagent.conf"
    link.symlink_to(target)
    vault = tmp_path / "backups"
    proc = run(replace_file_script(str(link), "new\n", sha256_text("old\n"), backup_dir=str(vault)))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
