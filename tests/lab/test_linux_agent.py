"""deploys/linux_agent.py on real hosts, checked independently with testinfra and the agent's parser.

Six hosts of both flavors (debian: walinuxagent.service, rhel: waagent.service), five of them
with different seeded faults and one with none but its flavor's own (Debian's unit has no
Restart=). pyinfra reaches them over SSH; the checks below do not use bcdrfix's facts.
"""

from __future__ import annotations

import json
import re

import pytest
from labtools import AGENT_AGE, host_named, lab_host_view, run_pyinfra

from bcdrfix.controls import DEPLOYS
from bcdrfix.linux.agent_base import AGENT_HANDLER

LAB = {
    "hosts": 6,
    "faults": {
        "lab-debian-01": ["agent-stopped", "extensions-disabled"],
        "lab-rhel-02": ["agent-killed", "restart-no", "article-key"],
        "lab-debian-03": ["unit-disabled", "duplicate-keys", "verbose-off"],
        "lab-rhel-04": ["keys-missing", "messy-syntax", "agent-stopped"],
        # the agent runs, the unit is disabled, and the RHEL flavour's unit has no SysV script
        # (on Debian, enabling one runs update-rc.d, which reloads systemd): the enable alone
        # must leave systemd (and so the audit) seeing it enabled
        "lab-rhel-06": ["unit-disabled"],
    },
}

# What the agent itself reads, by its own code inside the host.
AGENT_VIEW = (
    "python3 -c 'import json; from azurelinuxagent.common import conf; "
    'conf.load_conf_from_file("/etc/waagent.conf"); '
    'print(json.dumps({"values": conf.__conf__.values, '
    '"extensions": conf.get_extensions_enabled(), '
    '"provisioning": conf.get_provisioning_agent(), "verbose": conf.get_logs_verbose()}))\''
)
DESIRED_KEYS = {"Extensions.Enabled", "Provisioning.Agent", "Logs.Verbose"}


def agent_view(host) -> dict:
    return json.loads(host.check_output(AGENT_VIEW))


def snapshot(state):
    """Per host: agent view, stat of the conf file, its checksum."""
    result = {}
    for lab_host in state.hosts:
        host = lab_host_view(state, lab_host)
        result[lab_host.name] = {
            "view": agent_view(host),
            "stat": host.check_output("stat -c '%U %G %a' /etc/waagent.conf"),
            "sha": host.check_output("sha256sum /etc/waagent.conf"),
            # how often systemd started the agent so far, and whether its main process started
            # after the config last changed (it runs with the file as it is)
            "starts": int(
                host.run(f"journalctl -u {lab_host.unit} -o cat | grep -c '^Started' || :").stdout
                or 0
            ),
            "loaded": float(
                host.run(f"set -- {lab_host.unit}; {AGENT_AGE} 2>/dev/null || echo -1").stdout
            )
            > 0,
        }
    return result


def changed_hosts(output: str) -> set[str]:
    return set(re.findall(r"\[([\w-]+)\]\s+Success", output))


@pytest.fixture(scope="module")
def runs(lab):
    before = snapshot(lab)
    dry = run_pyinfra("deploys/linux_agent.py", "--dry")
    dry_per_host = {
        host.name: run_pyinfra("deploys/linux_agent.py", "--dry", "--limit", host.name).stdout
        for host in lab.hosts
    }
    after_dry = snapshot(lab)
    first = run_pyinfra("deploys/linux_agent.py")
    after = snapshot(lab)
    second = run_pyinfra("deploys/linux_agent.py")
    return {
        "before": before,
        "dry": dry,
        "dry_per_host": dry_per_host,
        "after_dry": after_dry,
        "first": first,
        "after": after,
        "second": second,
    }


def test_dry_run_changes_nothing_and_names_the_hosts_that_would_change(lab, runs):
    assert runs["after_dry"] == runs["before"]
    # pyinfra's "Detected changes" table lists, per operation, the hosts it would change.
    for host in lab.hosts:
        assert re.search(rf"\b1 \({host.name}\)", runs["dry_per_host"][host.name]), host.name


def test_every_host_ends_with_the_agent_active_enabled_and_auto_restarting(lab, runs):
    for lab_host in lab.hosts:
        host = lab_host_view(lab, lab_host)
        unit = lab_host.unit
        assert host.run(f"systemctl is-active {unit}").stdout.strip() == "active", lab_host.name
        assert host.run(f"systemctl is-enabled {unit}").stdout.strip() == "enabled", lab_host.name
        # what boot reads, and what the running systemd (and so the audit) says
        wants = host.file(f"/etc/systemd/system/multi-user.target.wants/{unit}")
        assert wants.is_symlink, lab_host.name
        state = host.check_output(f"systemctl show -p UnitFileState --value {unit}")
        assert state == "enabled", (lab_host.name, state)
        restart = host.check_output(f"systemctl show -p Restart --value {unit}")
        assert restart == "always", (lab_host.name, restart)


def test_each_agent_started_at_most_once_and_runs_with_its_new_config(lab, runs):
    """The restart and the start are handlers, after the config and the unit are right: an
    agent that was stopped starts once, with the new file, and is not restarted again."""
    for lab_host in lab.hosts:
        before, after = runs["before"][lab_host.name], runs["after"][lab_host.name]
        assert after["starts"] - before["starts"] <= 1, lab_host.name
        assert after["loaded"], lab_host.name
        if before["sha"] != after["sha"]:
            assert after["starts"] - before["starts"] == 1, lab_host.name
    assert runs["second"].returncode == 0


def test_the_restarts_and_the_starts_are_one_operation(runs):
    """lab-debian-01's agent is stopped (it starts), lab-debian-03's runs with the old config
    (it restarts): both in ONE handler operation, so no host waits at a barrier between the
    restarts and the starts while the restarted agents' start-up takes the cores."""
    out = runs["first"].stdout
    started = re.findall(r"--> Starting operation: (.*)", out)
    # one operation per control of the deploy, then the handler
    assert len(started) == len(DEPLOYS["linux_agent"]) + 1, started
    assert started[-1].strip() == f"bcdrfix.linux_agent | {AGENT_HANDLER}", started
    handler = out.split(f"--> Starting operation: {started[-1]}")[1].split("--> Results")[0]
    for name in ("lab-debian-01", "lab-debian-03"):
        assert re.search(rf"\[{name}\]\s+Success", handler), (name, handler)


def test_the_agent_reads_the_desired_values(lab, runs):
    for lab_host in lab.hosts:
        view = runs["after"][lab_host.name]["view"]
        assert view["extensions"] is True, lab_host.name
        assert view["provisioning"] == "auto", lab_host.name
        wants_verbose = "verbose-off" in lab_host.faults
        assert view["verbose"] is wants_verbose, lab_host.name


def test_unrelated_keys_parse_as_before(lab, runs):
    for lab_host in lab.hosts:
        before = runs["before"][lab_host.name]["view"]["values"]
        after = runs["after"][lab_host.name]["view"]["values"]
        unrelated_before = {k: v for k, v in before.items() if k not in DESIRED_KEYS}
        unrelated_after = {k: v for k, v in after.items() if k not in DESIRED_KEYS}
        # The articles' misspelling is commented out, so the agent no longer sees it at all.
        unrelated_before.pop("Extensions.Enable", None)
        assert unrelated_after == unrelated_before, lab_host.name


def test_owner_mode_kept_and_backup_written_where_the_file_changed(lab, runs):
    for lab_host in lab.hosts:
        host = lab_host_view(lab, lab_host)
        name = lab_host.name
        assert runs["after"][name]["stat"] == runs["before"][name]["stat"] == "root root 644"
        conf_changed = runs["after"][name]["sha"] != runs["before"][name]["sha"]
        backups = host.run("ls /var/backups/bcdrfix/etc/waagent.conf.* 2>/dev/null").stdout.split()
        assert not host.run("ls /etc/waagent.conf.* 2>/dev/null").stdout.split()  # none beside it
        assert (len(backups) == 1) is conf_changed, (name, backups)
        if backups:
            # The backup is the file as it was before the run.
            assert (
                host.check_output(f"sha256sum < {backups[0]}").split()[0]
                == runs["before"][name]["sha"].split()[0]
            )


def test_edits_follow_the_agents_parse_rules(lab, runs):
    rhel = lab_host_view(lab, host_named(lab, "lab-rhel-02"))
    text = rhel.file("/etc/waagent.conf").content_string
    assert re.search(r"^Extensions\.Enabled=y$", text, re.M)
    assert not re.search(r"^Extensions\.Enable=", text, re.M)  # misspelling commented out
    debian = lab_host_view(lab, host_named(lab, "lab-debian-03"))
    lines = [
        l
        for l in debian.file("/etc/waagent.conf").content_string.split("\n")
        if l.startswith("Extensions.Enabled")
    ]
    assert lines == ["Extensions.Enabled=y"]  # exactly one effective line


def test_debian_units_get_the_drop_in_rhel_units_keep_their_own_restart(lab, runs):
    for lab_host in lab.hosts:
        host = lab_host_view(lab, lab_host)
        dropin = host.file(f"/etc/systemd/system/{lab_host.unit}.d/zz-bcdrfix-restart.conf")
        needs_dropin = lab_host.flavor == "debian" or "restart-no" in lab_host.faults
        assert dropin.exists is needs_dropin, lab_host.name


def test_clean_host_only_gets_what_its_flavor_lacks(lab, runs):
    assert runs["after"]["lab-debian-05"]["sha"] == runs["before"]["lab-debian-05"]["sha"]


def test_first_run_changed_the_broken_hosts(runs):
    assert changed_hosts(runs["first"].stdout) == {
        "lab-debian-01",
        "lab-rhel-02",
        "lab-debian-03",
        "lab-rhel-04",
        "lab-debian-05",
        "lab-rhel-06",
    }


def test_second_run_changes_nothing_anywhere(runs):
    assert changed_hosts(runs["second"].stdout) == set(), runs["second"].stdout
    assert re.search(r"Grand total\s+\d+\s+-\s+-\s+\d+", runs["second"].stdout)


def test_an_admins_verbose_logs_and_provisioning_agent_survive_a_run(lab, runs):
    """Issue 10: the defaults undid a support engineer's Logs.Verbose=y and restarted the agent."""
    lab_host = host_named(lab, "lab-debian-05")
    host = lab_host_view(lab, lab_host)
    # The admin edits and restarts the agent (an edit the running agent has not loaded is a
    # finding of its own since issue 11: bcdrfix would restart the agent to load it).
    host.check_output(
        "sed -i -e 's/^Logs.Verbose=.*/Logs.Verbose=y/' "
        "-e 's/^Provisioning.Agent=.*/Provisioning.Agent=cloud-init/' /etc/waagent.conf && "
        f"systemctl restart {lab_host.unit}"
    )
    before = host.check_output("sha256sum /etc/waagent.conf")
    pid = host.check_output(f"systemctl show -p MainPID --value {lab_host.unit}")
    run_pyinfra("deploys/linux_agent.py", "--limit", lab_host.name)
    assert host.check_output("sha256sum /etc/waagent.conf") == before
    assert host.check_output(f"systemctl show -p MainPID --value {lab_host.unit}") == pid
    view = agent_view(host)
    assert view["verbose"] is True and view["provisioning"] == "cloud-init"
