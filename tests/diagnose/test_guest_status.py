"""The backup extension's last result read from the guest: status files, the probe, the mapping.

Fixtures are in the extension's real format (see fixtures/README.md); hostile ones never break
parsing: the host then reports an unreadable status.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from bcdrfix.audit.diagnose import NO_EXTENSION, UNREADABLE, internal_code, judge, map_internal
from bcdrfix.core.handler_status import MAX_STATUS_BYTES, parse_status_document
from bcdrfix.core.observe import build_script, parse_output
from bcdrfix.lab.faults import VMSNAPSHOT, apply_guest_status_faults
from bcdrfix.linux import guest_status  # noqa: F401  (registers the probe)

FIXTURES = Path(__file__).parent / "fixtures"


def status(name: str) -> dict:
    return parse_status_document((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(
    ("fixture", "result", "code", "name"),
    [
        ("backup-no-network-4.status", "failed", 76, "FailedRetryableSnapshotFailedNoNetwork"),
        ("backup-freeze-failed-7.status", "failed", 121, "FailedRetryableFsFreezeFailed"),
        ("backup-freeze-timeout-2.status", "failed", 122, "FailedRetryableFsFreezeTimeout"),
        ("backup-snapshot-limit-9.status", "failed", 85, "FailedSnapshotLimitReached"),
        ("backup-success-12.status", "success", 1, "success"),
    ],
)
def test_real_format_status_files(fixture, result, code, name):
    parsed = status(fixture)
    assert parsed["state"] == "reported"
    assert (parsed["result"], parsed["code"], parsed["code_name"]) == (result, code, name)
    assert parsed["operation"] == "Enable"
    assert parsed["timestamp"].endswith("Z")
    assert "messageStr" not in parsed["message"]  # the extension's inner JSON is unwrapped


def test_terminal_failure_written_as_success_is_a_failure():
    parsed = status("terminal-failure-as-success.status")
    assert parsed["status"] == "success"  # what the top level says
    assert parsed["result"] == "failed"  # what the inner report says
    assert parsed["code_name"] == "FailedRetryableFsFreezeFailed"


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [
        ("hostile-broken-json.status", "not valid JSON"),
        ("hostile-not-utf8.status", "not UTF-8"),
        ("hostile-nested.status", "not valid JSON"),
        ("hostile-wrong-shape.status", "no status object"),
    ],
)
def test_hostile_status_files_are_unreadable(fixture, problem):
    parsed = status(fixture)
    assert parsed["state"] == "unreadable"
    assert problem in parsed["problem"]


def test_huge_status_file_is_unreadable_without_reading_it_all():
    parsed = parse_status_document(b"[" * (MAX_STATUS_BYTES + 1), size=50_000_000)
    assert parsed["state"] == "unreadable" and "50000000 bytes" in parsed["problem"]


def test_html_in_messages_stays_text():
    parsed = status("hostile-html-message.status")
    assert parsed["result"] == "failed"
    assert "<script>alert(1)</script>" in parsed["message"]  # text; reports escape it


# --- the probe, run by a real POSIX shell over a folder laid out like a guest ------------------


def run_probe(root: Path) -> dict:
    script = build_script(["guest_status"])
    proc = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "BCDR_GS_ROOT": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    return parse_output(proc.stdout.splitlines())["guest_status"]


def test_probe_without_extension_reports_nothing(tmp_path):
    assert run_probe(tmp_path) == {}


def test_probe_newest_status_wins(tmp_path):
    apply_guest_status_faults(tmp_path, ["backup-stale-failure"], time.time())
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert found["result"] == "success" and found["file"] == "6.status"
    assert found["version"] == "1.0.9190.0"
    assert found["agent"]["handler_state"] == "Enabled"
    assert found["agent"]["handler_status"] == "Ready"
    # the log tail still names the old failure: evidence, not the result
    assert any("FailedRetryableSnapshotFailedNoNetwork" in line for line in found["log"])


def test_probe_picks_the_newest_file_across_versions_and_skips_temp_files(tmp_path):
    apply_guest_status_faults(tmp_path, ["backup-freeze-failed"], time.time())
    base = tmp_path / f"var/lib/waagent/{VMSNAPSHOT}-1.0.9190.0/status"
    (base / "tempStatusFile.status").write_text("garbage")  # the extension's temp file
    old = tmp_path / f"var/lib/waagent/{VMSNAPSHOT}-1.0.9100.0/status"
    old.mkdir(parents=True)
    (old / "99.status").write_text((FIXTURES / "backup-success-12.status").read_text())
    os.utime(old / "99.status", (time.time() - 86400 * 30,) * 2)
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert (found["code_name"], found["file"], found["folders"]) == (
        "FailedRetryableFsFreezeFailed",
        "7.status",
        2,
    )


def test_probe_bounds_huge_and_binary_status_files(tmp_path):
    base = tmp_path / f"var/lib/waagent/{VMSNAPSHOT}-1.0.9190.0/status"
    base.mkdir(parents=True)
    with open(base / "3.status", "wb") as handle:
        handle.write(b"\xff\x00<html>" * 2_000_000)  # 16 MB of binary
    proc_out = build_script(["guest_status"])
    proc = subprocess.run(
        ["sh", "-c", proc_out],
        capture_output=True,
        timeout=30,
        env={**os.environ, "BCDR_GS_ROOT": str(tmp_path)},
    )
    assert len(proc.stdout) < 200_000  # bounded read: 128 KiB + 1, base64-encoded
    found = parse_output(proc.stdout.decode().splitlines())["guest_status"][VMSNAPSHOT]
    assert found["state"] == "unreadable" and "16000000 bytes" in found["problem"]


def test_probe_section_garbage_is_unreadable_not_a_crash():
    parsed = parse_output(
        [
            "@@bcdrfix-probe preamble",
            "@@bcdrfix-probe guest_status",
            f"@@ ext {VMSNAPSHOT}",
            "dirs=1",
            "dir=%%%notbase64",
            "status=@@@",
            "@@bcdrfix-probe-end guest_status",
        ]
    )
    assert parsed["guest_status"][VMSNAPSHOT]["state"] == "unreadable"


# --- mapping ---------------------------------------------------------------------------------


def test_mapped_codes_come_from_the_catalog_aliases():
    assert map_internal("FailedRetryableSnapshotFailedNoNetwork").entry.code == (
        "ExtensionSnapshotFailedNoNetwork"
    )
    assert map_internal("FailedRetryableFsFreezeTimeout").entry.code == "UserErrorFsFreezeFailed"
    limit = map_internal("FailedSnapshotLimitReached")
    assert limit.confidence == "mapped" and limit.entry.scope == "control-plane"


def test_uncertain_and_unmapped_codes_say_so():
    restricted = map_internal("FailedRetryableSnapshotFailedRestrictedNetwork")
    assert restricted.confidence == "uncertain"
    assert restricted.entry.code == "ExtensionSnapshotFailedNoNetwork"
    prepost = map_internal("FailedPrepostPreScriptFailed")
    assert prepost.confidence == "none" and prepost.entry is None
    assert "pre/post" in prepost.note


def test_internal_code_from_number_or_name():
    assert internal_code(121, None) == (121, "FailedRetryableFsFreezeFailed")
    assert internal_code(None, "failedsnapshotlimitreached") == (85, "FailedSnapshotLimitReached")
    assert internal_code(9999, None) == (9999, None)


def _judge(guest):
    from bcdrfix.controls import load_settings

    return judge("linux", guest, {}, [], load_settings({}, "h"), "inv.py", "h")


def test_judge_without_extension_unreadable_and_success():
    assert _judge({})["guest"] == NO_EXTENSION
    assert _judge({VMSNAPSHOT: {"state": "unreadable", "problem": "x"}})["guest"] == UNREADABLE
    success = _judge({VMSNAPSHOT: status("backup-success-12.status")})
    assert success["result"] == "success" and success["mapping"] is None
    limit = _judge({VMSNAPSHOT: status("backup-snapshot-limit-9.status")})
    assert limit["mapping"]["catalog_code"] == "ExtensionFailedSnapshotLimitReachedError"
    assert limit["fix_command"] is None and "only Azure" in limit["advice"]


def test_probe_same_mtime_higher_sequence_wins_and_fifos_do_not_block(tmp_path):
    apply_guest_status_faults(tmp_path, ["backup-freeze-failed"], time.time())
    base = tmp_path / f"var/lib/waagent/{VMSNAPSHOT}-1.0.9190.0"
    newer = base / "status/10.status"
    newer.write_text((FIXTURES / "backup-success-12.status").read_text())
    stamp = (base / "status/7.status").stat().st_mtime
    os.utime(newer, (stamp, stamp))
    (base / "config/HandlerStatus").unlink()
    os.mkfifo(base / "config/HandlerStatus")
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert (found["file"], found["result"]) == ("10.status", "success")
    assert found["agent"]["handler_state"] == "Enabled"


GOAL_STATE = (
    '<Extensions><Plugins><Plugin name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux" '
    'version="1.0.9190.0" location="http://x" state="enabled" autoUpgrade="false" '
    'encodedSignature="' + "A" * 20000 + '" /></Plugins></Extensions>'
)


def test_probe_reads_the_goal_state_assigned_but_never_installed(tmp_path):
    history = tmp_path / "var/lib/waagent/history/2026-11-30T20-00-00__3"
    history.mkdir(parents=True)
    (history / "ExtensionsConfig.xml").write_text(GOAL_STATE)
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert found["state"] == "not-installed"
    assert found["agent"]["goal_state"] == {
        "listed": True,
        "version": "1.0.9190.0",
        "state": "enabled",
    }
    backup = _judge({VMSNAPSHOT: found})
    assert backup["guest"] == "not-installed" and "never installed" in backup["advice"]
    # installed and listed: the goal state is evidence next to the status
    apply_guest_status_faults(tmp_path, ["backup-success"], time.time())
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert found["result"] == "success" and found["agent"]["goal_state"]["listed"] is True


def test_probe_extension_folder_without_goal_state_listing(tmp_path):
    apply_guest_status_faults(tmp_path, ["backup-success"], time.time())
    old = tmp_path / "var/lib/waagent/ExtensionsConfig.2.xml"
    old.write_text("<Extensions><Plugins /></Extensions>")
    found = run_probe(tmp_path)[VMSNAPSHOT]
    assert found["agent"]["goal_state"] == {"listed": False}


def test_probe_finds_site_recovery_extensions_of_any_type(tmp_path):
    name = "Microsoft.Azure.RecoveryServices.SiteRecovery.LinuxRHEL8"
    status = tmp_path / f"var/lib/waagent/{name}-1.0.0.9/status"
    status.mkdir(parents=True)
    (status / "0.status").write_text(
        '[{"version": "1.0", "timestampUTC": "2026-11-30T10:00:00Z", "status": {"name": "x", '
        '"operation": "Enable", "status": "error", "code": 151, '
        '"formattedMessage": {"lang": "en-US", "message": "mobility service install failed"}}}]'
    )
    (tmp_path / "var/lib/waagent/Microsoft.Azure.RecoveryServices.SiteRecovery.x y-1").mkdir()
    found = run_probe(tmp_path)
    assert set(found) == {name}  # the odd folder name is skipped
    assert found[name]["result"] == "failed" and found[name]["code"] == 151
    backup = _judge(found)
    assert backup["guest"] == NO_EXTENSION  # no backup extension; Site Recovery shown beside it
    assert backup["other_extensions"][name]["message"] == "mobility service install failed"
