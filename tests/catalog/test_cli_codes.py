"""``bcdrfix explain``, ``codes`` and the input checks of ``fix`` (no host needed)."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from bcdrfix.catalog import load_catalog
from bcdrfix.cli.main import main
from bcdrfix.controls import REGISTRY


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def one_line_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# --- explain ----------------------------------------------------------------------------------


def test_explain_shows_meaning_causes_controls_azure_steps_and_the_fix_command(run):
    result = run("explain", "151099")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # prose wraps at the terminal width; commands do not
    for text in (
        "Task execution has timed out while tracking for extension operation to be started.",
        "000_5817d1125d1ca85f.txt",
        "The agent is installed in the VM but is unresponsive (Windows VMs)",
        "The agent installed in the VM is out of date (Linux VMs)",
        "linux.agent_service",
        "windows.agent_services",
        "az vm restart --resource-group <resource-group> --name <vm-name>",
        "[disruptive]",
        "bcdrfix fix INVENTORY --code 151099",
        "pyinfra INVENTORY bcdrfix.deploys.fix_error_code --data error_code=151099",
    ):
        assert text in out, text
    # causes in the article's order
    assert out.index("unresponsive (Windows VMs)") < out.index("out of date (Linux VMs)")


def test_explain_accepts_any_case_pairs_and_unquoted_message_words(run):
    assert (
        "UserErrorGuestAgentStatusUnavailable"
        in run("explain", "usererrorguestagentstatusunavailable").output
    )
    out = run("explain", "320001/ResourceNotFound").output
    assert out.startswith("320001/ResourceNotFound")
    out = run("explain", "Could", "not", "communicate", "with", "the", "VM", "agent").output
    assert "GuestAgentSnapshotTaskStatusError" in out


def test_explain_of_a_shared_message_lists_every_code(run):
    out = run("explain", "task execution has timed out").output
    assert "matches 3 entries: 151076, 151099, 151095" in out


def test_explain_unknown_code_exits_nonzero_with_the_nearest_codes(run):
    result = run("explain", "UserErrorGuestAgentStatusUnavailabe")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "nearest known codes: UserErrorGuestAgentStatusUnavailable" in line


def test_explain_platform_filter_hides_the_other_platform(run):
    out = run("explain", "151099", "--platform", "linux").output
    assert "linux.agent_service" in out and "windows.agent_services" not in out


def test_explain_control_plane_code_says_nothing_runs_on_hosts(run):
    out = run("explain", "UserErrorBackupOperationInProgress").output
    assert (
        "az backup job stop --resource-group <vault-resource-group> --vault-name <vault-name> --name <job-id>"
        in out
    )
    assert "nothing to run on hosts" in out
    assert "bcdrfix fix" not in out


def test_explain_fills_placeholders_shell_quoted(run):
    out = run(
        "explain",
        "UserErrorRpCollectionLimitReached",
        "--set",
        "restore-point-resource-group=AzureBackupRG_japaneast_1",
        "--set",
        "lock-name=keep me",
    ).output
    assert "az lock delete --name 'keep me' --resource-group AzureBackupRG_japaneast_1" in out


def test_explain_refuses_an_unknown_placeholder(run):
    result = run("explain", "151099", "--set", "vmname=x")
    assert result.exit_code == 2
    assert "--set 'vmname=x': expected NAME=VALUE with NAME one of" in one_line_error(result)


def test_explain_json_is_complete(run):
    result = run("explain", "ExtensionFailedVssWriterInBadState", "--json")
    data = json.loads(result.output)
    (entry,) = data["entries"]
    assert entry["code"] == "ExtensionFailedVssWriterInBadState"
    assert entry["controls"]["windows"] == ["windows.vss_writers", "windows.bcdr_snapshot_keys"]
    assert entry["disruptive"] is True
    assert [c["id"] for c in entry["causes"]] == [
        "vss-writers-bad",
        "blob-snapshot-threads",
        "iops-throttled",
    ]
    assert entry["sources"][0]["file"] == "002_cea5ee3a16105707.txt"
    assert any(step["az"] for step in entry["control_plane"])


# --- codes ------------------------------------------------------------------------------------


def test_codes_table_lists_every_entry(run):
    result = run("codes")
    assert result.exit_code == 0
    for entry in load_catalog(REGISTRY).entries:
        assert entry.code in result.output


def test_codes_json_and_platform_filter(run):
    everything = json.loads(run("codes", "--json").output)
    assert len(everything) == len(load_catalog(REGISTRY).entries)
    windows = json.loads(run("codes", "--platform", "windows", "--json").output)
    codes = {e["code"] for e in windows}
    assert "ExtensionFailedVssWriterInBadState" in codes and "UserErrorFsFreezeFailed" not in codes
    assert all(set(e["controls"]) == {"windows"} for e in windows)


# --- fix: everything is checked before any host is contacted ------------------------------------


@pytest.fixture
def dead_inventory(tmp_path):
    """Hosts that refuse connections: a run that contacted them would report them unreachable."""
    path = tmp_path / "dead.py"
    path.write_text(
        "_ssh = {'ssh_hostname': '127.0.0.1', 'ssh_port': 1, 'ssh_connect_retries': 0}\n"
        "linux = [('vm-a', _ssh), ('vm-b', dict(_ssh, bcdrfix_agent_restart_sec='soon'))]\n"
    )
    return str(path)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--code", "NoSuchCode"], "unknown error code or message 'NoSuchCode'"),
        (
            ["--code", "task execution has timed out"],
            "is the message of 3 codes (151076, 151099, 151095)",
        ),
        (
            ["--code", "151099"],
            "host vm-b: bcdrfix_agent_restart_sec='soon': expected seconds between 0 and 3600",
        ),
        (
            ["--code", "151099", "--limit", "vm-c"],
            "--limit vm-c: matches no host or group of the inventory",
        ),
        (["--code", "151099", "--data", "novalue"], "--data 'novalue': expected KEY=VALUE"),
        (
            ["--code", "151099", "--limit", "vm-a", "--data", "bcdrfix_allow_disruptiv=true"],
            "host vm-a: unknown setting bcdrfix_allow_disruptiv",
        ),
    ],
)
def test_fix_refuses_bad_input_with_one_line_before_contacting_hosts(
    run, dead_inventory, args, message
):
    result = run("fix", dead_inventory, *args)
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result)


def test_fix_refuses_a_missing_inventory_file(run):
    result = run("fix", "inventories/no-such-lab.py", "--code", "151099")
    assert result.exit_code == 2
    assert one_line_error(result) == "Error: inventory inventories/no-such-lab.py: no such file"


def test_fix_of_a_control_plane_code_contacts_no_host(run, dead_inventory):
    started = time.monotonic()
    result = run(
        "fix",
        dead_inventory,
        "--code",
        "UserErrorBackupOperationInProgress",
        "--limit",
        "vm-a",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["hosts"] and all(
        h["reachable"] and h["outcomes"][0]["outcome"] == "not-applicable" for h in report["hosts"]
    )
    assert [s["id"] for s in report["control_plane"]] == ["list-running-jobs", "stop-backup-job"]
    assert time.monotonic() - started < 5


def test_fix_reports_unreachable_hosts_and_exits_2_like_the_audit(run, dead_inventory):
    result = run("fix", dead_inventory, "--code", "151095", "--limit", "vm-a", "--json")
    assert result.exit_code == 2, result.output
    (host,) = json.loads(result.stdout)["hosts"]
    assert host["name"] == "vm-a" and host["reachable"] is False
    assert "Could not connect" in host["error"]
