"""The waagent.conf editor against the agent's parse rules, our fault fixtures and every distro file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bcdrfix.linux import waagent_conf
from bcdrfix.linux.waagent_conf import edit, inspect, normalise_desired, parse

DESIRED = {"Extensions.Enabled": "y", "Provisioning.Agent": "auto", "Logs.Verbose": "n"}

BASE = """\
#
# Microsoft Azure Linux Agent Configuration (bcdrfix test fixture)
#
Extensions.Enabled=y
Provisioning.Agent=auto
ResourceDisk.Format=y
ResourceDisk.MountOptions=None
Logs.Verbose=n
OS.SshDir=/etc/ssh
"""

# One fixture per lab fault that touches the file (written by hand, not copied from the agent).
FAULTS = {
    "extensions-disabled": BASE.replace("Extensions.Enabled=y", "Extensions.Enabled=n"),
    "article-key": BASE.replace("Extensions.Enabled=y", "Extensions.Enable=y"),
    "duplicate-keys": BASE + "Extensions.Enabled=n\n",
    "keys-missing": BASE.replace("Extensions.Enabled=y\n", "").replace(
        "Provisioning.Agent=auto\n", ""
    ),
    "messy-syntax": BASE.replace(
        "Extensions.Enabled=y", 'Extensions.Enabled = "n"  # disabled by hand'
    ).replace("Provisioning.Agent=auto", 'Provisioning.Agent =  "cloud-init" # image build'),
    "verbose-on": BASE.replace("Logs.Verbose=n", "Logs.Verbose=y"),
    "no-trailing-newline": BASE.rstrip("\n").replace("Logs.Verbose=n", "Logs.Verbose=y"),
}

SHARED_CONFIGS = sorted(
    (Path(__file__).resolve().parents[3] / "shared/data/walinuxagent/config").glob("*.conf")
)


def agent_reads(text: str) -> dict:
    """The values the agent would use for the desired keys."""
    values = parse(text)
    return {key: values.get(key) for key in DESIRED}


def unrelated(text: str) -> dict:
    return {k: v for k, v in parse(text).items() if k not in DESIRED and k != "Extensions.Enable"}


def assert_edit_is_right(original: str) -> str:
    result = edit(original, DESIRED)
    assert agent_reads(result) == DESIRED
    assert unrelated(result) == unrelated(original)
    # exactly one effective line per desired key
    for key in DESIRED:
        assert [line.key for line in waagent_conf.parse_lines(result)].count(key) == 1, key
    # every original comment line is still there, unchanged
    result_lines = result.split("\n")
    for line in original.split("\n"):
        if line.startswith("#"):
            assert line in result_lines
    # idempotent
    assert edit(result, DESIRED) == result
    assert all(state.compliant for state in inspect(result, DESIRED))
    return result


def test_parse_follows_the_agent():
    text = (
        'A = "x" # comment\n'
        "#B=commented\n"
        " #C=indented hash is a key\n"
        "D=None\n"
        "E=1\nE=2\n"
        "no equals sign\n"
    )
    assert parse(text) == {"A": "x", "#C": "indented hash is a key", "D": None, "E": "2"}


def test_compliant_file_is_left_byte_for_byte():
    assert edit(BASE, DESIRED) == BASE
    assert all(state.compliant for state in inspect(BASE, DESIRED))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_fixed(fault):
    original = FAULTS[fault]
    assert not all(state.compliant for state in inspect(original, DESIRED))
    assert_edit_is_right(original)


def test_duplicate_keeps_position_of_last_and_comments_earlier():
    result = edit(FAULTS["duplicate-keys"], DESIRED)
    lines = result.split("\n")
    assert "# bcdrfix: duplicate, superseded below: Extensions.Enabled=y" in lines
    assert lines[-2] == "Extensions.Enabled=y"


def test_misspelled_key_is_rewritten_in_place():
    original = FAULTS["article-key"]
    result = edit(original, DESIRED)
    assert original.split("\n").index("Extensions.Enable=y") == result.split("\n").index(
        "Extensions.Enabled=y"
    )


def test_inline_comment_is_kept_when_a_value_changes():
    result = edit(FAULTS["messy-syntax"], DESIRED)
    assert "Extensions.Enabled=y # disabled by hand" in result.split("\n")


def test_indented_hash_line_is_another_key_and_left_alone():
    text = BASE + " # Extensions.Enabled=n\n"
    assert edit(text, DESIRED) == text


def test_crlf_file_stays_crlf():
    original = (
        FAULTS["keys-missing"].replace("Logs.Verbose=n", "Logs.Verbose=y").replace("\n", "\r\n")
    )
    result = assert_edit_is_right(original)
    assert result.count("\r\n") == result.count("\n")


def test_switch_case_does_not_count_as_a_change():
    text = BASE.replace("Extensions.Enabled=y", "Extensions.Enabled=Y")
    assert edit(text, DESIRED) == text


DISTRO_FILES = [pytest.param(p, id=p.name) for p in SHARED_CONFIGS] or [
    pytest.param(None, marks=pytest.mark.skip(reason="../shared/data is not beside this checkout"))
]


@pytest.mark.parametrize("path", DISTRO_FILES)
def test_every_distro_file(path):
    assert_edit_is_right(path.read_text())


def test_distro_files_are_present_when_shared_data_exists():
    shared = Path(__file__).resolve().parents[3] / "shared/data/walinuxagent/config"
    if shared.exists():
        assert len(SHARED_CONFIGS) >= 10


@pytest.mark.parametrize(
    "desired, message",
    [
        ({"Logs.Verbose": "maybe"}, "Logs.Verbose='maybe': expected y or n"),
        ({"Provisioning.Agent": "yes"}, "expected one of auto, waagent, cloud-init, disabled"),
        ({"Provisioning.Enabled": "y"}, "removed from the agent in 2.2.45"),
        ({"Extensions.Enabled": "y # sneaky"}, "must not contain"),
        ({"Bad Key": "y"}, "is not a waagent.conf key"),
        ({"HttpProxy.Port": "80; rm -rf /"}, "not a valid value"),
        ({"Extensions.Enable": "y", "Extensions.Enabled": "n"}, "given twice"),
    ],
)
def test_bad_desired_values_are_refused(desired, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normalise_desired(desired)


def test_article_spelling_and_booleans_are_normalised():
    assert normalise_desired({"Extensions.Enable": True, "Logs.Verbose": "N"}) == {
        "Extensions.Enabled": "y",
        "Logs.Verbose": "n",
    }
