"""The articles' "restart the agent", on request only: a new agent process on every host."""

from __future__ import annotations

from labtools import lab_host_view, run_pyinfra

LAB = {"hosts": 2}


def main_pids(lab) -> dict[str, str]:
    return {
        host.name: lab_host_view(lab, host).check_output(
            f"systemctl show -p MainPID --value {host.unit}"
        )
        for host in lab.hosts
    }


def test_restart_happens_only_when_requested(lab):
    run_pyinfra("deploys/linux_agent.py")  # bring both hosts to the desired state first
    before = main_pids(lab)
    run_pyinfra("deploys/linux_agent.py")
    assert main_pids(lab) == before  # a normal run does not touch a healthy agent
    proc = run_pyinfra("deploys/linux_agent.py", "--data", "bcdrfix_agent_restart=true")
    after = main_pids(lab)
    for host in lab.hosts:
        assert after[host.name] not in ("0", before[host.name]), (host.name, before, after)
        view = lab_host_view(lab, host)
        assert view.run(f"systemctl is-active {host.unit}").stdout.strip() == "active"
    assert "Restart the agent (requested)" in proc.stdout
