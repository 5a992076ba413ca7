"""Helpers for lab tests: run pyinfra against the lab, look at hosts independently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bcdrfix.controls  # noqa: F401  (registers every probe)
from bcdrfix.core.observe import build_script
from bcdrfix.lab import lab as labmod

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run_pyinfra(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``pyinfra inventories/lab.py ARGS`` from the repository root; stdout has all output.

    ``-y`` (no prompt) is added unless ``--dry`` is given: a dry run shows what would change.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    yes = [] if "--dry" in args else ["-y"]
    proc = subprocess.run(
        [str(BIN / "pyinfra"), *yes, "inventories/lab.py", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"pyinfra failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def lab_host_view(state: labmod.LabState, host: labmod.LabHost):
    """An independent view of a lab host (testinfra over SSH, not bcdrfix's facts)."""
    import testinfra

    # paramiko keeps one connection per host; "insecure" accepts the lab's fresh host keys.
    return testinfra.get_host(
        f"paramiko://root@{host.address}", ssh_identity_file=state.key, insecure=True
    )


def host_named(state: labmod.LabState, name: str) -> labmod.LabHost:
    return next(h for h in state.hosts if h.name == name)


def observation_output(state: labmod.LabState, host: labmod.LabHost, probes: list[str]) -> str:
    """What bcdrfix's observation script of these probes prints on a lab host (over SSH)."""
    return subprocess.run(
        labmod.ssh_command(state, host, "sh -s"),
        input=build_script(probes),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


# Seconds since the agent's main process started minus seconds since the config changed:
# positive when the running agent started after the config's last change (it loaded it).
AGENT_AGE = (
    'pid=$(systemctl show -p MainPID --value "$1"); '
    'start=$(sed "s/^.*) //" /proc/$pid/stat | cut -d" " -f20); '
    "read -r up _ < /proc/uptime; "
    "now=$(date +%s.%N); conf=$(stat -c %.9Z /etc/waagent.conf); "
    'python3 -c "import sys; now, up, start, conf = map(float, sys.argv[1:]); '
    'print(round(now - up + start / 100 - conf, 3))" "$now" "$up" "$start" "$conf"'
)
