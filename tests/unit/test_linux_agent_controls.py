"""Linux agent controls: given an observation, the finding and the operations a fix issues."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

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
        "agent_processes": {
            "units": {"walinuxagent.service": "not-found", "waagent.service": "loaded"},
            "daemon": True,
            "exthandlers": True,
        },
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


def test_stopped_and_disabled_agent_is_enabled_then_started_by_the_handler():
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
    enable, start = commands("linux.agent_service", obs)
    assert enable.kwargs["commands"] == ["systemctl enable waagent.service"]
    assert not enable.handler
    # The start waits for every control of the deploy: the agent starts once, with its new
    # config and unit.
    assert start.kwargs["commands"] == ["systemctl start waagent.service"] and start.handler


def test_missing_agent_unit_is_an_error_naming_380008():
    finding = check("linux.agent_service", observation(agent_unit=None))
    assert finding.status is Status.ERROR and "380008" in finding.summary


def test_missing_waagent_conf_is_an_error_saying_so_with_the_desired_keys():
    """Issue 9 (mypy): the check passed desired= to error(), a TypeError on such hosts."""
    finding = check("linux.waagent_conf", observation(waagent_conf=None))
    assert finding.status is Status.ERROR
    assert finding.summary.startswith(
        "/etc/waagent.conf is missing: the agent does not start without it"
    )
    assert finding.desired["Extensions.Enabled"] == "y"


def test_auto_restart_writes_drop_in_and_reloads_on_the_effective_state():
    obs = observation(
        agent_service={"ActiveState": "active", "UnitFileState": "enabled", "Restart": "no"}
    )
    assert check("linux.agent_auto_restart", obs).status is Status.FAIL
    (write,) = commands("linux.agent_auto_restart", obs, bcdrfix_agent_restart_sec=7)
    assert write.kwargs["path"] == "/etc/systemd/system/waagent.service.d/zz-bcdrfix-restart.conf"
    assert "Restart=always\nRestartSec=7\n" in write.kwargs["content"]
    # After its write, in the same command: reload, then the effective Restart= is checked.
    assert write.kwargs["then_if_written"].startswith("systemctl daemon-reload; r=$(systemctl")
    # Not "only if the drop-in changed": a run interrupted before the reload left the file right
    # and Restart= wrong; the next run must reload (systemctl show decides).
    assert write.when_changed is None
    assert write.kwargs["then"].startswith(
        '[ "$(systemctl show -p Restart --value waagent.service)" = always ] || '
        "systemctl daemon-reload;"
    )


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
    assert not write.handler and restart.handler  # the restart comes after every control
    assert restart.kwargs["commands"][0].endswith("systemctl try-restart waagent.service")
    assert restart.when_changed is None  # restarts even when an interrupted run wrote the file


def test_right_conf_but_agent_started_before_it_changed_is_restarted():
    """Config written, run interrupted before the restart: the agent still runs the old one."""
    obs = observation(agent_loaded={"agent_started": 1000.0, "conf_changed": 1060.5})
    finding = check("linux.waagent_conf", obs)
    assert finding.status is Status.FAIL
    assert "running agent started before it last changed" in finding.summary
    (restart,) = commands("linux.waagent_conf", obs)
    assert restart.handler
    assert restart.kwargs["commands"][0].endswith("systemctl try-restart waagent.service")
    fresh = observation(agent_loaded={"agent_started": 1061.0, "conf_changed": 1060.5})
    assert check("linux.waagent_conf", fresh).status is Status.PASS
    stopped = observation(agent_loaded={"agent_started": None, "conf_changed": 1060.5})
    assert check("linux.waagent_conf", stopped).status is Status.PASS


def test_agent_loaded_probe_compares_process_start_with_the_conf_change(tmp_path):
    """In a PID namespace of its own (other agents may run on this machine)."""
    conf = tmp_path / "waagent.conf"
    conf.write_text(CONF)
    script = build_script(["agent_loaded"], variables=[("BCDR_WAAGENT_CONF", str(conf))])
    (tmp_path / "probe.sh").write_text(script)
    # The probe's start time is boot time (whole seconds) plus the process's clock ticks: up to
    # 1 s early. The agent starts well over a second after the file was written.
    scenario = (
        "sleep 1.5; python3 -c 'import time; time.sleep(30)' /usr/sbin/waagent -daemon & sleep 2; "
        f"sh {tmp_path}/probe.sh; echo @@@; sleep 0.1; echo '# edited' >> {conf}; "
        f"sh {tmp_path}/probe.sh; kill $!"
    )
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", scenario],
        capture_output=True,
        text=True,
        check=True,
    )
    first, second = proc.stdout.split("@@@\n")
    before = parse_output(first.splitlines())["agent_loaded"]
    after = parse_output(second.splitlines())["agent_loaded"]
    assert before["agent_started"] is not None
    assert before["agent_started"] > before["conf_changed"]  # started after the file was written
    assert after["agent_started"] < after["conf_changed"] - 1  # the file changed since


def test_agent_loaded_probe_reads_the_time_now_and_a_missing_conf(tmp_path):
    """The probe takes "now" from stat (the stat process's own /proc directory), not `date`:
    it is the controller's time now (one clock on this machine), and a missing config has no
    change time."""
    for conf in (tmp_path / "waagent.conf", tmp_path / "missing.conf"):
        if conf.name == "waagent.conf":
            conf.write_text(CONF)
        script = build_script(["agent_loaded"], variables=[("BCDR_WAAGENT_CONF", str(conf))])
        before = time.time()
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
        after = time.time()
        lines = out.stdout.splitlines()
        (now,) = [float(line.split()[1]) for line in lines if line.startswith("now ")]
        assert before - 0.05 <= now <= after + 0.05  # the kernel's coarse clock: a tick early
        changed = parse_output(lines)["agent_loaded"]["conf_changed"]
        assert changed == (pytest.approx(conf.stat().st_ctime, abs=1e-6) if conf.exists() else None)


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


def test_a_held_agent_package_is_never_upgraded_over_its_hold():
    """An administrator's `apt-mark hold`: the upgrade is left to a person, who is told how,
    instead of an apt-get that would stop on the hold."""
    obs = observation(
        agent_version={
            "installed": "2.2.10",
            "goal_state": "2.2.10",
            "package": "walinuxagent",
            "package_version": "2.2.10-1",
            "package_held": True,
            "package_manager": "apt-get",
        }
    )
    assert check("linux.agent_package", obs).observed["package_held"] is True
    (step,) = commands("linux.agent_package", obs, bcdrfix_agent_upgrade=True)
    assert step.by_hand and "commands" not in step.kwargs
    assert "apt-mark unhold walinuxagent" in step.kwargs["message"]


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


# --- issue 10: nothing unasked -------------------------------------------------------------------


def conf_obs(text: str, mode: str = "644") -> dict:
    return observation(
        waagent_conf={"text": text, "mode": mode, "owner": "root", "group": "root", "size": 1}
    )


def test_defaults_leave_an_admins_verbose_logs_and_provisioning_agent_alone():
    text = "Extensions.Enabled=y\nProvisioning.Agent=cloud-init\nLogs.Verbose=y\n"
    assert check("linux.waagent_conf", conf_obs(text)).status is Status.PASS
    # Only the explicit switch changes Logs.Verbose.
    finding = check("linux.waagent_conf", conf_obs(text), bcdrfix_agent_verbose_logs=False)
    assert finding.status is Status.FAIL and "Logs.Verbose" in finding.summary


def test_agent_out_of_date_codes_do_not_rewrite_waagent_conf():
    from bcdrfix.catalog import load_catalog

    catalog = load_catalog(REGISTRY)
    for code in ("151095", "151099"):
        ids = catalog.get(code).control_ids("linux")
        assert "linux.waagent_conf" not in ids, code
        assert {"linux.agent_package", "linux.agent_auto_restart", "linux.agent_service"} <= set(
            ids
        )


# --- issue 10: what the real agent and extension need ------------------------------------------


def probe_waagent_conf(path, *, as_nobody: bool = False) -> dict:
    script = build_script(["waagent_conf"], variables=[("BCDR_WAAGENT_CONF", str(path))])
    command = ["sh", "-c", script]
    if as_nobody:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_output(proc.stdout.splitlines())


def test_missing_waagent_conf_says_missing_and_that_the_agent_will_not_start(tmp_path):
    obs = probe_waagent_conf(tmp_path / "waagent.conf")
    finding = check("linux.waagent_conf", obs)
    assert finding.status is Status.ERROR
    assert "is missing" in finding.summary and "does not start" in finding.summary
    assert "TypeError" not in finding.summary


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_unreadable_waagent_conf_as_a_user_says_permission():
    folder = Path(tempfile.mkdtemp())  # pytest's tmp_path is not reachable for other users
    try:
        folder.chmod(0o755)
        conf = folder / "waagent.conf"
        conf.write_text(CONF)
        conf.chmod(0o600)
        obs = probe_waagent_conf(conf, as_nobody=True)
    finally:
        shutil.rmtree(folder)
    finding = check("linux.waagent_conf", obs)
    assert finding.status is Status.ERROR
    assert "cannot read (permission" in finding.summary and "installed" not in finding.summary


def test_symlink_to_another_file_is_reported_with_the_targets_mode(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$x:19000::\n")
    secret.chmod(0o640)
    link = tmp_path / "waagent.conf"
    link.symlink_to(secret)
    obs = probe_waagent_conf(link)
    assert obs["waagent_conf"]["mode"] == "640"  # stat -L: the target, not the link's 777
    finding = check("linux.waagent_conf", obs)
    assert finding.status is Status.ERROR and f"symlink to {secret}" in finding.summary


def test_symlink_to_a_waagent_conf_is_checked_through_the_link(tmp_path):
    (tmp_path / "azure").mkdir()
    target = tmp_path / "azure" / "waagent.conf"
    target.write_text(CONF)
    link = tmp_path / "waagent.conf"
    link.symlink_to(target)
    finding = check("linux.waagent_conf", probe_waagent_conf(link))
    assert finding.status is Status.FAIL and f"a symlink to {target}" in finding.summary


def test_non_utf8_waagent_conf_is_a_finding_with_the_line(tmp_path):
    conf = tmp_path / "waagent.conf"
    conf.write_bytes(b"Extensions.Enabled=y\n# caf\xe9 config\nLogs.Verbose=n\n")
    finding = check("linux.waagent_conf", probe_waagent_conf(conf))
    assert finding.status is Status.FAIL
    assert "line 2 is not UTF-8" in finding.summary and "caf\\xe9" in finding.summary
    (step,) = commands("linux.waagent_conf", probe_waagent_conf(conf))
    assert step.by_hand


def test_spaced_http_proxy_lines_are_flagged_when_a_proxy_is_configured():
    text = "Extensions.Enabled=y\nHttpProxy.Host = 10.0.0.5\nHttpProxy.Port = 3128\n"
    finding = check("linux.waagent_conf", conf_obs(text))
    assert finding.status is Status.FAIL and "[2, 3]" in finding.summary
    write, _restart = commands("linux.waagent_conf", conf_obs(text))
    assert write.kwargs["content"] == (
        "Extensions.Enabled=y\nHttpProxy.Host=10.0.0.5\nHttpProxy.Port=3128\n"
    )
    # No proxy configured: nothing to flag.
    unset = "Extensions.Enabled=y\nHttpProxy.Host = None\n"
    assert check("linux.waagent_conf", conf_obs(unset)).status is Status.PASS


def test_masked_unit_is_reported_as_masked_and_unmasked_only_by_the_service_fix():
    obs = observation(
        agent_unit=None,
        agent_processes={"units": {"waagent.service": "masked"}, "daemon": False},
    )
    for control_id in ("linux.agent_auto_restart", "linux.agent_restart"):
        finding = check(control_id, obs)
        assert "masked" in finding.summary and "installed" not in finding.summary
    finding = check("linux.agent_service", obs)
    assert finding.status is Status.FAIL and finding.summary.startswith("waagent.service is masked")
    (step,) = commands("linux.agent_service", obs)
    assert step.kwargs["commands"] == [
        "systemctl unmask waagent.service && systemctl enable --now waagent.service"
    ]


def test_process_check_covers_the_extension_handler():
    obs = observation(agent_processes={"units": {}, "daemon": True, "exthandlers": False})
    finding = check("linux.agent_service", obs)
    assert finding.status is Status.FAIL and "-run-exthandlers" in finding.summary
    (step,) = commands("linux.agent_service", obs)
    assert step.by_hand and "restart does not help" in step.kwargs["message"]
    off = check("linux.agent_service", obs, bcdrfix_agent_check_processes=False)
    assert off.status is Status.PASS


def test_processes_probe_finds_the_extension_handler(tmp_path):
    fake = tmp_path / "waagent"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    proc = subprocess.Popen([str(fake), "-run-exthandlers"])
    try:
        script = build_script(["agent_processes"])
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
        found = parse_output(out.stdout.splitlines())["agent_processes"]
    finally:
        proc.kill()
        proc.wait()
    assert found["exthandlers"] is True


def test_apt_upgrade_names_the_ubuntu_package_and_keeps_the_conffile():
    info = {"installed": None, "goal_state": None, "package": None, "package_manager": "apt-get"}
    obs = observation(agent_version={**info, "os_id": "ubuntu"})
    (step,) = commands("linux.agent_package", obs, bcdrfix_agent_upgrade=True)
    command = step.kwargs["commands"][0]
    assert "apt-get install -y -q -o Dpkg::Options::=--force-confdef" in command
    assert "-o Dpkg::Options::=--force-confold walinuxagent" in command
    assert "DEBIAN_FRONTEND=noninteractive" in command
    (step,) = commands(
        "linux.agent_package",
        observation(agent_version={**info, "os_id": "debian"}),
        bcdrfix_agent_upgrade=True,
    )
    assert "--force-confold waagent" in step.kwargs["commands"][0]


def test_restart_handler_restarts_only_an_agent_older_than_its_config(tmp_path):
    """The handler decides on the host when it runs: an agent running since before the config
    changed is restarted; one started after it (linux.agent_service's start) is left alone."""
    from bcdrfix.linux.agent_conf import restart_if_older_than_conf

    conf = tmp_path / "waagent.conf"
    calls = tmp_path / "calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    # systemctl: `show -p MainPID` prints the pid in $AGENT_PID; anything else is recorded.
    (fake / "systemctl").write_text(
        '#!/bin/sh\ncase "$1" in show) echo "$AGENT_PID" ;; *) echo "$*" >> "$CALLS" ;; esac\n'
    )
    (fake / "systemctl").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}", CALLS=str(calls))
    script = restart_if_older_than_conf("waagent.service", str(conf))

    def handler(pid: int) -> list[str]:
        calls.unlink(missing_ok=True)
        subprocess.run(["sh", "-c", script], env={**env, "AGENT_PID": str(pid)}, check=True)
        return calls.read_text().splitlines() if calls.exists() else []

    old_agent = subprocess.Popen(["sleep", "60"])
    try:
        # Started a moment before the write (less than the audit's LOADED_TOLERANCE_S): it has
        # not read the new file and must restart (the lab's fault tests met exactly this).
        time.sleep(0.3)
        conf.write_text("Extensions.Enabled=y\n")
        time.sleep(0.1)
        new_agent = subprocess.Popen(["sleep", "60"])
        try:
            assert handler(old_agent.pid) == ["try-restart waagent.service"]
            assert handler(new_agent.pid) == []
            assert handler(0) == []  # not running: linux.agent_service starts it
        finally:
            new_agent.kill()
            new_agent.wait()
    finally:
        old_agent.kill()
        old_agent.wait()
