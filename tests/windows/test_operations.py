"""Windows operations in pyinfra's own test style: given arguments and observed facts, the
expected commands, or the no-op message (specs in tests/windows/operations/<op>/<case>.json).

Each expected command names the operation module's constant script body and the variables it
receives; the command must be exactly ``powershell.script(body, variables)``.
"""

import json
from pathlib import Path

import pytest
from pyinfra.api.exceptions import OperationValueError

from bcdrfix.windows import operations as ops
from bcdrfix.windows import powershell

from .helpers import HOSTILE, run_operation, syntax_problems, verbatim_strings

SPECS = sorted((Path(__file__).parent / "operations").glob("*/*.json"))


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_operation_spec(spec_path):
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    op = getattr(ops, spec_path.parent.name)
    commands, noops = run_operation(op, **spec["args"])
    if "noop_description" in spec:
        assert commands == []
        assert noops == [spec["noop_description"]]
        return
    expected = [
        powershell.script(getattr(ops, c["body"]), c["variables"]) for c in spec["commands"]
    ]
    assert commands == expected
    assert noops == []
    for command in commands:
        assert syntax_problems(command) == []


def test_specs_cover_every_operation():
    covered = {p.parent.name for p in SPECS}
    operations = {name for name in dir(ops) if hasattr(getattr(ops, name), "_inner")}
    assert operations <= covered


def test_second_run_is_a_noop_for_registry_and_service():
    path = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\BcdrAgent"
    commands, _ = run_operation(
        ops.registry_value, path=path, value_name="USEVSSCOPYBACKUP", value="TRUE", current=None
    )
    assert len(commands) == 1
    after = {"exists": True, "key_exists": True, "kind": "String", "data": "TRUE"}
    assert (
        run_operation(
            ops.registry_value,
            path=path,
            value_name="USEVSSCOPYBACKUP",
            value="TRUE",
            current=after,
        )[0]
        == []
    )


@pytest.mark.parametrize("path", ["HKEY_CURRENT_USER\\Software\\X", "SOFTWARE\\X", "HKLM\\"])
def test_registry_outside_hklm_is_refused(path):
    with pytest.raises(OperationValueError):
        run_operation(ops.registry_value, path=path, value_name="x", value="1")


def test_bad_registry_type_and_data_are_refused():
    with pytest.raises(OperationValueError, match="registry type"):
        run_operation(
            ops.registry_value,
            path="HKLM\\SOFTWARE\\X",
            value_name="x",
            value="1",
            kind="REG_BINARY",
        )
    with pytest.raises(OperationValueError, match="needs a number"):
        run_operation(
            ops.registry_value, path="HKLM\\SOFTWARE\\X", value_name="x", value="one", kind="DWord"
        )


def test_bad_thumbprint_is_refused():
    with pytest.raises(OperationValueError, match="thumbprint"):
        run_operation(
            ops.remove_certificates, thumbprints=["'; Remove-Item C:\\ -Recurse; '"], subject="x"
        )


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_stay_literal_in_every_operation(value):
    scripts = [
        ops.registry_value_script(
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\" + (value or "x"), value, value, "String"
        ),
        ops.registry_value_script(
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\X", value, [value, value], "MultiString"
        ),
        *[
            s
            for _w, s in ops.service_scripts(
                value, running=True, mode="Automatic", account=value, current={}
            )
        ],
        ops.service_restart_script(value),
        ops.vss_writers_verify_script([value], [value]),
        ops.defender_exclusions_script([value]),
    ]
    if value:  # an empty certificate subject is refused (test_empty_certificate_subject_...)
        scripts.append(ops.remove_certificate_script("A" * 40, value))
    for script in scripts:
        assert syntax_problems(script) == [], script
        assert value in verbatim_strings(script) or (value == "" and "''" in script)
