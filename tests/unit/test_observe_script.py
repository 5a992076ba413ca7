"""The batched observation script: probes run as shell functions (no fork each), and a probe that
ends the shell cannot pass for an empty result."""

from __future__ import annotations

import subprocess

import pytest

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
