"""The batched observation script: probes run as shell functions (no fork each), and a probe that
ends the shell cannot pass for an empty result."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import bcdrfix.controls  # noqa: F401  (registers the Linux probes)
from bcdrfix.core import observe
from bcdrfix.core.observe import Probe, Unreadable, build_script, parse_output


@pytest.fixture
def probes(monkeypatch):
    def add(name: str, script: str) -> None:
        monkeypatch.setitem(observe.PROBES, name, Probe(name, script, lambda lines: lines))

    return add


def run(names: list[str]) -> dict:
    out = subprocess.run(
        ["sh", "-c", build_script(names)], capture_output=True, text=True, timeout=30
    )
    return parse_output(out.stdout.splitlines())


def test_a_probe_that_ends_the_shell_leaves_itself_and_the_rest_unreadable(probes):
    probes("t_a_first", "echo one")
    probes("t_b_fatal", "echo partial; exit 3")
    probes("t_c_after", "echo never")
    result = run(["t_a_first", "t_b_fatal", "t_c_after"])
    assert result["t_a_first"] == ["one"]
    for name in ("t_b_fatal", "t_c_after"):  # not "no output", which a control could trust
        assert isinstance(result[name], Unreadable), name
        assert "stopped short" in result[name].reason


def test_probes_keep_their_positional_parameters_and_returning_early_is_fine(probes):
    probes("t_a_set", "set -- x y z; echo $#; return 0; echo unreachable")
    probes("t_b_count", "echo $#")
    result = run(["t_a_set", "t_b_count"])
    assert result == {**result, "t_a_set": ["3"], "t_b_count": ["0"]}


def test_the_observation_creates_no_process_per_probe(probes):
    """Ten probes made of shell builtins only: the script forks nothing for them."""
    for i in range(10):
        probes(f"t_{i}", f"x{i}=$((1 + {i})); printf '%s\\n' \"$x{i}\"")
    script = build_script([f"t_{i}" for i in range(10)])
    # every probe's output, and no `(` subshell wrapper in the script
    result = parse_output(
        subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout.splitlines()
    )
    assert [result[f"t_{i}"] for i in range(10)] == [[str(1 + i)] for i in range(10)]
    assert "\n( " not in script


def test_a_probe_that_leaves_ifs_or_globbing_changed_does_not_change_the_next(probes, tmp_path):
    (tmp_path / "a b").write_text("")
    probes("t_a_leaves", "IFS=:; set -f; x=1")
    probes("t_b_reads", f'v="p q"; set -- $v; echo $#; for f in {tmp_path}/a*; do echo "$f"; done')
    result = run(["t_a_leaves", "t_b_reads"])
    assert result["t_b_reads"] == ["2", f"{tmp_path}/a b"]


def agent_processes_alone(script: str, before: str = "") -> dict:
    """The agent_processes probe's findings for ``before`` + ``script`` run in a PID namespace
    of its own, where no agent runs (lab hosts share this machine's /proc)."""
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", before + script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode and "unshare" in out.stderr:
        pytest.skip(f"no PID namespace here: {out.stderr.strip()}")
    return parse_output(out.stdout.splitlines())["agent_processes"]


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_the_observing_shell_is_not_taken_for_the_agent():
    """The audit's script names the agent's options (-run-exthandlers) in its own text, and the
    shell running it has that text as its command line: it is not an agent process."""
    script = build_script(["agent_processes", "agent_version"])
    assert " -run-exthandlers" in script and " -daemon" not in script
    found = agent_processes_alone(script)
    assert (found["daemon"], found["exthandlers"]) == (False, False)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_an_agent_process_is_found_through_the_gathered_output():
    """The observation gathers its output by command substitution, which drops NUL bytes: the
    arguments of a command line still arrive apart."""
    daemon = "python3 -c 'import time; time.sleep(30)' /usr/sbin/waagent -daemon & sleep 0.3; "
    found = agent_processes_alone(build_script(["agent_processes"]), before=daemon)
    assert found["daemon"] and not found["exthandlers"]


def test_agent_processes_are_found_by_their_command_line():
    lines = [
        "@@ units",
        "walinuxagent.service loaded",
        "@@ self",
        "40 39",
        "@@ processes",
        "/proc/40/cmdline:sh -c echo waagent -run-exthandlers -daemon",
        "/proc/39/cmdline:sudo -H -n sh -c echo waagent -daemon",
        "/proc/7/cmdline:/usr/bin/python3\0-u\0/usr/sbin/waagent\0-daemon\0",
        "/proc/9/cmdline:python3\0-u\0bin/WALinuxAgent-2.9.1.1-py3.8.egg\0-run-exthandlers\0",
    ]
    found = observe.PROBES["agent_processes"].parse(lines)
    assert (found["daemon"], found["exthandlers"]) == (True, True)
    found = observe.PROBES["agent_processes"].parse(lines[:-2])
    assert (found["daemon"], found["exthandlers"]) == (False, False)


def test_an_observation_without_probes_still_runs():
    """The gathering function needs a command even when no probe is selected."""
    out = subprocess.run(["sh", "-c", build_script([])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert set(parse_output(out.stdout.splitlines())) == {"agent_unit", "has_systemd"}
