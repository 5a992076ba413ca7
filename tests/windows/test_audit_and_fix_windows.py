"""``bcdrfix audit`` and ``bcdrfix fix --code`` on Windows hosts, end to end through the CLI.

The hosts are pyinfra ``@fake`` hosts built as in test_deploys_fake.py: they answer bcdrfix's
observation script with the hand-written fixtures (a broken and a healthy VM) and every other
command with success. What the tests read is what a user or the connector sees: the exit
status, the JSON report (validated against the schema bcdrfix ships), the per-host fix report,
and every command the fake connector received (recorded from the connector's own log, see
``helpers.run_bcdrfix``).
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from bcdrfix.audit.engine import audit_controls
from bcdrfix.catalog import load_catalog
from bcdrfix.controls import REGISTRY, load_settings
from bcdrfix.reports.json_report import SCHEMA_PATH
from bcdrfix.windows import operations as ops
from bcdrfix.windows.facts import MARKER, NO_ERROR_TEXTS, SECTIONS

from .helpers import (
    observation_response,
    run_bcdrfix,
    syntax_problems,
    verbatim_strings,
    write_inventory,
)

HOSTS = {"broken": observation_response("broken"), "healthy": observation_response("healthy")}
VSS_CODE = "ExtensionFailedVssWriterInBadState"
TLS_CODE = "ExtensionSnapshotFailedNoSecureNetwork"
HKLM = "HKEY_LOCAL_MACHINE\\"
PERSISTENT_KEYS = HKLM + "SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys"

# The broken fixture, control by control, as the audit must judge it (disruptive fixes wait for
# approval: the audit never passes bcdrfix_allow_disruptive).
BROKEN_STATUSES = {
    "windows.agent_services": "fail",
    "windows.agent_version": "fail",
    "windows.dotnet_version": "pass",
    "windows.iaasvmprovider": "fail",
    "windows.comsysapp": "fail",
    "windows.msdtc_account": "fail",
    "windows.vss_writers": "needs-approval",
    "windows.vss_service": "pass",
    # only fix --code for its codes (or an explicit setting) asks for BcdrAgentPersistentKeys
    "windows.bcdr_snapshot_keys": "not-applicable",
    # the broken VM runs SQL Server but is not marked as a SQL Server backup host
    "windows.sql_vss_copy_backup": "not-applicable",
    "windows.tls_strong_crypto": "fail",
    "windows.msiserver": "fail",
    "windows.machinekeys_acl": "needs-approval",
    "windows.crp_certificates": "needs-approval",
    "windows.defender_exclusions": "fail",
    "windows.bitlocker": "fail",
    "windows.dhcp": "fail",
    "windows.connectivity": "fail",
}

# Nothing asks for the snapshot keys or marks the healthy VM as a SQL Server backup host.
HEALTHY_STATUSES = {
    **dict.fromkeys(BROKEN_STATUSES, "pass"),
    "windows.bcdr_snapshot_keys": "not-applicable",
    "windows.sql_vss_copy_backup": "not-applicable",
}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "windows_fleet.py"
    write_inventory(path, HOSTS)
    return path


def is_observation(command: str) -> bool:
    return command.startswith(MARKER)


# --- audit --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audit(inventory, tmp_path_factory):
    """One ``bcdrfix audit`` of both hosts: (process, report document, commands per host)."""
    tmp_path = tmp_path_factory.mktemp("audit")
    report = tmp_path / "report.json"
    result, commands = run_bcdrfix(tmp_path, "audit", str(inventory), "--report", str(report))
    assert report.is_file(), result.stdout + result.stderr
    return result, json.loads(report.read_text(encoding="utf-8")), commands


def results_of(document: dict, host: str) -> dict[str, dict]:
    return {r["control"]: r for r in document["results"] if r["host"] == f"@fake/{host}"}


def test_audit_costs_one_powershell_invocation_per_windows_host(audit):
    _, _, commands = audit
    assert sorted(commands) == ["broken", "healthy"]
    for host, received in commands.items():
        assert len(received) == 1, (host, [c.splitlines()[0] for c in received])
        (script,) = received
        assert is_observation(script)
        assert syntax_problems(script) == []
    # That one script gathers what every audited control reads.
    needed = {probe for c in audit_controls("windows", load_settings({})) for probe in c.probes}
    ran = {name for name in SECTIONS if f"Invoke-BcdrfixSection '{name}'" in commands["broken"][0]}
    # "system" always runs (is the session elevated?), "guest_status" reads the last backup result
    assert ran == needed | {"system", "guest_status"}


def test_audit_judges_every_control_of_the_broken_host_with_evidence_and_codes(audit):
    _, document, _ = audit
    results = results_of(document, "broken")
    assert {cid: r["status"] for cid, r in results.items()} == BROKEN_STATUSES
    for control_id, result in results.items():
        assert result["codes"] == list(load_catalog(REGISTRY).codes_for_control(control_id))
        assert result["summary"]
        if result["status"] not in ("pass", "not-applicable"):
            assert result["observed"] is not None and result["desired"] is not None, control_id
    # The codes users search for lead to the controls that prevent them.
    assert results["windows.vss_writers"]["codes"] == [VSS_CODE]
    assert results["windows.tls_strong_crypto"]["codes"] == [TLS_CODE]
    assert results["windows.machinekeys_acl"]["codes"] == ["ExtensionConfigParsingFailure"]
    # Evidence is what the host reported, not a paraphrase.
    assert (
        results["windows.agent_services"]["observed"]["WindowsAzureGuestAgent"]["state"]
        == "Stopped"
    )
    assert results["windows.agent_version"]["observed"]["version"] == "2.7.41491.1009"
    assert (
        "'SqlServerWriter' [8] Failed / Timed out"
        in results["windows.vss_writers"]["observed"]["not_stable"]
    )
    assert "restart SQLWriter (for SqlServerWriter)" in results["windows.vss_writers"]["summary"]
    # the service manager's start type is what counts; the registry value is shown beside it
    assert results["windows.msiserver"]["observed"] == {
        "start_mode": "Disabled",
        "registry_start": 4,
    }
    assert results["windows.bitlocker"]["observed"]["F:"] == "Locked"
    assert results["windows.dotnet_version"]["observed"] == {"Release": 378675}


def test_audit_points_findings_at_their_fix_and_asks_approval_for_disruptive_ones(audit, inventory):
    _, document, _ = audit
    results = results_of(document, "broken")
    vss = results["windows.vss_writers"]["fix"]
    assert vss == (
        f"pyinfra {inventory} bcdrfix.deploys.windows_vss --limit @fake/broken -y "
        "--data bcdrfix_allow_disruptive=true"
    )
    assert results["windows.tls_strong_crypto"]["fix"] == (
        f"pyinfra {inventory} bcdrfix.deploys.windows_tls --limit @fake/broken -y"
    )
    assert results["windows.dotnet_version"]["fix"] is None
    hosts = {h["name"]: h for h in document["hosts"]}
    assert vss in hosts["@fake/broken"]["fix_commands"]


def test_audit_table_shows_every_status_in_an_80_column_terminal(audit):
    result, document, _ = audit
    symbols = {"pass": "✔", "fail": "✘", "needs-approval": "!", "not-applicable": "–"}
    order = [c["id"] for c in document["controls"]]
    for host, statuses in (
        ("broken", BROKEN_STATUSES),
        ("healthy", HEALTHY_STATUSES),
    ):
        (row,) = [
            line for line in result.stdout.splitlines() if f"@fake/{host}" in line and "│" in line
        ]
        cells = [cell.strip() for cell in row.split("│")[2:-2]]
        assert cells == [symbols[statuses[c]] for c in order], row
        assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_audit_passes_the_healthy_host(audit):
    _, document, _ = audit
    results = results_of(document, "healthy")
    assert set(results) == set(BROKEN_STATUSES)
    assert {cid: r["status"] for cid, r in results.items()} == HEALTHY_STATUSES, {
        cid: r["summary"] for cid, r in results.items() if r["status"] != "pass"
    }
    hosts = {h["name"]: h for h in document["hosts"]}
    assert (
        hosts["@fake/healthy"]["state"] == "audited"
        and hosts["@fake/healthy"]["fix_commands"] == []
    )
    assert hosts["@fake/healthy"]["platform"] == "windows"


def test_audit_report_is_valid_against_the_shipped_schema_and_exits_1_on_findings(audit):
    result, document, _ = audit
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))).validate(
        document
    )
    assert document["summary"]["compliant"] == 1 and document["summary"]["with_findings"] == 1
    assert document["summary"]["exit_status"] == 1
    assert result.returncode == 1, result.stdout + result.stderr


def test_audit_of_only_healthy_hosts_exits_0(inventory, tmp_path):
    report = tmp_path / "healthy.json"
    result, commands = run_bcdrfix(
        tmp_path,
        "audit",
        str(inventory),
        "--limit",
        "@fake/healthy",
        "--report",
        str(report),
        "--quiet",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))).validate(
        document
    )
    assert [h["name"] for h in document["hosts"]] == ["@fake/healthy"]
    assert document["summary"]["with_findings"] == 0
    assert list(commands) == ["healthy"] and len(commands["healthy"]) == 1


# --- fix by code --------------------------------------------------------------------------------


def fix(inventory, tmp_path, code: str, *extra: str) -> tuple[int, dict, dict[str, list[str]]]:
    result, commands = run_bcdrfix(
        tmp_path, "fix", str(inventory), "--code", code, "--json", *extra
    )
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout), commands


def outcomes(report: dict, host: str) -> dict[str, str]:
    (entry,) = [h for h in report["hosts"] if h["name"] == f"@fake/{host}"]
    assert entry["reachable"] and entry["error"] is None, entry
    return {o["control"]: o["outcome"] for o in entry["outcomes"]}


def snapshot_key_scripts() -> list[str]:
    """The BcdrAgentPersistentKeys write the VSS code's article asks for (step 2), as the operation
    builds it: SnapshotWithoutThreads only."""
    return [ops.registry_value_script(PERSISTENT_KEYS, "SnapshotWithoutThreads", "True", "String")]


def restarts_in(commands: list[str]) -> list[str]:
    """The commands that stop or restart a service."""
    bodies = [ops.SERVICE_RESTART, ops.SERVICE_STOP, ops.MSDTC_REINSTALL]
    return [c for c in commands if any(body.strip("\n") in c for body in bodies)]


def test_fix_vss_code_without_opt_in_restarts_nothing_and_asks_approval(inventory, tmp_path):
    status, report, commands = fix(inventory, tmp_path, VSS_CODE)
    assert status == 1  # something waits for approval (like an audit finding)
    assert report["codes"] == [VSS_CODE]
    assert outcomes(report, "broken") == {
        "windows.vss_writers": "needs-approval",
        "windows.bcdr_snapshot_keys": "changed",
    }
    (vss,) = [
        o
        for h in report["hosts"]
        for o in h["outcomes"]
        if h["name"] == "@fake/broken" and o["control"] == "windows.vss_writers"
    ]
    assert (
        "would restart SQLWriter (for SqlServerWriter); restart CryptSvc (for System Writer)"
        in vss["summary"]
    )
    assert "--allow-disruptive" in vss["summary"]
    broken = commands["broken"]
    assert is_observation(broken[0]) and sum(map(is_observation, broken)) == 1
    assert restarts_in(broken) == []
    assert broken[1:] == snapshot_key_scripts()
    assert commands["healthy"] == commands["healthy"][:1] and is_observation(commands["healthy"][0])
    assert outcomes(report, "healthy") == {
        "windows.vss_writers": "already-right",
        "windows.bcdr_snapshot_keys": "already-right",
    }


def test_fix_vss_code_with_opt_in_sends_exactly_the_writer_service_restarts(inventory, tmp_path):
    status, report, commands = fix(inventory, tmp_path, VSS_CODE, "--allow-disruptive")
    # The writer with no known service is left to a person: the run says so and exits 1.
    assert status == 1, report
    assert outcomes(report, "broken") == {
        "windows.vss_writers": "changed-rest-by-hand",
        "windows.bcdr_snapshot_keys": "changed",
    }
    broken = commands["broken"]
    assert is_observation(broken[0]) and sum(map(is_observation, broken)) == 1
    wait = load_settings({}).windows_service_wait
    restarts = [
        ops.service_restart_script("SQLWriter", wait),
        ops.service_restart_script("CryptSvc", wait),
    ]
    # the writers are read again after the restarts: one still failing fails the fix
    verify = ops.vss_writers_verify_script(
        ["SqlServerWriter", "System Writer"],
        NO_ERROR_TEXTS,
        wait,
        load_settings({}).windows_vssadmin_timeout,
    )
    assert broken[1:] == restarts + [verify] + snapshot_key_scripts()
    assert restarts_in(broken) == restarts
    for script, service in zip(restarts, ("SQLWriter", "CryptSvc")):
        assert syntax_problems(script) == []
        assert service in verbatim_strings(script)
    # Writers with no known service or waiting for a shadow copy are reported, never guessed at.
    assert not any("Contoso" in c or "'VSS'" in c for c in broken)
    (vss,) = [
        o
        for h in report["hosts"]
        for o in h["outcomes"]
        if h["name"] == "@fake/broken" and o["control"] == "windows.vss_writers"
    ]
    assert "by hand:" in vss["summary"] and "Contoso Ledger Writer" in vss["summary"]
    assert vss["steps"][:2] == [
        "Restart SQLWriter for VSS writer(s) SqlServerWriter",
        "Restart CryptSvc for VSS writer(s) System Writer",
    ]
    assert len(commands["healthy"]) == 1 and is_observation(commands["healthy"][0])
    assert set(outcomes(report, "healthy").values()) == {"already-right"}


def test_fix_tls_code_sets_strong_crypto_on_the_broken_host_only(inventory, tmp_path):
    status, report, commands = fix(inventory, tmp_path, TLS_CODE)
    assert status == 0, report
    assert outcomes(report, "broken") == {"windows.tls_strong_crypto": "changed"}
    assert outcomes(report, "healthy") == {"windows.tls_strong_crypto": "already-right"}
    expected = [
        ops.registry_value_script(HKLM + key, "SchUseStrongCrypto", 1, "DWord")
        for key in (
            "SOFTWARE\\Microsoft\\.NETFramework\\v2.0.50727",
            "SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319",
            "SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319",
        )
    ]
    broken = commands["broken"]
    assert is_observation(broken[0]) and broken[1:] == expected
    assert all(syntax_problems(c) == [] for c in broken)
    assert len(commands["healthy"]) == 1 and is_observation(commands["healthy"][0])
