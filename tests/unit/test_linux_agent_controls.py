"""Linux agent controls: given an observation, the finding and the operations a fix issues."""

from __future__ import annotations

import subprocess

from bcdrfix.controls import REGISTRY, Status, load_settings
from bcdrfix.core.apply import evaluate
from bcdrfix.core.observe import build_script, parse_output

CONF = "Extensions.Enabled=n\nProvisioning.Agent=auto\nLogs.Verbose=n\n"


def observation(**overrides):
    base = {
        "agent_unit": "waagent.service",
        "has_systemd": True,
        "agent_service": {
            "ActiveState": "active",
            "SubState": "running",
            "UnitFileState": "enabled",
            "Restart": "always",
        },
        "agent_restart_dropin": None,
        "waagent_conf": {
            "text": CONF.replace("=n\nProv", "=y\nProv"),
            "mode": "644",
            "owner": "root",
            "group": "root",
            "size": 1,
        },
        "agent_version": {
            "installed": "2.7.3.0",
            "goal_state": "2.7.3.0",
            "package": "waagent",
            "package_version": "2.7.3.0-1",
            "package_manager": "apt-get",
        },
    }
    base.update(overrides)
    return base


def check(control_id, obs, **data):
    control = REGISTRY.get(control_id)
    return control.evaluate(obs, load_settings(data))


def commands(control_id, obs, **data):
    control = REGISTRY.get(control_id)
    settings = load_settings(data)
    finding = control.evaluate(obs, settings)
    return [step for step in control.fix(obs, settings, finding)]


def test_healthy_host_passes_everything():
    obs = observation()
    # Controls of other modules (backup extension, network) need probes this observation lacks.
    controls = [c for c in REGISTRY.all("linux") if all(p in obs for p in c.probes)]
    results = evaluate(controls, obs, load_settings({}))
    statuses = {control.id: finding.status for control, finding in results}
    assert statuses.pop("linux.agent_restart") is Status.NOT_APPLICABLE
    assert set(statuses.values()) == {Status.PASS}, statuses


def test_stopped_and_disabled_agent_is_enabled_and_started_in_one_command():
    obs = observation(
        agent_service={
            "ActiveState": "failed",
            "SubState": "failed",
            "UnitFileState": "disabled",
            "Restart": "no",
        }
    )
    finding = check("linux.agent_service", obs)
    assert finding.status is Status.FAIL
    assert "failed" in finding.summary and "disabled" in finding.summary
    (step,) = commands("linux.agent_service", obs)
    assert step.kwargs["commands"] == ["systemctl enable --now waagent.service"]


def test_missing_agent_unit_is_an_error_naming_380008():
    finding = check("linux.agent_service", observation(agent_unit=None))
    assert finding.status is Status.ERROR and "380008" in finding.summary


def test_missing_waagent_conf_is_an_error_saying_so_with_the_desired_keys():
    """Issue 9 (mypy): the check passed desired= to error(), a TypeError on such hosts."""
    finding = check("linux.waagent_conf", observation(waagent_conf=None))
    assert finding.status is Status.ERROR
    assert finding.summary == "/etc/waagent.conf does not exist: is the agent installed?"
    assert finding.desired["Extensions.Enabled"] == "y"


def test_auto_restart_writes_drop_in_and_reloads_only_if_it_changed():
    obs = observation(
        agent_service={"ActiveState": "active", "UnitFileState": "enabled", "Restart": "no"}
    )
    assert check("linux.agent_auto_restart", obs).status is Status.FAIL
    write, verify = commands("linux.agent_auto_restart", obs, bcdrfix_agent_restart_sec=7)
    assert write.kwargs["path"] == "/etc/systemd/system/waagent.service.d/zz-bcdrfix-restart.conf"
    assert "Restart=always\nRestartSec=7\n" in write.kwargs["content"]
    assert verify.when_changed == 0
    assert "systemctl daemon-reload" in verify.kwargs["commands"][0]


def test_conf_fix_writes_the_edited_file_then_try_restarts():
    obs = observation(
        waagent_conf={
            "text": CONF,
            "mode": "644",
            "owner": "root",
            "group": "root",
            "size": len(CONF),
        }
    )
    finding = check("linux.waagent_conf", obs)
    assert finding.status is Status.FAIL
    assert "Extensions.Enabled is 'n' (want 'y')" in finding.summary
    write, restart = commands("linux.waagent_conf", obs)
    assert write.kwargs["content"] == CONF.replace("Enabled=n", "Enabled=y")
    assert restart.kwargs["commands"] == ["systemctl try-restart waagent.service"]
    assert restart.when_changed == 0


def test_old_agent_is_reported_and_upgraded_only_when_asked():
    obs = observation(
        agent_version={
            "installed": "2.2.10",
            "goal_state": "2.2.10",
            "package": "WALinuxAgent",
            "package_manager": "dnf",
        }
    )
    assert check("linux.agent_package", obs).status is Status.FAIL
    (note,) = commands("linux.agent_package", obs)
    assert "bcdrfix_agent_upgrade=true" in note.kwargs["message"]
    (upgrade,) = commands("linux.agent_package", obs, bcdrfix_agent_upgrade=True)
    command = upgrade.kwargs["commands"][0]
    assert command.startswith("dnf -y install WALinuxAgent && dnf -y upgrade WALinuxAgent")
    assert "sort -V" in command and "2.2.53" in command


def test_restart_on_request_only():
    assert check("linux.agent_restart", observation()).status is Status.NOT_APPLICABLE
    (step,) = commands("linux.agent_restart", observation(), bcdrfix_agent_restart=True)
    assert step.kwargs["commands"] == ["systemctl restart waagent.service"]


def test_batched_observation_script_runs_in_a_real_shell(tmp_path):
    conf = tmp_path / "my waagent.conf"
    conf.write_text(CONF)
    script = build_script(
        ["waagent_conf", "agent_service", "agent_version", "agent_restart_dropin"],
        variables=[("BCDR_WAAGENT_CONF", str(conf))],
    )
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    result = parse_output(proc.stdout.splitlines())
    assert result["waagent_conf"]["text"] == CONF
    assert result["waagent_conf"]["mode"] == "644"
    assert result["has_systemd"] is False  # this test machine does not run systemd
    assert result["agent_restart_dropin"] is None
