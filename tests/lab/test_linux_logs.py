"""deploys/linux_logs.py brings each host's agent logs into a local folder per host."""

from __future__ import annotations

from labtools import run_pyinfra

LAB = {"hosts": 2}


def test_logs_land_in_one_folder_per_host(lab, tmp_path):
    run_pyinfra("deploys/linux_logs.py", "--data", f"bcdrfix_logs_dir={tmp_path}")
    for host in lab.hosts:
        folder = tmp_path / host.name
        log = folder / "var/log/waagent.log"
        assert log.exists(), sorted(p.name for p in folder.rglob("*"))
        assert "Azure Linux Agent Version" in log.read_text()
        assert (folder / "agent-logs.tar.gz").exists()
