"""Windows controls: given an observation and settings, the finding and the planned steps."""

import pytest

from bcdrfix.controls import REGISTRY, Status, load_settings
from bcdrfix.core.apply import evaluate, plan_steps
from bcdrfix.core.settings import SettingsError

from .helpers import run_operation

CONTRACT = {
    "windows.agent_services": (False, False),
    "windows.agent_restart": (False, True),
    "windows.agent_version": (False, False),
    "windows.dotnet_version": (False, False),
    "windows.iaasvmprovider": (False, False),
    "windows.comsysapp": (False, False),
    "windows.msdtc_account": (False, False),
    "windows.msdtc_reinstall": (True, True),
    "windows.vss_writers": (True, False),
    "windows.vss_service": (False, False),
    "windows.vss_service_restart": (True, True),
    "windows.bcdr_snapshot_keys": (False, False),
    "windows.sql_vss_copy_backup": (False, False),
    "windows.connectivity": (False, False),
    "windows.tls_strong_crypto": (False, False),
    "windows.msiserver": (False, False),
    "windows.msi_reregister": (True, True),
    "windows.machinekeys_acl": (True, False),
    "windows.crp_certificates": (True, False),
    "windows.defender_exclusions": (False, False),
    "windows.bitlocker": (False, False),
    "windows.dhcp": (False, False),
}
REPORT_ONLY = {
    "windows.agent_version",
    "windows.dotnet_version",
    "windows.bitlocker",
    "windows.dhcp",
    "windows.vss_service",
    "windows.connectivity",
}


def findings(observation, **data):
    settings = load_settings(data)
    return settings, {c.id: f for c, f in evaluate(REGISTRY.all("windows"), observation, settings)}


def steps_of(control_id, observation, settings, finding):
    return plan_steps(REGISTRY.get(control_id), finding, observation, settings)


def commands_of(steps):
    """Run each step's operation generator; return (op name, commands, noops) per step."""
    result = []
    for step in steps:
        commands, noops = run_operation(
            step.op, **{k: v for k, v in step.kwargs.items() if k != "name"}
        )
        result.append((step.op.__name__, commands, noops))
    return result


def test_the_contract_ids_and_flags():
    controls = {c.id: c for c in REGISTRY.all("windows")}
    assert set(controls) == set(CONTRACT)
    for control_id, (disruptive, on_demand) in CONTRACT.items():
        assert (controls[control_id].disruptive, controls[control_id].on_demand) == (
            disruptive,
            on_demand,
        )
        assert controls[control_id].platform == "windows"


def test_healthy_host_passes_everything(healthy_observation):
    _, result = findings(healthy_observation)
    assert {cid: f.status for cid, f in result.items() if not f.ok} == {}


def test_healthy_host_plans_no_change(healthy_observation):
    settings, result = findings(healthy_observation)
    for control_id, finding in result.items():
        for _op, commands, _noops in commands_of(
            steps_of(control_id, healthy_observation, settings, finding)
        ):
            assert commands == []


def test_broken_host_findings(broken_observation):
    _, result = findings(broken_observation)
    status = {cid: f.status for cid, f in result.items()}
    assert status["windows.agent_services"] is Status.FAIL
    assert status["windows.vss_writers"] is Status.NEEDS_APPROVAL
    assert status["windows.machinekeys_acl"] is Status.NEEDS_APPROVAL
    assert status["windows.crp_certificates"] is Status.NEEDS_APPROVAL
    assert status["windows.dotnet_version"] is Status.PASS
    for on_demand in (
        "windows.agent_restart",
        "windows.msdtc_reinstall",
        "windows.vss_service_restart",
        "windows.msi_reregister",
    ):
        assert status[on_demand] is Status.NOT_APPLICABLE
    assert "WindowsAzureGuestAgent is Stopped" in result["windows.agent_services"].summary
    assert "2.7.41491.1009 is older than 2.7.41491.1010" in result["windows.agent_version"].summary
    assert "F:" in result["windows.bitlocker"].summary
    assert "10.0.1.10" in result["windows.dhcp"].summary


def test_needs_approval_says_exactly_what_would_happen(broken_observation):
    settings, result = findings(broken_observation)
    vss = result["windows.vss_writers"].summary
    assert "would restart SQLWriter (for SqlServerWriter)" in vss
    assert "restart CryptSvc (for System Writer)" in vss
    assert "'Contoso Ledger Writer' [9] Failed / Non-retryable error: no known service" in vss
    assert "bcdrfix_allow_disruptive" in vss
    steps = steps_of(
        "windows.vss_writers", broken_observation, settings, result["windows.vss_writers"]
    )
    ran = commands_of(steps)
    assert [op for op, _c, _n in ran] == ["note"] and ran[0][1] == []  # nothing runs
    crp = result["windows.crp_certificates"].summary
    assert (
        "would delete 2 certificate(s)" in crp and "3F2A9C1B7D4E5F60718293A4B5C6D7E8F9012345" in crp
    )
    assert "would save the ACL and reset it" in result["windows.machinekeys_acl"].summary


def test_disruptive_fixes_run_with_opt_in(broken_observation):
    settings, result = findings(broken_observation, bcdrfix_allow_disruptive=True)
    assert result["windows.vss_writers"].status is Status.FAIL
    ran = commands_of(
        steps_of("windows.vss_writers", broken_observation, settings, result["windows.vss_writers"])
    )
    restarts = [c[0] for op, c, _n in ran if op == "service_restart"]
    assert len(restarts) == 2
    assert (
        "$ServiceName = 'SQLWriter'" in restarts[0] and "$ServiceName = 'CryptSvc'" in restarts[1]
    )
    notes = [n[0] for op, _c, n in ran if op == "note"]
    assert any("Contoso Ledger Writer" in n for n in notes)
    crp = commands_of(
        steps_of(
            "windows.crp_certificates",
            broken_observation,
            settings,
            result["windows.crp_certificates"],
        )
    )
    assert len(crp[0][1]) == 2


def test_unknown_writer_is_never_guessed(broken_observation):
    settings, result = findings(broken_observation, bcdrfix_allow_disruptive=True)
    text = " ".join(
        c
        for _op, cmds, _n in commands_of(
            steps_of(
                "windows.vss_writers", broken_observation, settings, result["windows.vss_writers"]
            )
        )
        for c in cmds
    )
    assert "Contoso" not in text


def test_writer_map_can_be_extended(broken_observation):
    broken_observation["services"]["contosoledger"] = {"name": "ContosoLedger", "state": "Running"}
    _, result = findings(
        broken_observation,
        bcdrfix_allow_disruptive=True,
        bcdrfix_vss_writer_services={"Contoso Ledger Writer": "ContosoLedger"},
    )
    assert result["windows.vss_writers"].plan["restarts"]["ContosoLedger"] == [
        "Contoso Ledger Writer"
    ]


def test_broken_host_fix_commands(broken_observation):
    settings, result = findings(broken_observation)
    ran = {
        cid: commands_of(steps_of(cid, broken_observation, settings, f))
        for cid, f in result.items()
    }
    agent = [c for _op, cmds, _n in ran["windows.agent_services"] for c in cmds]
    assert len(agent) == 2  # WindowsAzureGuestAgent: start; RdAgent: Automatic
    tls = [c for _op, cmds, _n in ran["windows.tls_strong_crypto"] for c in cmds]
    assert len(tls) == 3  # WOW6432Node v2.0 already has 1
    # no BcdrAgentPersistentKeys value unless a code or a setting asks for one
    assert result["windows.bcdr_snapshot_keys"].status is Status.NOT_APPLICABLE
    msi = [c for _op, cmds, _n in ran["windows.msiserver"] for c in cmds]
    assert len(msi) == 1 and "$StartupType = 'Manual'" in msi[0] and "Set-Service" in msi[0]
    for control_id in REPORT_ONLY:
        assert all(op == "note" and not cmds for op, cmds, _n in ran[control_id])
    msdtc = ran["windows.msdtc_account"]
    assert [op for op, _c, _n in msdtc] == [
        "service",
        "note",
    ]  # running MSDTC: restart needs approval


def test_msdtc_account_restarts_only_with_opt_in(broken_observation):
    settings, result = findings(broken_observation, bcdrfix_allow_disruptive=True)
    steps = steps_of(
        "windows.msdtc_account", broken_observation, settings, result["windows.msdtc_account"]
    )
    assert [s.op.__name__ for s in steps] == ["service", "service_restart", "service"]
    assert steps[1].when_changed == 0


@pytest.mark.parametrize(
    "setting,control_id,op_name",
    [
        ("bcdrfix_msdtc_reinstall", "windows.msdtc_reinstall", "msdtc_reinstall"),
        ("bcdrfix_vss_service_restart", "windows.vss_service_restart", "service_restart"),
        ("bcdrfix_msi_reregister", "windows.msi_reregister", "msi_reregister"),
    ],
)
def test_on_demand_disruptive_repairs(healthy_observation, setting, control_id, op_name):
    _, result = findings(healthy_observation, **{setting: True})
    assert result[control_id].status is Status.NEEDS_APPROVAL
    assert "would" in result[control_id].summary
    settings, result = findings(
        healthy_observation, **{setting: True, "bcdrfix_allow_disruptive": True}
    )
    steps = steps_of(control_id, healthy_observation, settings, result[control_id])
    assert [s.op.__name__ for s in steps] == [op_name]


def test_agent_restart_on_request(healthy_observation):
    settings, result = findings(healthy_observation, bcdrfix_agent_restart=True)
    assert result["windows.agent_restart"].status is Status.FAIL  # not disruptive: runs
    steps = steps_of(
        "windows.agent_restart", healthy_observation, settings, result["windows.agent_restart"]
    )
    assert [s.kwargs["service_name"] for s in steps] == ["WindowsAzureGuestAgent", "RdAgent"]


def test_sql_copy_backup_only_on_marked_sql_backup_hosts(broken_observation):
    # The broken VM runs MSSQLSERVER: a SQL service alone does not make it a SQL backup host.
    assert "mssqlserver" in broken_observation["services"]
    _, result = findings(broken_observation)
    assert result["windows.sql_vss_copy_backup"].status is Status.NOT_APPLICABLE
    assert "bcdrfix_sql_backup_host" in result["windows.sql_vss_copy_backup"].summary
    settings, result = findings(broken_observation, bcdrfix_sql_backup_host=True)
    finding = result["windows.sql_vss_copy_backup"]
    assert finding.status is Status.FAIL
    ran = commands_of(
        steps_of("windows.sql_vss_copy_backup", broken_observation, settings, finding)
    )
    assert ["$Name = 'USEVSSCOPYBACKUP'" in c for _op, cmds, _n in ran for c in cmds] == [True]


def test_missing_sections_become_errors():
    observation = {"platform": "windows", "services": {}, "defender": {"error": "Access denied"}}
    _, result = findings(observation)
    assert result["windows.defender_exclusions"].status is Status.ERROR
    assert "Access denied" in result["windows.defender_exclusions"].summary
    assert result["windows.agent_services"].status is Status.ERROR
    assert "380008" in result["windows.agent_services"].summary
    assert result["windows.vss_writers"].status is Status.ERROR


def test_vssadmin_failure_is_reported(healthy_observation):
    from bcdrfix.windows.facts import parse_vss_writers

    from .helpers import load_fixture_lines

    lines = load_fixture_lines("vssadmin_denied.txt")
    healthy_observation["vss_writers"] = {
        "exit_code": 2,
        "writers": parse_vss_writers(lines),
        "lines": lines,
    }
    _, result = findings(healthy_observation)
    assert result["windows.vss_writers"].status is Status.ERROR
    assert "don't have the correct permissions" in result["windows.vss_writers"].summary


def test_defender_hidden_exclusions_and_no_defender(healthy_observation):
    healthy_observation["defender"]["exclusion_paths"] = [
        "N/A: Must be an administrator to view exclusions"
    ]
    _, result = findings(healthy_observation)
    assert result["windows.defender_exclusions"].status is Status.ERROR
    healthy_observation["defender"] = {"available": False, "exclusion_paths": []}
    _, result = findings(healthy_observation)
    assert result["windows.defender_exclusions"].status is Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    "data,message",
    [
        ({"bcdrfix_windows_agent_min_version": "latest"}, "dotted version"),
        ({"bcdrfix_defender_exclusions": ["relative\\path"]}, "absolute Windows path"),
        ({"bcdrfix_bcdr_snapshot_keys": {"SnapshotMethod": "a\nb"}}, "single-line"),
        ({"bcdrfix_sql_backup_host": "sometimes"}, "boolean"),
        ({"bcdrfix_crp_certificate_subject": " "}, "empty subject"),
        ({"bcdrfix_dotnet_min_release": "4.5"}, "whole number"),
    ],
)
def test_bad_windows_settings_are_one_line_errors(data, message):
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(data, "win-01")
    assert "\n" not in str(info.value) and str(info.value).startswith("host win-01: ")
