"""The probe scripts run for real under sh; connectivity goes to loopback listeners only."""

from __future__ import annotations

import socket
import subprocess

import pytest

from bcdrfix.controls import REGISTRY, load_settings
from bcdrfix.core.observe import build_script, linux_probe_variables, parse_output
from bcdrfix.linux.backup import connectivity_targets

OUR_PROBES = (
    "vmbackup_conf",
    "vmbackup_templates",
    "freeze_mounts",
    "selinux",
    "connectivity",
    "network_config",
)


def loopback_settings(open_port: int, closed_port: int, **extra):
    # Every endpoint on 127.0.0.1: tests never send traffic to Azure's addresses.
    return load_settings(
        {
            "bcdrfix_wireserver_address": "127.0.0.1",
            "bcdrfix_wireserver_ports": [open_port, closed_port],
            "bcdrfix_imds_address": "127.0.0.1",
            "bcdrfix_imds_port": open_port,
            "bcdrfix_storage_endpoints": [],
            "bcdrfix_connect_timeout": 2,
            **extra,
        }
    )


@pytest.fixture
def ports():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the port is closed
    try:
        yield listener.getsockname()[1], closed.getsockname()[1]
    finally:
        listener.close()
        closed.close()


def test_scripts_are_valid_posix_sh(ports):
    script = build_script(OUR_PROBES, None, linux_probe_variables(loopback_settings(*ports)))
    assert subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0


def test_endpoints_only_from_settings(ports):
    settings = loopback_settings(*ports)
    assert {host for _, host, _ in connectivity_targets(settings)} == {"127.0.0.1"}
    variables = dict(linux_probe_variables(settings))
    assert (
        "168.63.129.16" not in variables["BCDR_ENDPOINTS"]
        and "169.254" not in variables["BCDR_ENDPOINTS"]
    )


def test_connectivity_probe_against_loopback_listener(ports):
    open_port, closed_port = ports
    settings = loopback_settings(open_port, closed_port)
    script = build_script(["connectivity", "waagent_conf"], None, linux_probe_variables(settings))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    observation = parse_output(out.stdout.splitlines())
    finding = REGISTRY.get("linux.connectivity").evaluate(observation, settings)
    assert finding.observed["endpoints"] == [
        f"wireserver 127.0.0.1:{open_port}: open",
        f"wireserver 127.0.0.1:{closed_port}: refused (nothing listens, or a firewall rejects it)",
        f"IMDS 127.0.0.1:{open_port}: open",
    ]
