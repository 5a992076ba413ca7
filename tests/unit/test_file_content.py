"""The file-replacing script bcdrfix sends to hosts, run for real with /bin/sh on temp files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from contextlib import contextmanager

import pytest

from bcdrfix.core.operations.files import content_stdin, replace_file_script, sha256_text

HOSTILE = "a'b\"c $(touch /tmp/pwned) `id` ; rm -rf / \n\\ \u00e9\u4e2d #"


def stdin_of(content: str) -> str:
    """What pyinfra sends on stdin for ``content`` (``content_stdin``'s lines)."""
    return "".join(line + "\n" for line in content_stdin(content))


def run(script: str, content: str | None = None, stdin: str | None = None):
    if stdin is None:
        stdin = stdin_of(content or "")
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, input=stdin)


def replace(path, content, old, tmp_path=None, **kwargs):
    expected = sha256_text(old) if old is not None else None
    base = tmp_path or path.parent.parent
    kwargs.setdefault("backup_dir", str(base / "backups"))
    script = replace_file_script(str(path), content, expected, lock_dir=str(base / "l"), **kwargs)
    return run(script, content)


def saved(tmp_path, path) -> list:
    """Backups of ``path`` (under tmp_path/backups with the path mirrored)."""
    return sorted((tmp_path / "backups").glob(f"{str(path).lstrip('/')}.*"))


def debris(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".bcdrfix" in p.name)


def test_replaces_content_keeps_mode_and_owner_and_leaves_a_backup(tmp_path):
    path = tmp_path / "etc" / "waagent.conf"
    path.parent.mkdir()
    path.write_text("old\n")
    os.chmod(path, 0o640)
    os.chown(path, 0, 4)  # group adm
    proc = replace(path, "new\n", "old\n", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "new\n"
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == 4
    assert sorted(p.name for p in path.parent.iterdir()) == ["waagent.conf"]  # nothing beside it
    backups = saved(tmp_path, path)
    assert len(backups) == 1 and backups[0].read_text() == "old\n"
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o640 and backups[0].stat().st_gid == 4
    assert f"previous {path} kept as {backups[0]}" in proc.stdout


def test_refuses_when_the_file_changed_since_it_was_observed(tmp_path):
    path = tmp_path / "waagent.conf"
    path.write_text("changed by someone else\n")
    proc = replace(path, "new\n", "old\n")
    assert proc.returncode == 3
    assert "changed since it was observed" in proc.stderr
    assert path.read_text() == "changed by someone else\n"
    assert debris(tmp_path) == []


def test_refuses_a_file_that_appeared_or_vanished_since_it_was_observed(tmp_path):
    appeared = tmp_path / "appeared.conf"
    appeared.write_text("created by the admin meanwhile\n")
    proc = replace(appeared, "new\n", None)  # observed missing
    assert proc.returncode == 3 and "appeared since it was observed" in proc.stderr
    assert appeared.read_text() == "created by the admin meanwhile\n"
    vanished = tmp_path / "vanished.conf"
    proc = replace(vanished, "new\n", "old\n")  # observed with content "old"
    assert proc.returncode == 3 and "vanished since it was observed" in proc.stderr
    assert not vanished.exists()
    assert debris(tmp_path) == []


def test_a_symlink_to_another_file_is_refused(tmp_path):
    """Issue 10: a symlinked waagent.conf (to /etc/shadow) became a regular file with its text."""
    target = tmp_path / "shadow"
    target.write_text("secret\n")
    link = tmp_path / "waagent.conf"
    link.symlink_to(target)
    proc = replace(link, "new\n", "secret\n")
    assert proc.returncode == 4 and "is a symlink to" in proc.stderr
    assert link.is_symlink() and target.read_text() == "secret\n"
    assert debris(tmp_path) == []


def test_a_symlink_to_a_file_of_the_same_name_is_edited_in_place(tmp_path):
    (tmp_path / "azure").mkdir()
    target = tmp_path / "azure" / "waagent.conf"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    link = tmp_path / "waagent.conf"
    link.symlink_to(target)
    proc = replace(link, "new\n", "old\n", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_creates_missing_file_and_directory_with_given_mode(tmp_path):
    path = tmp_path / "unit.service.d" / "zz-bcdrfix-restart.conf"
    proc = replace(path, "[Service]\n", None, tmp_path=tmp_path, mode="600")
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == "[Service]\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755  # a directory systemd can read


def test_hostile_path_and_content_stay_literal(tmp_path):
    directory = tmp_path / "dir $(id) 'q'"
    path = directory / "f;`id`"
    proc = replace(path, HOSTILE, None, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == HOSTILE
    assert not os.path.exists("/tmp/pwned")


def test_large_content_travels_on_stdin_not_as_an_argument(tmp_path):
    """A 300 kB file: as a command argument it fails with 'Argument list too long'."""
    path = tmp_path / "big.conf"
    path.write_text("old\n")
    content = "".join(f"Key{i}=value {i}\n" for i in range(20000))
    script = replace_file_script(
        str(path),
        content,
        sha256_text("old\n"),
        lock_dir=str(tmp_path / "l"),
        backup_dir=str(tmp_path / "b"),
    )
    assert len(script) < 4096
    proc = run(script, content)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == content


def test_incomplete_content_is_refused_and_leaves_nothing(tmp_path):
    """A connection cut while the content is sent: the file stays as it was, no temp file."""
    path = tmp_path / "waagent.conf"
    path.write_text("old\n")
    content = "new content\n" * 1000
    lines = content_stdin(content)
    script = replace_file_script(
        str(path),
        content,
        sha256_text("old\n"),
        lock_dir=str(tmp_path / "l"),
        backup_dir=str(tmp_path / "b"),
    )
    proc = run(script, stdin="".join(line + "\n" for line in lines[: len(lines) // 2]))
    assert proc.returncode != 0 and "arrived incomplete" in proc.stderr
    assert path.read_text() == "old\n"
    assert debris(tmp_path) == []


def test_two_writes_in_the_same_second_keep_both_backups(tmp_path):
    """Backups named by the second overwrote each other: the original was lost."""
    path = tmp_path / "waagent.conf"
    path.write_text("original\n")
    assert replace(path, "second\n", "original\n", tmp_path=tmp_path).returncode == 0
    assert replace(path, "third\n", "second\n", tmp_path=tmp_path).returncode == 0
    backups = sorted(p.read_text() for p in saved(tmp_path, path))
    assert backups == ["original\n", "second\n"]


@contextmanager
def small_filesystem(directory, size="64k"):
    directory.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root)")


@needs_root
def test_full_filesystem_leaves_the_file_and_no_debris(tmp_path):
    with small_filesystem(tmp_path / "etc") as etc:
        path = etc / "waagent.conf"
        path.write_text("old\n")
        filler = etc / "filler"
        subprocess.run(["sh", "-c", f"cat /dev/zero > '{filler}'"], capture_output=True)
        proc = replace(path, "new\n" * 20000, "old\n", tmp_path=tmp_path)
        assert proc.returncode != 0
        assert path.read_text() == "old\n"
        assert debris(etc) == []


@needs_root
def test_read_only_filesystem_fails_without_debris(tmp_path):
    with small_filesystem(tmp_path / "etc") as etc:
        path = etc / "waagent.conf"
        path.write_text("old\n")
        subprocess.run(["mount", "-o", "remount,ro", str(etc)], check=True)
        proc = replace(path, "new\n", "old\n", tmp_path=tmp_path)
        assert proc.returncode != 0
        assert path.read_text() == "old\n"
        assert debris(etc) == []


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_a_replacement_creates_few_processes(tmp_path):
    """Issue 14: each process costs the host CPU; folder and file names, the checksum's field and
    the folders that exist already cost none. Counted in a PID namespace of its own: the PID of
    a last process is the number created before it."""
    path = tmp_path / "etc" / "waagent.conf"
    path.parent.mkdir()
    path.write_text("a=1\n")
    (tmp_path / "l").mkdir()
    (tmp_path / "backups" / str(path.parent).lstrip("/")).mkdir(parents=True)
    script = replace_file_script(
        str(path),
        "a=2\n",
        sha256_text("a=1\n"),
        lock_dir=str(tmp_path / "l"),
        backup_dir=str(tmp_path / "backups"),
    )
    count = f"( {script} ) && sh -c 'echo processes $(( $$ - 2 ))'"
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", count],
        capture_output=True,
        text=True,
        input=stdin_of("a=2\n"),
        timeout=60,
    )
    if out.returncode and "unshare" in out.stderr:
        pytest.skip(f"no PID namespace here: {out.stderr.strip()}")
    assert path.read_text() == "a=2\n", out.stderr
    assert int(out.stdout.split("processes ")[1]) <= 13, out.stdout  # 24 before


def test_then_runs_after_the_write_with_the_lock_released_and_gives_the_exit_status(tmp_path):
    """A drop-in and its daemon-reload in one command: ``then`` runs once the file is in place,
    the write lock free for another run, files it creates not owner-only; a write refused never
    reaches it."""
    path = tmp_path / "etc" / "unit.d" / "zz.conf"
    lock = tmp_path / "l" / "write.lock"
    then = (
        f"cat {path} > {tmp_path}/seen; flock -n 7 7>>{lock} && echo free > {tmp_path}/lock; "
        f"touch {tmp_path}/made; exit 5"
    )
    proc = replace(path, "Restart=always\n", None, tmp_path=tmp_path, then=then)
    assert proc.returncode == 5 and path.read_text() == "Restart=always\n"
    assert (tmp_path / "seen").read_text() == "Restart=always\n"
    assert (tmp_path / "lock").read_text() == "free\n"
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o644
    (tmp_path / "seen").unlink()
    proc = replace(path, "Restart=no\n", "changed meanwhile\n", tmp_path=tmp_path, then=then)
    assert proc.returncode == 3 and not (tmp_path / "seen").exists()
