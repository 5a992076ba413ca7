"""Parsing what a Windows host reports (hand-written samples, see fixtures/README.md)."""

import pytest

from bcdrfix.windows.facts import (
    SECTIONS,
    WindowsObservation,
    build_script,
    parse_observation,
    parse_vss_writers,
)

from .helpers import load_fixture_lines, observation_output, syntax_problems


def by_name(writers):
    return {w["name"]: w for w in writers}


def test_vssadmin_english_sample_with_irregular_whitespace():
    writers = by_name(parse_vss_writers(load_fixture_lines("vssadmin_mixed.txt")))
    assert len(writers) == 8
    sql = writers["SqlServerWriter"]
    assert (
        sql["writer_id"],
        sql["state"],
        sql["state_text"],
        sql["last_error"],
        sql["last_error_ok"],
    ) == ("a65faa63-5ea8-4ebc-9dbd-a0c4db26912a", 8, "Failed", "Timed out", False)
    assert sql["instance_id"] == "3b1d8a4e-7c58-4b8e-a2f4-0c8a5a1e9f11"
    system = writers["System Writer"]  # tab-indented block
    assert (system["state"], system["last_error"], system["last_error_ok"]) == (
        1,
        "Retryable error",
        False,
    )
    assert writers["Registry Writer"]["state"] == 5
    assert writers["WMI Writer"]["last_error_ok"] is True
    assert writers["Contoso Ledger Writer"]["state"] == 9


def test_vssadmin_localized_labels_are_parsed_by_structure():
    writers = by_name(parse_vss_writers(load_fixture_lines("vssadmin_ja.txt")))
    assert set(writers) == {"System Writer", "WMI Writer", "SqlServerWriter", "Registry Writer"}
    assert writers["System Writer"]["writer_id"] == "e8132975-6f93-4464-a53e-1050253ae220"
    assert writers["Registry Writer"]["state"] == 7
    # "エラーなし" is a known "no error" text; a text bcdrfix does not know is unknown (None):
    # reported, never acted on.
    assert writers["System Writer"]["last_error_ok"] is True
    assert writers["SqlServerWriter"]["last_error_ok"] is None


def test_vssadmin_access_denied_yields_no_writers():
    assert parse_vss_writers(load_fixture_lines("vssadmin_denied.txt")) == []


def test_observation_json_becomes_lookups(broken_observation):
    services = broken_observation["services"]
    assert services["windowsazureguestagent"]["state"] == "Stopped"
    assert services["mssqlserver"]["account"] == "NT Service\\MSSQLSERVER"
    key = "hkey_local_machine\\system\\currentcontrolset\\services\\msiserver\\start"
    assert broken_observation["registry"][key]["data"] == 4
    assert broken_observation["vss_writers"]["writers"][2]["name"] == "SqlServerWriter"
    assert broken_observation["defender"]["exclusion_paths"] == ["C:\\Temp"]


def test_section_errors_are_kept_as_data():
    output = [
        '{"schema":1,"defender":{"error":"The term \'Get-MpPreference\' is not recognized"},'
        '"services":{"items":[]}}'
    ]
    observation = parse_observation(output)
    assert observation["defender"] == {"error": "The term 'Get-MpPreference' is not recognized"}
    assert observation["services"] == {}


def test_noise_before_the_json_is_ignored():
    assert parse_observation(["WARNING: something", '{"schema":1,"dhcp":{"adapters":[]}}'])[
        "dhcp"
    ] == {"adapters": []}


def test_no_json_is_a_host_error_not_a_crash():
    observation = parse_observation(["Access is denied."])
    assert observation["observation_error"] == (
        "unreadable observation output (no JSON); it printed 'Access is denied.'"
    )


def test_one_script_for_all_sections_parses():
    script = WindowsObservation().command(sections=tuple(SECTIONS), request={"services": ["VSS"]})
    assert syntax_problems(script) == []
    for name in SECTIONS:
        assert f"Invoke-BcdrfixSection '{name}'" in script
    assert script.count("ConvertTo-Json") == 1


def test_only_requested_sections_are_in_the_script():
    script = build_script(["dhcp"], {})
    assert "'dhcp'" in script and "'vss_writers'" not in script


def test_unknown_section_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        build_script(["bogus"], {})


def test_fixture_round_trip_matches_the_output_format():
    # The healthy fixture parses to the same structure the controls read.
    observation = parse_observation(observation_output("healthy"))
    assert observation["platform"] == "windows"
    assert observation["vss_writers"]["writers"] and all(
        w["state"] == 1 and w["last_error_ok"] for w in observation["vss_writers"]["writers"]
    )
