"""deploys/linux_logs.py brings each host's agent logs into a local folder per host.

Issue 10: the bundle held secrets at a fixed, world-readable path on the host; now nothing is
left on the host and nothing the controller keeps is readable by other users.
"""

from __future__ import annotations

from labtools import lab_host_view, run_pyinfra

LAB = {"hosts": 2}


def test_logs_land_in_one_private_folder_per_host_and_nothing_stays_on_the_host(lab, tmp_path):
    before = {}
    for host in lab.hosts:
        view = lab_host_view(lab, host)
        # A local user's trap at the old fixed path must stay untouched.
        view.check_output("ln -sfn /etc/hostname /tmp/bcdrfix-agent-logs.tar.gz")
        before[host.name] = (
            view.check_output("sha256sum /etc/hostname"),
            view.check_output("ls -A /tmp /var/tmp | sort"),
        )
    run_pyinfra("deploys/linux_logs.py", "--data", f"bcdrfix_logs_dir={tmp_path}")
    for host in lab.hosts:
        folder = tmp_path / host.name
        log = folder / "var/log/waagent.log"
        assert log.exists(), sorted(p.name for p in folder.rglob("*"))
        assert "Azure Linux Agent Version" in log.read_text()
        assert (folder / "agent-logs.tar.gz").exists()
        readable = [p for p in [folder, *folder.rglob("*")] if p.stat().st_mode & 0o077]
        assert readable == [], readable
        view = lab_host_view(lab, host)
        assert view.check_output("sha256sum /etc/hostname") == before[host.name][0]
        assert view.check_output("ls -A /tmp /var/tmp | sort") == before[host.name][1]
        assert view.file("/tmp/bcdrfix-agent-logs.tar.gz").is_symlink
        view.check_output("rm -f /tmp/bcdrfix-agent-logs.tar.gz")
