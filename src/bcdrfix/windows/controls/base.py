"""What every Windows control shares: the names Windows and the backup extension use, the
Windows settings, what the observation reads, and helpers that read the observation and build
steps. ``CONTROLS`` and ``SETTINGS`` are the Windows registry and settings table (the topic
modules register into them); ``bcdrfix.controls`` combines them with the other platforms' and
uses ``observe_windows`` as the Windows observer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    error,
    failed,
    not_applicable,
)
from bcdrfix.core.settings import (
    SettingsError,
    SettingsTable,
    as_bool,
    as_int_range,
    as_text,
    as_version,
)
from bcdrfix.windows import operations as ops
from bcdrfix.windows.facts import HKLM, WindowsObservation, registry_key

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()
define = SETTINGS.define

# --- what Windows and the backup extension use (REFERENCE section 4) -------------------------

AGENT_SERVICES = ("WindowsAzureGuestAgent", "RdAgent")
NETWORK_SERVICE = "NT AUTHORITY\\NetworkService"
NDP_V4_FULL = f"{HKLM}\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
BCDR_PERSISTENT_KEYS = f"{HKLM}\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys"
BCDR_AGENT_KEY = f"{HKLM}\\SOFTWARE\\Microsoft\\BcdrAgent"
MSISERVER_KEY = f"{HKLM}\\SYSTEM\\CurrentControlSet\\Services\\Msiserver"
NETFX_KEYS = tuple(
    f"{HKLM}\\SOFTWARE\\{view}Microsoft\\.NETFramework\\{version}"
    for view in ("", "WOW6432Node\\")
    for version in ("v2.0.50727", "v4.0.30319")
)
VMSNAPSHOT_FOLDERS = (
    "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
    "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
)
CRP_SUBJECT = "Windows Azure CRP Certificate Generator"

# Public lists; Microsoft does not publish one. Unknown writers are reported, never guessed.
WRITER_SERVICES = MappingProxyType(
    {
        "ASR Writer": "VSS",
        "COM+ REGDB Writer": "VSS",
        "Registry Writer": "VSS",
        "Shadow Copy Optimization Writer": "VSS",
        "BITS Writer": "BITS",
        "Certificate Authority": "CertSvc",
        "DFS Replication service writer": "DFSR",
        "DHCP Jet Writer": "DHCPServer",
        "FRS Writer": "NtFrs",
        "FSRM writer": "srmsvc",
        "IIS Config Writer": "AppHostSvc",
        "IIS Metabase Writer": "IISADMIN",
        "Microsoft Exchange Replica Writer": "MSExchangeRepl",
        "Microsoft Exchange Writer": "MSExchangeIS",
        "Microsoft Hyper-V VSS Writer": "vmms",
        "MSMQ Writer": "MSMQ",
        "MSSearch Service Writer": "WSearch",
        "NPS VSS Writer": "EventSystem",
        "NTDS": "NTDS",
        "SqlServerWriter": "SQLWriter",
        "System Writer": "CryptSvc",
        "TermServLicensing": "TermServLicensing",
        "WDS VSS Writer": "WDSServer",
        "WIDWriter": "WIDWriter",
        "WINS Jet Writer": "WINS",
        "WMI Writer": "Winmgmt",
        "Dedup Writer": "ddpvssvc",
    }
)
# Writer ids are stable across languages and versions: they name the writer when its name does not.
WRITER_IDS = MappingProxyType(
    {
        "e8132975-6f93-4464-a53e-1050253ae220": "System Writer",
        "a65faa63-5ea8-4ebc-9dbd-a0c4db26912a": "SqlServerWriter",
        "a6ad56c2-b509-4e6c-bb19-49d8f43532f0": "WMI Writer",
        "afbab4a2-367d-4d15-a586-71dbb18f8485": "Registry Writer",
        "2a40fd15-dfca-4aa8-a654-1f8c654603f6": "IIS Config Writer",
        "542da469-d3e1-473c-9f4f-7847f01fc64f": "COM+ REGDB Writer",
        "66841cd4-6ded-4f4b-8f17-fd23f8ddc3de": "Microsoft Hyper-V VSS Writer",
        "76fe1ac4-15f7-4bcd-987e-8e1acb462fb7": "Microsoft Exchange Writer",
        "d61d61c8-d73a-4eee-8cdd-f6f9786b7124": "Task Scheduler Writer",
    }
)

# --- settings ---------------------------------------------------------------------------------


def _as_windows_text_mapping(name: str, value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{name}: expected a mapping of names to values")
    result = {}
    for key, item in value.items():
        as_text(f"{name}[{key!r}]", key)
        result[str(key)] = as_text(f"{name}[{key!r}]", "" if item is None else item)
    return MappingProxyType(result)


_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:\\|\\\\[^\\]+\\[^\\]+)")


def _as_windows_paths(name: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or ())
    for item in items:
        as_text(name, item)
        if not _WINDOWS_PATH.match(item):
            raise SettingsError(
                f"{name}: {item!r} is not an absolute Windows path (C:\\... or \\\\server\\share)"
            )
    return tuple(items)


define(
    "bcdrfix_windows_agent_min_version",
    "2.7.41491.1010",
    as_version,
    "Lowest acceptable Windows guest agent version (the backup article says 2.6.1198.718; "
    "Microsoft's diagnostic script wants 2.7.41491.1010 because .1009 has a restart bug).",
)
define(
    "bcdrfix_dotnet_min_release",
    378389,
    as_int_range(1, 10_000_000),
    "Lowest acceptable .NET Framework 4.x 'Release' (378389 = 4.5).",
)
# BcdrAgentPersistentKeys values and the error codes whose articles ask for them: step 2 of the
# VSS-writer fix, and the host-first snapshot for a slow network. Nothing is written otherwise.
SNAPSHOT_KEYS_BY_CODE = MappingProxyType(
    {
        "extensionfailedvsswriterinbadstate": {"SnapshotWithoutThreads": "True"},
        "extensionfailedtimeoutvmnetworkunresponsive": {
            "SnapshotMethod": "firstHostThenGuest",
            "CalculateSnapshotTimeFromHost": "True",
        },
    }
)
SNAPSHOT_KEY_NAMES = ("SnapshotWithoutThreads", "SnapshotMethod", "CalculateSnapshotTimeFromHost")

define(
    "bcdrfix_bcdr_snapshot_keys",
    MappingProxyType({}),
    _as_windows_text_mapping,
    "REG_SZ values to set under HKLM\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys besides the "
    "ones fix --code sets for its code (SnapshotWithoutThreads for "
    "ExtensionFailedVssWriterInBadState; SnapshotMethod and CalculateSnapshotTimeFromHost for "
    "ExtensionFailedTimeoutVMNetworkUnresponsive). Default: none.",
)
define(
    "bcdrfix_sql_backup_host",
    False,
    as_bool,
    "This VM runs SQL Server backups: set BcdrAgent\\USEVSSCOPYBACKUP=TRUE so that the snapshot "
    "does not break the SQL log chain.",
)
define(
    "bcdrfix_tls_strong_crypto",
    True,
    as_bool,
    "Set SchUseStrongCrypto=1 for every .NET Framework version present, both registry views.",
)
define(
    "bcdrfix_msdtc_reinstall",
    False,
    as_bool,
    "Reinstall MSDTC on this run (disruptive: also needs bcdrfix_allow_disruptive).",
)
define(
    "bcdrfix_vss_service_restart",
    False,
    as_bool,
    "Restart the VSS service on this run (disruptive: also needs bcdrfix_allow_disruptive).",
)
define(
    "bcdrfix_msi_reregister",
    False,
    as_bool,
    "Run msiexec /unregister and /regserver on this run (disruptive).",
)
define(
    "bcdrfix_vss_writer_services",
    MappingProxyType({}),
    _as_windows_text_mapping,
    "Extra or overriding VSS writer -> service entries (an empty service name removes one).",
)
define(
    "bcdrfix_defender_exclusions",
    VMSNAPSHOT_FOLDERS,
    _as_windows_paths,
    "Folders Microsoft Defender must exclude (the two VMSnapshot plugin folders).",
)


def _as_subject(name: str, value: Any) -> str:
    text = as_text(name, value)
    if not text.strip():
        raise SettingsError(f"{name}: an empty subject would match every certificate")
    return text


define(
    "bcdrfix_crp_certificate_subject",
    CRP_SUBJECT,
    _as_subject,
    "'Issued To' name of the certificates removed with a MachineKeys ACL repair.",
)
define(
    "bcdrfix_windows_service_wait",
    60,
    as_int_range(1, 3600),
    "Seconds to wait for a Windows service to stop or start.",
)
define(
    "bcdrfix_windows_vssadmin_timeout",
    120,
    as_int_range(5, 3600, "seconds"),
    "Seconds one vssadmin run may take (it is stopped after that).",
)
define(
    "bcdrfix_windows_msdtc_timeout",
    300,
    as_int_range(5, 3600, "seconds"),
    "Seconds msdtc -uninstall and msdtc -install may each take.",
)
define(
    "bcdrfix_windows_msiexec_timeout",
    300,
    as_int_range(5, 3600, "seconds"),
    "Seconds msiexec /unregister and /regserver may each take.",
)


def snapshot_keys(settings: Any) -> dict[str, str]:
    """BcdrAgentPersistentKeys values wanted on this host: the setting plus the code's values."""
    keys = dict(
        SNAPSHOT_KEYS_BY_CODE.get(str(getattr(settings, "error_code", "") or "").lower(), {})
    )
    keys.update(settings.bcdr_snapshot_keys)
    return keys


def connectivity_targets(settings: Any) -> list[dict[str, Any]]:
    """The endpoints windows.connectivity checks (the same settings as Linux)."""
    targets = [
        {"label": "wireserver", "host": settings.wireserver_address, "port": port}
        for port in settings.wireserver_ports
    ]
    targets.append({"label": "IMDS", "host": settings.imds_address, "port": settings.imds_port})
    targets += [
        {"label": "storage", "host": host, "port": port}
        for host in settings.storage_endpoints
        for port in settings.storage_ports
    ]
    return targets


def writer_services(settings: Any) -> dict[str, str]:
    mapping = dict(WRITER_SERVICES)
    for writer, service in settings.vss_writer_services.items():
        if service:
            mapping[writer] = service
        else:
            mapping.pop(writer, None)
    return mapping


WATCHED_SERVICES = AGENT_SERVICES + (
    "iaasvmprovider",
    "COMSysApp",
    "MSDTC",
    "VSS",
    "msiserver",
    "SQLWriter",
    "WinDefend",
)


def observation_request(settings: Any) -> dict[str, Any]:
    """What the observation script reads, derived from the settings."""
    registry = [
        {"path": NDP_V4_FULL, "name": "Release"},
        {"path": BCDR_AGENT_KEY, "name": "USEVSSCOPYBACKUP"},
        {"path": MSISERVER_KEY, "name": "Start"},
    ]
    names = dict.fromkeys([*SNAPSHOT_KEY_NAMES, *settings.bcdr_snapshot_keys])
    registry += [{"path": BCDR_PERSISTENT_KEYS, "name": name} for name in names]
    registry += [{"path": key, "name": "SchUseStrongCrypto"} for key in NETFX_KEYS]
    services = sorted(
        set(WATCHED_SERVICES) | set(writer_services(settings).values()), key=str.lower
    )
    return {
        "services": services,
        "registry": registry,
        "crp_subject": settings.crp_certificate_subject,
        "process_accounts": ["MSDTC"],
        "vssadmin_timeout": settings.windows_vssadmin_timeout,
        "endpoints": connectivity_targets(settings),
        "connect_timeout": settings.connect_timeout,
    }


# --- helpers ----------------------------------------------------------------------------------


def _section(observation: Mapping[str, Any], name: str) -> Any:
    """The section's data; raises when the observation could not produce it."""
    if observation.get("observation_error"):
        raise LookupError(observation["observation_error"])
    data = observation.get(name)
    if data is None:
        raise LookupError(f"the observation has no {name!r} section")
    if isinstance(data, Mapping) and data.get("error") and len(data) == 1:
        raise LookupError(f"{name}: {data['error']}")
    return data


def _guard(check):
    """Turn a missing or failed section into an ``error`` finding with its message."""

    def wrapped(observation, settings):
        try:
            return check(observation, settings)
        except LookupError as exc:
            return error(f"could not observe: {exc.args[0]}")

    wrapped.__name__ = check.__name__
    wrapped.__doc__ = check.__doc__
    return wrapped


def on_request(setting: str, what: str, plan: str, desired: str):
    """The check of an on-demand action: not applicable unless ``bcdrfix_<setting>`` asks for it,
    else failed with ``plan`` (what the fix would do)."""

    def check(observation, settings) -> Finding:
        if not getattr(settings, setting):
            return not_applicable(f"no {what} requested (set bcdrfix_{setting}=true)")
        return failed(f"{what} requested: {plan}", desired=desired)

    check.__name__ = f"check_{setting}"
    return _guard(check)


def service_of(observation: Mapping[str, Any], name: str) -> dict | None:
    return _section(observation, "services").get(name.lower())


def registry_of(observation: Mapping[str, Any], path: str, name: str) -> dict | None:
    return _section(observation, "registry").get(registry_key(path, name))


def service_step(
    name: str, what: str, current: Mapping | None, settings: Any, **desired: Any
) -> Step:
    return Step(
        ops.service,
        {
            "name": what,
            "service_name": name,
            "current": current,
            "wait_seconds": settings.windows_service_wait,
            **desired,
        },
    )


def restart_step(name: str, settings: Any, what: str | None = None) -> Step:
    return Step(
        ops.service_restart,
        {
            "name": what or f"Restart {name}",
            "service_name": name,
            "wait_seconds": settings.windows_service_wait,
        },
    )


def registry_step(
    path: str,
    value_name: str,
    value: Any,
    kind: str,
    current: Mapping | None,
    what: str | None = None,
) -> Step:
    return Step(
        ops.registry_value,
        {
            "name": what or f"Set {value_name}",
            "path": path,
            "value_name": value_name,
            "value": value,
            "kind": kind,
            "current": current,
        },
    )


def describe_service(service: Mapping[str, Any]) -> str:
    return f"{service['name']} is {service.get('state')}, start {service.get('start_mode')}"


def service_problems(
    service: Mapping[str, Any], running: bool = True, mode: str | None = "Auto"
) -> list[str]:
    problems = []
    if running and service.get("state") != "Running":
        problems.append(f"{service['name']} is {service.get('state')}")
    if mode and service.get("start_mode") != mode:
        problems.append(f"{service['name']} starts {service.get('start_mode')} (wanted {mode})")
    return problems


def _register(**kwargs) -> Control:
    return CONTROLS.register(Control(platform="windows", **kwargs))


def observe_windows(host: Any, probes: Iterable[str], settings: Any) -> dict[str, Any]:
    """The Windows observer (``bcdrfix.controls.OBSERVERS``): run the sections the probes name."""
    sections = tuple(sorted(set(probes)))
    observation = host.get_fact(
        WindowsObservation, sections=sections, request=observation_request(settings)
    )
    if observation is None:
        return {"platform": "windows", "observation_error": "the Windows observation failed"}
    return observation
