"""Plain pyinfra runs of the packaged deploys tell the truth (issue 13).

Run from an empty folder with ``pyinfra INVENTORY bcdrfix.deploys.NAME`` against ``@fake``
Windows hosts answering the observation with fixtures: one operation per control, named the
same on every host; counts per control are the hosts' real outcomes; a control that cannot be
checked fails its host (non-zero exit, the reason named); ``bcdrfix_fail_on_findings`` turns
what is left to a person into failures.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from windows.helpers import FIXTURES, observation_response, write_inventory

from bcdrfix.controls import load_settings
from bcdrfix.core.model import Control, error, passed
from bcdrfix.deploys import CONTROLS
from bcdrfix.windows.facts import MARKER


def _without_comsysapp() -> dict:
    data = json.loads((FIXTURES / "observation_healthy.json").read_text(encoding="utf-8"))
    items = data["services"]["items"]
    data["services"]["items"] = [s for s in items if s["name"] != "COMSysApp"]
    return {MARKER: [json.dumps(data, separators=(",", ":"))]}


def pyinfra(tmp_path, hosts: dict[str, dict], deploy: str, *args: str):
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    inventory = tmp_path / "inventory.py"
    write_inventory(inventory, hosts)
    command = [sys.executable, "-m", "pyinfra", str(inventory), deploy, "-y", "--json", *args]
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=120, env=None
    )


def operations(result) -> dict[str, dict]:
    """control id -> pyinfra's per-operation result (``success``/``no_change``/``error`` hosts)."""
    ops = {}
    for op in json.loads(result.stdout)["results"]["operations"]:
        assert len(op["names"]) == 1, op["names"]  # the same name on every host
        name = op["names"][0]
        ops[name.rsplit(" | ", 1)[-1].split(": ", 1)[0]] = op
    return ops


def test_mixed_fleet_one_line_per_control_with_true_counts(tmp_path):
    hosts = {
        "broken-1": observation_response("broken"),
        "broken-2": observation_response("broken"),
        "healthy": observation_response("healthy"),
    }
    result = pyinfra(tmp_path, hosts, "bcdrfix.deploys.windows_agent")
    assert result.returncode == 0, result.stderr[-3000:]
    ops = operations(result)
    assert list(ops) == list(CONTROLS["windows_agent"])
    services = ops["windows.agent_services"]
    assert sorted(services["success"]) == ["@fake/broken-1", "@fake/broken-2"]
    assert services["no_change"] == ["@fake/healthy"]
    # DHCP is off on the broken hosts: bcdrfix only reports it, and says so for each of them.
    assert len(ops["windows.dhcp"]["no_change"]) == 3
    for host in ("broken-1", "broken-2"):
        assert f"[@fake/{host}]" in result.stderr
        assert any(
            line.strip().startswith(f"[@fake/{host}]") and "windows.dhcp: report only:" in line
            for line in result.stderr.splitlines()
        )
    assert "windows.dhcp: report only" not in "".join(
        line for line in result.stderr.splitlines() if "[@fake/healthy]" in line
    )


def test_a_control_that_cannot_be_checked_fails_its_host_alone(tmp_path):
    hosts = {"healthy": observation_response("healthy"), "nocom": _without_comsysapp()}
    result = pyinfra(tmp_path, hosts, "bcdrfix.deploys.windows_com")
    assert result.returncode != 0
    assert "COMSysApp (COM+ System Application) is not installed" in result.stderr
    comsysapp = operations(result)["windows.comsysapp"]
    assert comsysapp["error"] == ["@fake/nocom"]
    assert comsysapp["no_change"] == ["@fake/healthy"]


def test_fail_on_findings_fails_what_is_left_to_a_person(tmp_path):
    hosts = {"broken": observation_response("broken"), "healthy": observation_response("healthy")}
    relaxed = pyinfra(tmp_path, hosts, "bcdrfix.deploys.windows_agent")
    assert relaxed.returncode == 0
    strict = pyinfra(
        tmp_path, hosts, "bcdrfix.deploys.windows_agent", "--data", "bcdrfix_fail_on_findings=true"
    )
    assert strict.returncode != 0
    ops = operations(strict)
    assert ops["windows.agent_version"]["error"] == ["@fake/broken"]
    assert ops["windows.agent_version"]["no_change"] == ["@fake/healthy"]
    assert ops["windows.agent_services"]["success"] == ["@fake/broken"]  # fixes still run
    assert "windows.agent_version: not fixed:" in strict.stderr


def test_needs_approval_is_in_the_default_output(tmp_path):
    result = pyinfra(
        tmp_path, {"broken": observation_response("broken")}, "bcdrfix.deploys.windows_vss"
    )
    assert result.returncode == 0
    assert "windows.vss_writers: needs approval: VSS writers not stable" in result.stderr


def test_a_user_deploy_imports_the_packaged_deploy(tmp_path):
    (tmp_path / "empty").mkdir()
    user_deploy = tmp_path / "empty" / "mine.py"
    user_deploy.write_text("from bcdrfix.deploys import windows_tls\n\nwindows_tls()\n")
    result = pyinfra(tmp_path, {"broken": observation_response("broken")}, "mine.py")
    assert result.returncode == 0, result.stderr[-3000:]
    assert operations(result)["windows.tls_strong_crypto"]["success"] == ["@fake/broken"]


# --- Control.evaluate catches data errors only ------------------------------------------------


def _control(check) -> Control:
    return Control("test.control", "a test control", "linux", False, (), check)


def test_evaluate_turns_unreadable_data_into_an_error_finding():
    finding = _control(lambda observation, settings: observation["missing"]).evaluate({}, None)
    assert finding.status.value == "error" and "KeyError" in finding.summary


def test_evaluate_lets_a_programming_error_crash():
    with pytest.raises(TypeError):
        _control(lambda observation, settings: error("x", wrong=1)).evaluate({}, None)
    assert _control(lambda o, s: passed("ok")).evaluate({}, None).status.value == "pass"


def test_a_missing_waagent_conf_is_named_not_a_crash():
    from bcdrfix.controls import REGISTRY

    settings = load_settings({})
    finding = REGISTRY.get("linux.waagent_conf").evaluate({"waagent_conf": None}, settings)
    assert finding.status.value == "error"
    assert finding.summary.startswith("/etc/waagent.conf is missing")
