"""Every PowerShell script bcdrfix can generate parses with a real PowerShell grammar
(tree-sitter-powershell) without ERROR or MISSING nodes, with ordinary and hostile data."""

import copy

import pytest

from bcdrfix.controls import REGISTRY, Status, load_settings
from bcdrfix.core.apply import evaluate, plan_steps
from bcdrfix.windows import operations as ops
from bcdrfix.windows.controls import observation_request
from bcdrfix.windows.facts import SECTIONS, build_script
from bcdrfix.windows.winrm import RESTORE_SCRIPT, wrap_command

from .helpers import HOSTILE, run_operation, syntax_problems, verbatim_strings

ALL_ON = {
    "bcdrfix_allow_disruptive": True,
    "bcdrfix_agent_restart": True,
    "bcdrfix_msdtc_reinstall": True,
    "bcdrfix_vss_service_restart": True,
    "bcdrfix_msi_reregister": True,
}


def generated_scripts(observation, data):
    """Every script the Windows controls generate for this observation and these settings."""
    settings = load_settings(data)
    scripts = [build_script(SECTIONS, observation_request(settings))]
    for control, finding in evaluate(REGISTRY.all("windows"), observation, settings):
        assert finding.status is not Status.ERROR, (control.id, finding.summary)
        for step in plan_steps(control, finding, observation, settings):
            commands, _ = run_operation(
                step.op, **{k: v for k, v in step.kwargs.items() if k != "name"}
            )
            scripts += commands
    return scripts


def test_every_generated_script_parses(broken_observation):
    scripts = generated_scripts(broken_observation, ALL_ON)
    # One observation script plus commands from every fixing control and operation.
    used = {
        body
        for body in (
            "REGISTRY_SET",
            "SERVICE_START",
            "SERVICE_START_TYPE",
            "SERVICE_ACCOUNT",
            "SERVICE_RESTART",
            "MSDTC_REINSTALL",
            "MSI_REREGISTER",
            "MACHINEKEYS_RESET",
            "REMOVE_CERTIFICATE",
            "DEFENDER_ADD",
        )
        if any(getattr(ops, body).strip() in s for s in scripts)
    }
    assert len(used) == 10
    scripts += [ops.service_scripts("VSS", running=False, current={"state": "Running"})[0][1]]
    scripts += [wrap_command("Get-Service", {"A": "1"}, "C:\\"), RESTORE_SCRIPT]
    for script in scripts:
        assert syntax_problems(script) == [], script


@pytest.mark.parametrize("value", HOSTILE[:-1])  # "" is not a valid name for most fields
def test_hostile_settings_stay_literal_in_every_script(broken_observation, value):
    observation = copy.deepcopy(broken_observation)
    observation["services"]["hostile"] = {"name": value, "state": "Running"}
    single = value.replace("\n", " ").replace("\r", " ")
    for writer in observation["vss_writers"]["writers"]:
        if writer["name"] == "Contoso Ledger Writer":
            writer["name"] = single
    # Certificates and subjects are compared on the host; the subject is ours to quote.
    observation["crp_certificates"]["subject"] = value
    # Settings are single-line by validation.
    observation["services"][single.lower()] = {"name": single, "state": "Running"}
    data = dict(
        ALL_ON,
        bcdrfix_vss_writer_services={single: single},
        bcdrfix_crp_certificate_subject=single,
        bcdrfix_bcdr_snapshot_keys={single: single},
        bcdrfix_defender_exclusions=["C:\\" + single],
    )
    scripts = generated_scripts(observation, data)
    literals = []
    for script in scripts:
        assert syntax_problems(script) == [], script
        literals += verbatim_strings(script)
    assert single in literals  # the restarted service / registry value name / subject
    assert "C:\\" + single in literals


@pytest.mark.parametrize("value", HOSTILE)
def test_connector_wrapper_keeps_env_and_dir_literal(value):
    script = wrap_command("Get-ChildItem", {"BCDRFIX_TEST": value}, value or ".")
    assert syntax_problems(script) == []
    assert value in verbatim_strings(script)
    assert script.splitlines()[-1] == "exit $LASTEXITCODE"
