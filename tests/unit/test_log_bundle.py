"""The support log bundle: nothing secret left readable, nothing outside collected-logs/."""

from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from bcdrfix.linux.logs import (
    LogBundleError,
    local_folder,
    pack_command,
    remove_command,
    unpack,
)


@pytest.mark.parametrize(
    "name", ["../../../tmp/x", "..", ".", "/etc/passwd", "a/../../b", ".hidden", "x\x1b]0;t\x07"]
)
def test_host_names_never_lead_outside_the_logs_folder(tmp_path, name):
    folder = local_folder(str(tmp_path / "collected-logs"), name)
    assert folder.parent == (tmp_path / "collected-logs").resolve()
    assert "\x1b" not in folder.name


def test_pack_command_uses_a_private_temporary_folder():
    command = pack_command()
    assert "/tmp/" not in command and "umask 077" in command and "mktemp -d" in command
    assert remove_command("/tmp/tmp.AbC/agent-logs.tar.gz") == "rm -rf -- /tmp/tmp.AbC"


def test_pack_command_runs_and_leaves_nothing_world_readable(tmp_path):
    proc = subprocess.run(
        ["sh", "-c", pack_command()], capture_output=True, text=True, env={"TMPDIR": str(tmp_path)}
    )
    archive = proc.stdout.strip()
    assert proc.returncode == 0 and archive.startswith(str(tmp_path)), proc.stderr
    folder = tmp_path / archive.rsplit("/", 2)[1]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert (folder / "agent-logs.tar.gz").stat().st_mode & 0o077 == 0
    subprocess.run(["sh", "-c", remove_command(archive)], check=True)
    assert not folder.exists()


def make_archive(path, files: dict[str, bytes], mode: int = 0o644):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))


def test_unpacked_logs_are_owner_only(tmp_path):
    archive = tmp_path / "a.tar.gz"
    make_archive(archive, {"var/lib/waagent/ovf-env.xml": b"<CustomData>secret</CustomData>"})
    out = tmp_path / "out"
    unpack(archive, out, 2**20)
    secret = out / "var/lib/waagent/ovf-env.xml"
    assert secret.read_bytes().startswith(b"<CustomData>")
    for path in [secret, *secret.parents]:
        if path == out:
            break
        assert path.stat().st_mode & 0o077 == 0, path


def test_an_archive_bomb_is_not_unpacked(tmp_path):
    """Issue 10: a 4.7 MB archive unpacked to 1 GB on the controller."""
    archive = tmp_path / "bomb.tar.gz"
    make_archive(archive, {"var/log/waagent.log": b"\0" * (3 * 2**20)})
    with pytest.raises(LogBundleError, match="more than 2 MB"):
        unpack(archive, tmp_path / "out", 2 * 2**20)
    assert not (tmp_path / "out" / "var/log/waagent.log").exists()
