"""Each Windows deploy, end to end through pyinfra's CLI with its @fake connector.

The fake hosts answer bcdrfix's observation script with the hand-written fixtures (a broken and
a healthy VM) and every other command with success, as pyinfra's fake connector does. What is
checked is what a user sees: which operations changed something, which were no-ops, the
PowerShell each host received, and that a host already in the desired state gets no command
besides the observation (the second run of a deploy changes nothing).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from bcdrfix.windows.facts import MARKER

from .helpers import REPO, observation_response, write_inventory

DEPLOYS = [
    "windows_agent",
    "windows_vss",
    "windows_com",
    "windows_tls",
    "windows_msi",
    "windows_antivirus",
    "windows_machinekeys",
    "windows_network",
]


def run_deploy(tmp_path, deploy: str, responses: dict[str, dict], *data: str):
    inventory = tmp_path / "inventory.py"
    write_inventory(inventory, responses)
    args = [
        sys.executable,
        "-m",
        "pyinfra",
        str(inventory),
        f"deploys/{deploy}.py",
        "-y",
        "-vv",
        "--json",
    ]
    for item in data:
        args += ["--data", item]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    document["stderr"] = result.stderr
    return document, commands_by_host(result.stderr)


def commands_by_host(stderr: str) -> dict[str, list[str]]:
    """The commands pyinfra printed with -vv: ``[host] >>> first line`` then the script's lines."""
    commands: dict[str, list[str]] = {}
    current = None
    for line in stderr.splitlines():
        match = re.match(r"^\[@fake/([^\]]+)\]\s+>>> (.*)$", line)
        if match:
            current = [match.group(2)]
            commands.setdefault(match.group(1), []).append(current)
        elif re.match(r"^(    \[@fake/|--> |\[@fake/)", line):
            current = None
        elif current is not None:
            current.append(line)
    return {host: ["\n".join(c) for c in cmds] for host, cmds in commands.items()}


RESTART_MARK = "$dependents = Get-BcdrfixRunningDependents $service"


def _host_lines(result: dict, host: str) -> list[str]:
    """What bcdrfix said about one host while the deploy was prepared (one line each)."""
    prefix = re.compile(rf"^\s*\[@fake/{re.escape(host)}\]\s+(noop: )?")
    return [prefix.sub("", line) for line in result["stderr"].splitlines() if prefix.match(line)]


def _controls(result: dict, host: str, bucket: str) -> set[str]:
    """Controls whose one operation ended in ``bucket`` (success = changed) on the host."""
    return {
        name.rsplit(" | ", 1)[-1].split(": ", 1)[0]  # "bcdrfix.windows_vss | windows.x: title"
        for op in result["results"]["operations"]
        if f"@fake/{host}" in op[bucket]
        for name in op["names"]
    }


def changed_ops(result: dict, host: str) -> list[str]:
    """``control: step`` of every fix step of the controls that changed the host."""
    changed = _controls(result, host, "success")
    return [
        line.replace(": fix: ", ": ", 1)
        for line in _host_lines(result, host)
        if ": fix: " in line and line.split(": ", 1)[0] in changed
    ]


def no_change_ops(result: dict, host: str) -> list[str]:
    """``control: what was said`` for the controls that changed nothing on the host."""
    quiet = _controls(result, host, "no_change")
    return [
        line
        for line in _host_lines(result, host)
        if line.split(": ", 1)[0] in quiet and ": fix: " not in line
    ]


def said(lines: list[str], start: str) -> bool:
    return any(line.startswith(start) for line in lines)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each deploy once against a broken and a healthy host (pyinfra runs the hosts in parallel)."""
    results = {}
    for deploy in DEPLOYS:
        tmp_path = tmp_path_factory.mktemp(deploy)
        results[deploy] = run_deploy(
            tmp_path,
            deploy,
            {
                "broken": observation_response("broken"),
                "healthy": observation_response("healthy"),
            },
        )
    return results


@pytest.mark.parametrize("deploy", DEPLOYS)
def test_healthy_host_gets_only_the_observation(runs, deploy):
    result, commands = runs[deploy]
    assert changed_ops(result, "healthy") == []
    assert len(commands["healthy"]) == 1 and commands["healthy"][0].startswith(MARKER)
    assert result["results"]["totals"]["error"] == 0


@pytest.mark.parametrize("deploy", DEPLOYS)
def test_one_observation_per_host_per_deploy(runs, deploy):
    _result, commands = runs[deploy]
    assert sum(c.startswith(MARKER) for c in commands["broken"]) == 1


def test_agent_deploy_fixes_services_and_reports(runs):
    result, commands = runs["windows_agent"]
    assert changed_ops(result, "broken") == [
        "windows.agent_services: Start WindowsAzureGuestAgent and set it Automatic",
        "windows.agent_services: Start RdAgent and set it Automatic",
    ]
    scripts = commands["broken"][1:]
    assert "$ServiceName = 'WindowsAzureGuestAgent'" in scripts[0]
    assert scripts[0].endswith("Start-BcdrfixService $service $WaitSeconds")
    assert "$StartupType = 'Automatic'" in scripts[1] and "$ServiceName = 'RdAgent'" in scripts[1]
    assert said(_host_lines(result, "broken"), "windows.agent_version: report only: ")
    assert said(_host_lines(result, "broken"), "windows.dhcp: report only: ")


def test_vss_deploy_needs_approval_for_writer_restarts(runs):
    result, commands = runs["windows_vss"]
    assert said(_host_lines(result, "broken"), "windows.vss_writers: needs approval: ")
    assert not any(RESTART_MARK in c for c in commands["broken"])
    # no error code, no setting: the BcdrAgentPersistentKeys are left alone
    assert said(_host_lines(result, "broken"), "windows.bcdr_snapshot_keys: not-applicable: ")
    assert not any("BcdrAgentPersistentKeys" in c for c in commands["broken"][1:])


def test_vss_deploy_restarts_writers_with_opt_in(tmp_path):
    result, commands = run_deploy(
        tmp_path,
        "windows_vss",
        {"broken": observation_response("broken")},
        "bcdrfix_allow_disruptive=true",
    )
    changed = changed_ops(result, "broken")
    assert "windows.vss_writers: Restart SQLWriter for VSS writer(s) SqlServerWriter" in changed
    assert "windows.vss_writers: Restart CryptSvc for VSS writer(s) System Writer" in changed
    restarts = [c for c in commands["broken"] if RESTART_MARK in c]
    assert [re.search(r"\$ServiceName = '([^']+)'", c).group(1) for c in restarts] == [
        "SQLWriter",
        "CryptSvc",
    ]
    assert said(_host_lines(result, "broken"), "windows.vss_writers: report writer: ")


def test_com_deploy(runs):
    result, commands = runs["windows_com"]
    changed = changed_ops(result, "broken")
    assert changed == [
        "windows.msdtc_account: Run MSDTC as NT AUTHORITY\\NetworkService",
        "windows.comsysapp: Start COM+ System Application",
    ]
    assert said(_host_lines(result, "broken"), "windows.msdtc_account: needs approval: ")
    assert any(
        "StartName = $Account" in c and "$Account = 'NT AUTHORITY\\NetworkService'" in c
        for c in commands["broken"]
    )


def test_msdtc_reinstall_on_request_with_approval(tmp_path):
    result, commands = run_deploy(
        tmp_path,
        "windows_com",
        {"healthy": observation_response("healthy")},
        "bcdrfix_msdtc_reinstall=true",
    )
    assert said(_host_lines(result, "healthy"), "windows.msdtc_reinstall: needs approval: ")
    result, commands = run_deploy(
        tmp_path,
        "windows_com",
        {"healthy": observation_response("healthy")},
        "bcdrfix_msdtc_reinstall=true",
        "bcdrfix_allow_disruptive=true",
    )
    assert changed_ops(result, "healthy") == [
        "windows.msdtc_reinstall: Reinstall MSDTC and start COM+"
    ]
    script = commands["healthy"][1]
    assert (
        script.index("Stop-BcdrfixService $service $WaitSeconds")
        < script.index("@('-uninstall', '-install')")
        < script.index("Start-BcdrfixService $complus $WaitSeconds")
    )


def test_network_deploy_reports_only(runs):
    result, commands = runs["windows_network"]
    assert changed_ops(result, "broken") == []
    assert len(commands["broken"]) == 1  # the observation, with its TCP connects, and nothing else
    assert said(_host_lines(result, "broken"), "windows.connectivity: report only: ")
    assert "Invoke-BcdrfixSection 'connectivity'" in commands["broken"][0]


def test_tls_deploy_sets_each_present_framework(runs):
    result, _ = runs["windows_tls"]
    assert changed_ops(result, "broken") == [
        "windows.tls_strong_crypto: Set SOFTWARE\\Microsoft\\.NETFramework\\v2.0.50727\\SchUseStrongCrypto",
        "windows.tls_strong_crypto: Set SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto",
        "windows.tls_strong_crypto: Set SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319\\SchUseStrongCrypto",
    ]


def test_msi_deploy(runs):
    result, commands = runs["windows_msi"]
    # through the service manager (a registry write would only take effect after a reboot)
    assert changed_ops(result, "broken") == ["windows.msiserver: Set msiserver to start Manual"]
    script = commands["broken"][1]
    assert "$StartupType = 'Manual'" in script and "Set-Service -InputObject $service" in script


def test_antivirus_deploy_adds_only_missing_exclusions(runs):
    result, commands = runs["windows_antivirus"]
    assert changed_ops(result, "broken") == [
        "windows.defender_exclusions: Exclude the backup extension folders from Defender"
    ]
    assert "Add-MpPreference -ExclusionPath $Paths" in commands["broken"][1]


def test_machinekeys_deploy_needs_approval_then_runs(runs, tmp_path):
    result, commands = runs["windows_machinekeys"]
    assert changed_ops(result, "broken") == []
    assert len(commands["broken"]) == 1
    result, commands = run_deploy(
        tmp_path,
        "windows_machinekeys",
        {"broken": observation_response("broken")},
        "bcdrfix_allow_disruptive=true",
    )
    assert changed_ops(result, "broken") == [
        "windows.machinekeys_acl: Reset the MachineKeys ACL to the default",
        "windows.crp_certificates: Delete certificates issued to Windows Azure CRP Certificate Generator",
    ]
    assert "SetAccessRuleProtection($true, $false)" in commands["broken"][1]
    assert sum("Remove-Item -LiteralPath $item.PSPath" in c for c in commands["broken"]) == 2


def test_a_failing_command_fails_the_operation(tmp_path):
    responses = observation_response("broken")
    responses["Add-MpPreference"] = {"success": False, "stderr": "Add-MpPreference: Access denied"}
    inventory = tmp_path / "inventory.py"
    write_inventory(inventory, {"broken": responses})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            str(inventory),
            "deploys/windows_antivirus.py",
            "-y",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Access denied" in result.stderr
