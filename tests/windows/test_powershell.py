"""bcdrfix.windows.powershell: every string stays one literal, whatever it contains."""

import pytest

from bcdrfix.windows import powershell

from .helpers import HOSTILE, syntax_problems, verbatim_strings


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_keeps_any_string_literal(value):
    script = f"$Value = {powershell.quote(value)}\nWrite-Output $Value"
    assert syntax_problems(script) == []
    assert verbatim_strings(script) == [value]


def test_quote_doubles_every_single_quote_form():
    assert powershell.quote("it's") == "'it''s'"
    assert powershell.quote("\u2019") == "'\u2019\u2019'"
    assert powershell.quote("$x `y` ;") == "'$x `y` ;'"


@pytest.mark.parametrize("bad", ["nul\0byte", "lone \ud800 surrogate"])
def test_quote_refuses_what_cannot_travel(bad):
    with pytest.raises(powershell.PowerShellQuoteError):
        powershell.quote(bad)


def test_quote_refuses_non_strings():
    with pytest.raises(powershell.PowerShellQuoteError):
        powershell.quote(5)


def test_literals_for_python_values():
    assert powershell.literal(True) == "$true"
    assert powershell.literal(None) == "$null"
    assert powershell.literal(7) == "7"
    assert powershell.literal(["a"]) == "@(,'a')"
    assert powershell.literal([["a", "b"]]) == "@(,@('a', 'b'))"
    assert powershell.literal({"k": "v"}) == "[ordered]@{'k' = 'v'}"


@pytest.mark.parametrize("value", HOSTILE)
def test_script_variables_carry_hostile_values(value):
    script = powershell.script(
        "Write-Output $A $B", {"A": value, "B": [value, value], "C": {value: value}}
    )
    assert syntax_problems(script) == []
    assert verbatim_strings(script).count(value) == 5


@pytest.mark.parametrize("name", ["a b", "x;y", "$x", "1abc", ""])
def test_variable_names_must_be_identifiers(name):
    with pytest.raises(powershell.PowerShellQuoteError):
        powershell.assignments({name: "v"})


def test_json_literal_round_trips_through_the_quote():
    import json

    data = {"h": HOSTILE}
    script = f"$X = ConvertFrom-Json -InputObject {powershell.json_literal(data)}"
    assert syntax_problems(script) == []
    assert json.loads(verbatim_strings(script)[0]) == data
