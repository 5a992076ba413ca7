"""Registry controls: backup extension keys, SQL copy backups, TLS for .NET, Windows Installer."""

from __future__ import annotations

from typing import Any

from bcdrfix.core.model import (
    Finding,
    Step,
    error,
    failed,
    not_applicable,
    passed,
)
from bcdrfix.windows import operations as ops
from bcdrfix.windows.controls.base import (
    BCDR_AGENT_KEY,
    BCDR_PERSISTENT_KEYS,
    HKLM,
    MSISERVER_KEY,
    NETFX_KEYS,
    _guard,
    _register,
    _section,
    on_request,
    registry_of,
    registry_step,
    service_of,
    service_step,
    snapshot_keys,
)

# --- backup extension registry keys -----------------------------------------------------------


def _registry_findings(observation, wanted: list[tuple[str, str, Any, str]]):
    observed, bad = {}, []
    for path, name, value, kind in wanted:
        current = registry_of(observation, path, name)
        observed[f"{path}\\{name}"] = (
            (current or {}).get("data") if (current or {}).get("exists") else None
        )
        if not ops.registry_matches(current, kind, value):
            shown = (
                "missing"
                if not (current or {}).get("exists")
                else f"{(current or {}).get('kind')} {(current or {}).get('data')!r}"
            )
            bad.append((path, name, value, kind, current, shown))
    return observed, bad


def _short(path: str) -> str:
    return path[len(HKLM) + 1 :] if path.startswith(HKLM + "\\") else path


def _registry_check(observation, wanted, ok_summary: str) -> Finding:
    observed, bad = _registry_findings(observation, wanted)
    desired = {f"{p}\\{n}": v for p, n, v, _k in wanted}
    if bad:
        return failed(
            "; ".join(
                f"{_short(p)}\\{n} is {shown} (wanted {k} {v!r})" for p, n, v, k, _c, shown in bad
            ),
            observed,
            desired,
            bad=[(p, n, v, k) for p, n, v, k, _c, _s in bad],
        )
    return passed(ok_summary, observed, desired)


def _registry_fix(observation, settings, finding: Finding) -> list[Step]:
    return [
        registry_step(
            path,
            name,
            value,
            kind,
            registry_of(observation, path, name),
            f"Set {_short(path)}\\{name}",
        )
        for path, name, value, kind in finding.plan.get("bad", ())
    ]


@_guard
def check_bcdr_snapshot_keys(observation, settings) -> Finding:
    keys = snapshot_keys(settings)
    if not keys:
        return not_applicable(
            "no BcdrAgentPersistentKeys value asked for (fix --code sets the ones its article "
            "names; or set bcdrfix_bcdr_snapshot_keys)"
        )
    wanted = [(BCDR_PERSISTENT_KEYS, name, value, "String") for name, value in keys.items()]
    return _registry_check(
        observation,
        wanted,
        "BcdrAgentPersistentKeys: " + ", ".join(f"{k}={v}" for k, v in keys.items()),
    )


_register(
    id="windows.bcdr_snapshot_keys",
    title="Backup extension snapshot keys are set",
    disruptive=False,
    probes=("registry",),
    check=check_bcdr_snapshot_keys,
    fix=_registry_fix,
    description="SnapshotWithoutThreads (ExtensionFailedVssWriterInBadState), SnapshotMethod and "
    "CalculateSnapshotTimeFromHost (ExtensionFailedTimeoutVMNetworkUnresponsive), REG_SZ, only "
    "for those codes or when set explicitly.",
)


def sql_server_services(observation) -> list[str]:
    return sorted(
        s["name"]
        for key, s in _section(observation, "services").items()
        if key == "mssqlserver" or key.startswith("mssql$")
    )


@_guard
def check_sql_vss_copy_backup(observation, settings) -> Finding:
    if not settings.sql_backup_host:
        return not_applicable(
            "not marked as a SQL Server backup host (set bcdrfix_sql_backup_host=true)"
        )
    sql = sql_server_services(observation)
    return _registry_check(
        observation,
        [(BCDR_AGENT_KEY, "USEVSSCOPYBACKUP", "TRUE", "String")],
        f"USEVSSCOPYBACKUP=TRUE (SQL Server backup host; services: {', '.join(sql) or 'none seen'})",
    )


_register(
    id="windows.sql_vss_copy_backup",
    title="VSS copy backups on SQL Server backup hosts",
    disruptive=False,
    probes=("registry", "services"),
    check=check_sql_vss_copy_backup,
    fix=_registry_fix,
    description="HKLM\\SOFTWARE\\Microsoft\\BcdrAgent USEVSSCOPYBACKUP=TRUE on hosts marked with "
    "bcdrfix_sql_backup_host, so that the snapshot does not truncate SQL Server log chains.",
)


@_guard
def check_tls_strong_crypto(observation, settings) -> Finding:
    if not settings.tls_strong_crypto:
        return not_applicable("bcdrfix_tls_strong_crypto is false")
    present = [
        key
        for key in NETFX_KEYS
        if (registry_of(observation, key, "SchUseStrongCrypto") or {}).get("key_exists")
    ]
    if not present:
        return not_applicable("no .NET Framework registry key found")
    wanted = [(key, "SchUseStrongCrypto", 1, "DWord") for key in present]
    return _registry_check(
        observation, wanted, f"SchUseStrongCrypto=1 for {len(present)} .NET Framework key(s)"
    )


_register(
    id="windows.tls_strong_crypto",
    title=".NET Framework uses strong cryptography (TLS 1.2)",
    disruptive=False,
    probes=("registry",),
    check=check_tls_strong_crypto,
    fix=_registry_fix,
    description="SchUseStrongCrypto=1 (DWORD) under each present .NETFramework\\v2.0.50727 and "
    "v4.0.30319 key, in both the 64-bit and the WOW6432Node view.",
)

# --- Windows Installer ------------------------------------------------------------------------


@_guard
def check_msiserver(observation, settings) -> Finding:
    """The service manager's start type decides; the registry value only changes it at boot."""
    service = service_of(observation, "msiserver")
    current = registry_of(observation, MSISERVER_KEY, "Start") or {}
    if service is None:
        return error("the msiserver service is not installed: Windows Installer is missing")
    observed = {
        "start_mode": service.get("start_mode"),
        "registry_start": current.get("data") if current.get("exists") else None,
    }
    desired = {"start_mode": "Manual"}
    if service.get("start_mode") != "Manual":
        return failed(
            f"msiserver starts {service.get('start_mode')} (wanted Manual); would set it "
            "through the service manager",
            observed,
            desired,
        )
    return passed("msiserver starts Manual (can start on demand)", observed, desired)


def fix_msiserver(observation, settings, finding: Finding) -> list[Step]:
    return [
        service_step(
            "msiserver",
            "Set msiserver to start Manual",
            service_of(observation, "msiserver"),
            settings,
            start_mode="Manual",
        )
    ]


_register(
    id="windows.msiserver",
    title="Windows Installer service can start (start type Manual)",
    disruptive=False,
    probes=("services", "registry"),
    check=check_msiserver,
    fix=fix_msiserver,
    description="Start type Manual (Start=3) set and read through the service manager, not the "
    "registry (a registry edit takes effect only after a reboot).",
)


check_msi_reregister = on_request(
    "msi_reregister",
    "msiexec re-registration",
    "would run msiexec /unregister, then msiexec /regserver",
    "re-registered",
)


def fix_msi_reregister(observation, settings, finding: Finding) -> list[Step]:
    return [
        Step(
            ops.msi_reregister,
            {
                "name": "Re-register the Windows Installer (msiexec)",
                "step_seconds": settings.windows_msiexec_timeout,
            },
        )
    ]


_register(
    id="windows.msi_reregister",
    title="Re-register msiexec on request",
    disruptive=True,
    probes=(),
    check=check_msi_reregister,
    fix=fix_msi_reregister,
    on_demand=True,
)
