"""Desired-state validation: wrong values fail with one line naming host, setting and value."""

from __future__ import annotations

import pytest

from bcdrfix.controls import load_settings
from bcdrfix.core.settings import SettingsError
from bcdrfix.linux.agent_settings import waagent_desired


def test_defaults_are_valid_and_documented_in_group_data(repo):
    settings = load_settings({})
    # Only what the articles need: an admin's Logs.Verbose / Provisioning.Agent stay (issue 10).
    assert waagent_desired(settings) == {"Extensions.Enabled": "y"}
    group_data = (repo / "group_data" / "linux.py").read_text() + (
        repo / "group_data" / "all.py"
    ).read_text()
    for name in (
        "bcdrfix_waagent_conf",
        "bcdrfix_agent_verbose_logs",
        "bcdrfix_agent_unit",
        "bcdrfix_agent_min_version",
        "bcdrfix_agent_upgrade",
        "bcdrfix_allow_disruptive",
    ):
        assert name in group_data


def test_group_data_files_load_and_validate(repo):
    data = {}
    for name in ("all.py", "linux.py"):
        exec((repo / "group_data" / name).read_text(), {}, data)
    load_settings({k: v for k, v in data.items() if k.startswith("bcdrfix_")})


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"bcdrfix_waagent_conf": {"Logs.Verbose": "maybe"}},
            "host vm1: bcdrfix_waagent_conf: Logs.Verbose='maybe': expected y or n",
        ),
        (
            {"bcdrfix_allow_disruptive": "perhaps"},
            "host vm1: bcdrfix_allow_disruptive='perhaps': expected a boolean",
        ),
        ({"bcdrfix_agent_min_version": "latest"}, "expected a dotted version"),
        ({"bcdrfix_agent_unit": "agent"}, "expected one of walinuxagent, waagent"),
        ({"bcdrfix_waagent_conf_path": "etc/waagent.conf"}, "expected an absolute path"),
        ({"bcdrfix_allow_disruptiv": True}, "unknown setting bcdrfix_allow_disruptiv"),
        ({"bcdrfix_skip_controls": ["linux.nope"]}, "unknown control 'linux.nope'"),
    ],
)
def test_bad_values_fail_with_one_line(data, message):
    with pytest.raises(SettingsError) as info:
        load_settings(data, "vm1")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_strings_from_the_command_line_are_accepted():
    settings = load_settings(
        {
            "bcdrfix_agent_verbose_logs": "y",
            "bcdrfix_allow_disruptive": "true",
            "bcdrfix_agent_restart_sec": "10",
        }
    )
    assert waagent_desired(settings)["Logs.Verbose"] == "y"
    assert settings.allow_disruptive is True and settings.agent_restart_sec == 10
