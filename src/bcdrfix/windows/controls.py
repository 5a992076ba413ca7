"""Windows controls: guest agent, COM+/MSDTC, VSS, backup extension keys, TLS, MSI, MachineKeys,
antivirus, BitLocker and DHCP (REFERENCE section 4).

Every control reads the batched observation (``bcdrfix.windows.facts``); fixes return ``Step``s of
``bcdrfix.windows.operations``. Fixes that restart a service other than the agent's, reinstall
MSDTC, re-register msiexec, change ACLs or delete certificates are ``disruptive``: without
``bcdrfix_allow_disruptive`` the run reports "needs approval" and the summary says exactly what
would happen. Report-only controls (agent version, .NET, BitLocker, DHCP) never change the host.
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
    note,
    passed,
    report_only,
)
from bcdrfix.core.settings import (
    SettingsError,
    SettingsTable,
    as_bool,
    as_int_range,
    as_text,
    as_version,
    version_tuple,
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


def _as_auto_bool(name: str, value: Any) -> str | bool:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return as_bool(name, value)


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
define(
    "bcdrfix_bcdr_snapshot_keys",
    MappingProxyType(
        {
            "SnapshotWithoutThreads": "True",
            "SnapshotMethod": "firstHostThenGuest",
            "CalculateSnapshotTimeFromHost": "True",
        }
    ),
    _as_windows_text_mapping,
    "REG_SZ values under HKLM\\SOFTWARE\\Microsoft\\BcdrAgentPersistentKeys; an empty mapping "
    "leaves the key alone.",
)
define(
    "bcdrfix_sql_vss_copy_backup",
    "auto",
    _as_auto_bool,
    "Set BcdrAgent\\USEVSSCOPYBACKUP=TRUE: auto (when a SQL Server service exists), true or false.",
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
define(
    "bcdrfix_crp_certificate_subject",
    CRP_SUBJECT,
    as_text,
    "'Issued To' name of the certificates removed with a MachineKeys ACL repair.",
)
define(
    "bcdrfix_windows_service_wait",
    60,
    as_int_range(1, 3600),
    "Seconds to wait for a Windows service to stop or start.",
)


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
    registry += [
        {"path": BCDR_PERSISTENT_KEYS, "name": name} for name in settings.bcdr_snapshot_keys
    ]
    registry += [{"path": key, "name": "SchUseStrongCrypto"} for key in NETFX_KEYS]
    services = sorted(
        set(WATCHED_SERVICES) | set(writer_services(settings).values()), key=str.lower
    )
    return {
        "services": services,
        "registry": registry,
        "crp_subject": settings.crp_certificate_subject,
    }


def observe_windows(host: Any, probes: Iterable[str], settings: Any) -> dict[str, Any]:
    """The Windows observer (``bcdrfix.controls.OBSERVERS``): run the sections the probes name."""
    sections = tuple(sorted(set(probes)))
    observation = host.get_fact(
        WindowsObservation, sections=sections, request=observation_request(settings)
    )
    if observation is None:
        return {"platform": "windows", "observation_error": "the Windows observation failed"}
    return observation


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


# --- guest agent ------------------------------------------------------------------------------


@_guard
def check_agent_services(observation, settings) -> Finding:
    observed, problems, missing = {}, [], []
    for name in AGENT_SERVICES:
        service = service_of(observation, name)
        if service is None:
            missing.append(name)
            continue
        observed[name] = {"state": service.get("state"), "start_mode": service.get("start_mode")}
        problems += service_problems(service)
    desired = {name: {"state": "Running", "start_mode": "Auto"} for name in AGENT_SERVICES}
    if missing:
        return error(
            f"{', '.join(missing)} not installed: install the Azure VM agent "
            "(380008 AzureVmOffline)",
            observed,
        )
    if problems:
        return failed("; ".join(problems), observed, desired)
    return passed("WindowsAzureGuestAgent and RdAgent are running and Automatic", observed, desired)


def fix_agent_services(observation, settings, finding: Finding) -> list[Step]:
    return [
        service_step(
            name,
            f"Start {name} and set it Automatic",
            service_of(observation, name),
            settings,
            running=True,
            start_mode="Automatic",
        )
        for name in AGENT_SERVICES
    ]


_register(
    id="windows.agent_services",
    title="Guest agent services are running and start automatically",
    disruptive=False,
    probes=("services",),
    check=check_agent_services,
    fix=fix_agent_services,
    description="WindowsAzureGuestAgent and RdAgent: Running, start type Automatic.",
)


@_guard
def check_agent_restart(observation, settings) -> Finding:
    if not settings.agent_restart:
        return not_applicable("no restart requested (set bcdrfix_agent_restart=true)")
    missing = [name for name in AGENT_SERVICES if service_of(observation, name) is None]
    if missing:
        return error(f"{', '.join(missing)} not installed: nothing to restart")
    return failed("restart of WindowsAzureGuestAgent and RdAgent requested", desired="restarted")


def fix_agent_restart(observation, settings, finding: Finding) -> list[Step]:
    return [restart_step(name, settings, f"Restart {name} (requested)") for name in AGENT_SERVICES]


_register(
    id="windows.agent_restart",
    title="Restart the guest agent on request",
    disruptive=False,
    probes=("services",),
    check=check_agent_restart,
    fix=fix_agent_restart,
    on_demand=True,
    description="The articles' 'restart the agent'; only with bcdrfix_agent_restart.",
)


def agent_version(info: Mapping[str, Any]) -> str | None:
    """The running agent's version: its executable, else the newest GuestAgent_<v> folder."""
    for candidate in (info.get("file_version"), info.get("product_version")):
        if candidate and version_tuple(candidate):
            return ".".join(str(p) for p in version_tuple(candidate)[:4])
    folders = [
        m.group(1)
        for f in info.get("folders") or ()
        if (m := re.match(r"GuestAgent_(\d+(?:\.\d+){1,3})", f))
    ]
    if folders:
        return max(folders, key=version_tuple)
    legacy = info.get("waappagent_version")
    if legacy and version_tuple(legacy):
        return ".".join(str(p) for p in version_tuple(legacy)[:4])
    return None


@_guard
def check_agent_version(observation, settings) -> Finding:
    info = _section(observation, "agent")
    minimum = settings.windows_agent_min_version
    version = agent_version(info)
    observed = {"version": version, "path": info.get("exe") or info.get("waappagent_path")}
    if version is None:
        return failed(
            "no guest agent found (380008 AzureVmOffline)", observed, {"minimum": minimum}
        )
    if version_tuple(version) < version_tuple(minimum):
        return failed(
            f"guest agent {version} is older than {minimum}", observed, {"minimum": minimum}
        )
    return passed(f"guest agent {version} (minimum {minimum})", observed, {"minimum": minimum})


fix_agent_version = report_only(
    "install the current Azure VM agent MSI from Microsoft "
    "(https://go.microsoft.com/fwlink/?LinkID=394789)"
)

_register(
    id="windows.agent_version",
    title="Guest agent is not older than the minimum version",
    disruptive=False,
    probes=("agent",),
    check=check_agent_version,
    fix=fix_agent_version,
    description="Reads the version of the agent executable the service runs (report only).",
)


@_guard
def check_dotnet_version(observation, settings) -> Finding:
    release = registry_of(observation, NDP_V4_FULL, "Release") or {}
    minimum = settings.dotnet_min_release
    value = release.get("data") if release.get("exists") else None
    observed = {"Release": value}
    if value is None:
        return failed(
            ".NET Framework 4.5 or newer is not installed (no NDP\\v4\\Full Release)",
            observed,
            {"minimum": minimum},
        )
    if int(value) < minimum:
        return failed(
            f".NET Framework Release {value} is older than {minimum}",
            observed,
            {"minimum": minimum},
        )
    return passed(
        f".NET Framework Release {value} (minimum {minimum})", observed, {"minimum": minimum}
    )


fix_dotnet_version = report_only("install .NET Framework 4.5 or newer")

_register(
    id="windows.dotnet_version",
    title=".NET Framework 4.5 or newer is installed",
    disruptive=False,
    probes=("registry",),
    check=check_dotnet_version,
    fix=fix_dotnet_version,
    description="HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full Release (report only).",
)

# --- backup extension's VSS provider ----------------------------------------------------------


@_guard
def check_iaasvmprovider(observation, settings) -> Finding:
    service = service_of(observation, "iaasvmprovider")
    if service is None:
        return not_applicable("iaasvmprovider is not installed (the backup extension installs it)")
    observed = {"state": service.get("state"), "start_mode": service.get("start_mode")}
    problems = service_problems(service)
    if problems:
        return failed("; ".join(problems), observed, {"state": "Running", "start_mode": "Auto"})
    return passed("iaasvmprovider is running and Automatic", observed)


def fix_iaasvmprovider(observation, settings, finding: Finding) -> list[Step]:
    return [
        service_step(
            "iaasvmprovider",
            "Start iaasvmprovider and set it Automatic",
            service_of(observation, "iaasvmprovider"),
            settings,
            running=True,
            start_mode="Automatic",
        )
    ]


_register(
    id="windows.iaasvmprovider",
    title="The backup extension's VSS provider service runs",
    disruptive=False,
    probes=("services",),
    check=check_iaasvmprovider,
    fix=fix_iaasvmprovider,
)

# --- COM+ / MSDTC -----------------------------------------------------------------------------


@_guard
def check_comsysapp(observation, settings) -> Finding:
    service = service_of(observation, "COMSysApp")
    if service is None:
        return error("COMSysApp (COM+ System Application) is not installed")
    if service.get("start_mode") == "Disabled":
        return failed(
            "COMSysApp is Disabled", {"start_mode": "Disabled"}, {"state": "Running"}, enable=True
        )
    if service.get("state") != "Running":
        return failed(
            f"COMSysApp is {service.get('state')}",
            {"state": service.get("state")},
            {"state": "Running"},
        )
    return passed("COMSysApp is running", {"state": "Running"})


def fix_comsysapp(observation, settings, finding: Finding) -> list[Step]:
    desired: dict[str, Any] = {"running": True}
    if finding.plan.get("enable"):
        desired["start_mode"] = "Manual"  # the Windows default for COMSysApp
    return [
        service_step(
            "COMSysApp",
            "Start COM+ System Application",
            service_of(observation, "COMSysApp"),
            settings,
            **desired,
        )
    ]


_register(
    id="windows.comsysapp",
    title="COM+ System Application is started",
    disruptive=False,
    probes=("services",),
    check=check_comsysapp,
    fix=fix_comsysapp,
    description="net start COMSysApp (a Disabled service is set back to Manual first).",
)


def normalise_account(account: str | None) -> str:
    return ops.normalise_account(account)


@_guard
def check_msdtc_account(observation, settings) -> Finding:
    service = service_of(observation, "MSDTC")
    if service is None:
        return error("MSDTC is not installed (see windows.msdtc_reinstall)")
    account = service.get("account")
    observed = {"account": account, "state": service.get("state")}
    if normalise_account(account) != normalise_account(NETWORK_SERVICE):
        running = service.get("state") == "Running"
        then = (
            (
                "then restart MSDTC and start COMSysApp"
                if settings.allow_disruptive
                else "a restart of MSDTC, which needs approval, makes it take effect"
            )
            if running
            else "then start MSDTC and COMSysApp"
        )
        return failed(
            f"MSDTC runs as {account}; would set {NETWORK_SERVICE}, {then}",
            observed,
            {"account": NETWORK_SERVICE},
            running=running,
        )
    return passed(f"MSDTC runs as {NETWORK_SERVICE}", observed, {"account": NETWORK_SERVICE})


def fix_msdtc_account(observation, settings, finding: Finding) -> list[Step]:
    current = service_of(observation, "MSDTC")
    steps = [
        service_step(
            "MSDTC", f"Run MSDTC as {NETWORK_SERVICE}", current, settings, account=NETWORK_SERVICE
        )
    ]
    if finding.plan.get("running"):
        if settings.allow_disruptive:
            restart = restart_step("MSDTC", settings, "Restart MSDTC to use the new account")
            steps.append(Step(restart.op, restart.kwargs, when_changed=0))
        else:
            steps.append(
                note(
                    "restart MSDTC (and start COMSysApp) for the new account to take "
                    "effect; set bcdrfix_allow_disruptive=true",
                    "needs approval",
                    by_hand=True,
                )
            )
            return steps
    else:
        steps.append(service_step("MSDTC", "Start MSDTC", current, settings, running=True))
    steps.append(
        service_step(
            "COMSysApp",
            "Start COM+ System Application",
            service_of(observation, "COMSysApp"),
            settings,
            running=True,
        )
    )
    return steps


_register(
    id="windows.msdtc_account",
    title="MSDTC runs as NT AUTHORITY\\NetworkService",
    disruptive=False,
    probes=("services",),
    check=check_msdtc_account,
    fix=fix_msdtc_account,
    description="Changes the account; restarting a running MSDTC is left to an approved run.",
)

MSDTC_REINSTALL_PLAN = (
    "would stop MSDTC, run msdtc -uninstall and msdtc -install, start MSDTC, then start COMSysApp"
)


@_guard
def check_msdtc_reinstall(observation, settings) -> Finding:
    if not settings.msdtc_reinstall:
        return not_applicable("no MSDTC reinstall requested (set bcdrfix_msdtc_reinstall=true)")
    return failed(f"MSDTC reinstall requested: {MSDTC_REINSTALL_PLAN}", desired="reinstalled")


def fix_msdtc_reinstall(observation, settings, finding: Finding) -> list[Step]:
    return [
        Step(
            ops.msdtc_reinstall,
            {
                "name": "Reinstall MSDTC and start COM+",
                "wait_seconds": settings.windows_service_wait,
            },
        )
    ]


_register(
    id="windows.msdtc_reinstall",
    title="Reinstall MSDTC on request",
    disruptive=True,
    probes=(),
    check=check_msdtc_reinstall,
    fix=fix_msdtc_reinstall,
    on_demand=True,
)

# --- VSS --------------------------------------------------------------------------------------

WAITING_STATES = range(2, 6)


def writer_plan(observation: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """Which writers are not stable and what to do: restart a mapped service, or report."""
    vss = _section(observation, "vss_writers")
    writers = vss.get("writers") or []
    if not writers:
        detail = (
            next(
                (
                    line.strip()
                    for line in vss.get("lines") or ()
                    if line.strip().lower().startswith(("error", "erreur", "fehler"))
                ),
                None,
            )
            or f"exit code {vss.get('exit_code')}"
        )
        raise LookupError(f"vssadmin list writers listed no writers ({detail})")
    mapping = {k.lower(): v for k, v in writer_services(settings).items()}
    services = _section(observation, "services")
    bad, reports = [], []
    restarts: dict[str, Any] = {}
    for writer in writers:
        state = writer.get("state")
        if state == 1 and writer.get("last_error_ok") is not False:
            continue
        label = f"'{writer['name']}' [{state}] {writer.get('state_text') or ''}".rstrip()
        if writer.get("last_error"):
            label += f" / {writer['last_error']}"
        bad.append(label)
        if state in WAITING_STATES:
            reports.append(f"{label}: a shadow copy is in progress; check again later")
            continue
        known_name = WRITER_IDS.get(str(writer.get("writer_id") or "").lower())
        service = mapping.get(writer["name"].lower()) or (
            mapping.get(known_name.lower()) if known_name else None
        )
        if not service:
            reports.append(f"{label}: no known service for this writer; restart it by hand")
        elif services.get(service.lower()) is None:
            reports.append(f"{label}: its service {service} is not installed")
        else:
            restarts.setdefault(services[service.lower()]["name"], []).append(writer["name"])
    return {"bad": bad, "restarts": restarts, "reports": reports, "count": len(writers)}


@_guard
def check_vss_writers(observation, settings) -> Finding:
    plan = writer_plan(observation, settings)
    if not plan["bad"]:
        return passed(
            f"all {plan['count']} VSS writers are stable with no error", {"writers": plan["count"]}
        )
    actions = [
        f"restart {service} (for {', '.join(names)})" for service, names in plan["restarts"].items()
    ]
    actions += [f"report {text}" for text in plan["reports"]]
    return failed(
        f"VSS writers not stable: {'; '.join(plan['bad'])}; would {'; '.join(actions)}",
        {"not_stable": plan["bad"]},
        "every writer [1] stable with no error",
        restarts=plan["restarts"],
        reports=plan["reports"],
    )


def fix_vss_writers(observation, settings, finding: Finding) -> list[Step]:
    steps = [
        restart_step(service, settings, f"Restart {service} for VSS writer(s) {', '.join(names)}")
        for service, names in finding.plan.get("restarts", {}).items()
    ]
    steps += [note(text, "report writer", by_hand=True) for text in finding.plan.get("reports", ())]
    return steps


_register(
    id="windows.vss_writers",
    title="Every VSS writer is stable with no error",
    disruptive=True,
    probes=("vss_writers", "services"),
    check=check_vss_writers,
    fix=fix_vss_writers,
    description="Restarts each failed writer's service per the writer -> service map; unknown "
    "writers and writers waiting for a shadow copy are reported, never guessed.",
)


@_guard
def check_vss_service_restart(observation, settings) -> Finding:
    if not settings.vss_service_restart:
        return not_applicable("no VSS restart requested (set bcdrfix_vss_service_restart=true)")
    if service_of(observation, "VSS") is None:
        return error("the VSS service is not installed")
    return failed(
        "VSS restart requested: would stop and start the Volume Shadow Copy service",
        desired="restarted",
    )


def fix_vss_service_restart(observation, settings, finding: Finding) -> list[Step]:
    return [restart_step("VSS", settings, "Restart the Volume Shadow Copy service (requested)")]


_register(
    id="windows.vss_service_restart",
    title="Restart the VSS service on request",
    disruptive=True,
    probes=("services",),
    check=check_vss_service_restart,
    fix=fix_vss_service_restart,
    on_demand=True,
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


def _registry_fix(observation, finding: Finding) -> list[Step]:
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
    keys = settings.bcdr_snapshot_keys
    if not keys:
        return not_applicable("bcdrfix_bcdr_snapshot_keys is empty")
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
    fix=lambda observation, settings, finding: _registry_fix(observation, finding),
    description="SnapshotWithoutThreads, SnapshotMethod, CalculateSnapshotTimeFromHost (REG_SZ).",
)


def sql_server_services(observation) -> list[str]:
    return sorted(
        s["name"]
        for key, s in _section(observation, "services").items()
        if key == "mssqlserver" or key.startswith("mssql$")
    )


@_guard
def check_sql_vss_copy_backup(observation, settings) -> Finding:
    mode = settings.sql_vss_copy_backup
    if mode is False:
        return not_applicable("bcdrfix_sql_vss_copy_backup is false")
    sql = sql_server_services(observation)
    if mode == "auto" and not sql:
        return not_applicable("no SQL Server service on this VM")
    return _registry_check(
        observation,
        [(BCDR_AGENT_KEY, "USEVSSCOPYBACKUP", "TRUE", "String")],
        f"USEVSSCOPYBACKUP=TRUE (SQL Server: {', '.join(sql) or 'forced'})",
    )


_register(
    id="windows.sql_vss_copy_backup",
    title="VSS copy backups on SQL Server VMs",
    disruptive=False,
    probes=("registry", "services"),
    check=check_sql_vss_copy_backup,
    fix=lambda observation, settings, finding: _registry_fix(observation, finding),
    description="HKLM\\SOFTWARE\\Microsoft\\BcdrAgent USEVSSCOPYBACKUP=TRUE so that the snapshot "
    "does not truncate SQL Server log chains.",
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
    fix=lambda observation, settings, finding: _registry_fix(observation, finding),
    description="SchUseStrongCrypto=1 (DWORD) under each present .NETFramework\\v2.0.50727 and "
    "v4.0.30319 key, in both the 64-bit and the WOW6432Node view.",
)

# --- Windows Installer ------------------------------------------------------------------------


@_guard
def check_msiserver(observation, settings) -> Finding:
    current = registry_of(observation, MSISERVER_KEY, "Start") or {}
    if not current.get("key_exists"):
        return error("the Msiserver service key does not exist: Windows Installer is missing")
    return _registry_check(
        observation, [(MSISERVER_KEY, "Start", 3, "DWord")], "Msiserver Start=3 (manual, can start)"
    )


_register(
    id="windows.msiserver",
    title="Windows Installer service can start (Start=3)",
    disruptive=False,
    probes=("registry",),
    check=check_msiserver,
    fix=lambda observation, settings, finding: _registry_fix(observation, finding),
)


@_guard
def check_msi_reregister(observation, settings) -> Finding:
    if not settings.msi_reregister:
        return not_applicable(
            "no msiexec re-registration requested (set bcdrfix_msi_reregister=true)"
        )
    return failed(
        "msiexec re-registration requested: would run msiexec /unregister, then msiexec /regserver",
        desired="re-registered",
    )


def fix_msi_reregister(observation, settings, finding: Finding) -> list[Step]:
    return [Step(ops.msi_reregister, {"name": "Re-register the Windows Installer (msiexec)"})]


_register(
    id="windows.msi_reregister",
    title="Re-register msiexec on request",
    disruptive=True,
    probes=(),
    check=check_msi_reregister,
    fix=fix_msi_reregister,
    on_demand=True,
)

# --- MachineKeys and CRP certificates ---------------------------------------------------------


def default_acl_problems(acl: Mapping[str, Any]) -> list[str]:
    """Differences from Everyone:(R,W) + BUILTIN\\Administrators:(F), this folder, not inherited."""
    wanted = {ops.EVERYONE_SID: ops.RIGHTS_READ_WRITE, ops.ADMINISTRATORS_SID: ops.RIGHTS_FULL}
    seen: dict[str, int] = {}
    problems = []
    for rule in acl.get("rules") or ():
        who = rule.get("account") or rule.get("sid")
        rights = int(rule.get("rights") or 0) & 0xFFFFFFFF
        if rule.get("type") != "Allow":
            problems.append(f"{who} has a {rule.get('type')} entry")
        elif rule.get("sid") not in wanted:
            problems.append(f"{who} is not a default entry ({rule.get('rights_text')})")
        elif rule.get("inherited") or rule.get("inheritance") not in ("None", None):
            problems.append(f"{who} entry is inherited or inherits ({rule.get('inheritance')})")
        else:
            seen[rule["sid"]] = seen.get(rule["sid"], 0) | rights
    for sid, rights in wanted.items():
        name = "Everyone" if sid == ops.EVERYONE_SID else "BUILTIN\\Administrators"
        if seen.get(sid) is None:
            problems.append(f"{name} has no entry")
        elif seen[sid] != rights:
            problems.append(f"{name} has rights 0x{seen[sid]:X} (wanted 0x{rights:X})")
    if not acl.get("protected"):
        problems.append("the folder inherits entries from its parent")
    return problems


@_guard
def check_machinekeys_acl(observation, settings) -> Finding:
    acl = _section(observation, "machinekeys_acl")
    problems = default_acl_problems(acl)
    observed = {"sddl": acl.get("sddl")}
    desired = "Everyone:(R,W) BUILTIN\\Administrators:(F)"
    if problems:
        return failed(
            f"{acl.get('path')}: {'; '.join(problems)}; would save the ACL and reset it to "
            f"{desired}",
            observed,
            desired,
        )
    return passed(f"{acl.get('path')} has the default ACL", observed, desired)


def fix_machinekeys_acl(observation, settings, finding: Finding) -> list[Step]:
    return [Step(ops.machinekeys_acl_reset, {"name": "Reset the MachineKeys ACL to the default"})]


_register(
    id="windows.machinekeys_acl",
    title="MachineKeys folder has the default ACL",
    disruptive=True,
    probes=("machinekeys_acl",),
    check=check_machinekeys_acl,
    fix=fix_machinekeys_acl,
)


@_guard
def check_crp_certificates(observation, settings) -> Finding:
    certificates = _section(observation, "crp_certificates").get("items") or []
    subject = settings.crp_certificate_subject
    acl_problems = default_acl_problems(_section(observation, "machinekeys_acl"))
    unreadable = [c["thumbprint"] for c in certificates if not c.get("private_key_readable")]
    observed = {
        "certificates": [c["thumbprint"] for c in certificates],
        "unreadable_keys": unreadable,
    }
    if not certificates:
        return passed(f"no certificate issued to {subject}", observed)
    if not acl_problems and not unreadable:
        return passed(
            f"{len(certificates)} certificate(s) issued to {subject} with readable keys and "
            "a default MachineKeys ACL: left alone",
            observed,
        )
    reason = (
        "the MachineKeys ACL is not the default"
        if acl_problems
        else f"{len(unreadable)} certificate(s) have an unreadable private key"
    )
    thumbprints = [c["thumbprint"] for c in certificates]
    return failed(
        f"{reason}; would delete {len(thumbprints)} certificate(s) issued to {subject} "
        f"({', '.join(thumbprints)}); the agent creates new ones",
        observed,
        "no broken CRP certificate",
        thumbprints=thumbprints,
    )


def fix_crp_certificates(observation, settings, finding: Finding) -> list[Step]:
    return [
        Step(
            ops.remove_certificates,
            {
                "name": f"Delete certificates issued to {settings.crp_certificate_subject}",
                "thumbprints": finding.plan["thumbprints"],
                "subject": settings.crp_certificate_subject,
            },
        )
    ]


_register(
    id="windows.crp_certificates",
    title="No broken 'Windows Azure CRP Certificate Generator' certificates",
    disruptive=True,
    probes=("crp_certificates", "machinekeys_acl"),
    check=check_crp_certificates,
    fix=fix_crp_certificates,
    description="With a non-default MachineKeys ACL (or unreadable keys) the article deletes the "
    "certificates issued to the CRP generator; healthy ones are left alone.",
)

# --- antivirus --------------------------------------------------------------------------------


@_guard
def check_defender_exclusions(observation, settings) -> Finding:
    defender = _section(observation, "defender")
    wanted = list(settings.defender_exclusions)
    if not defender.get("available"):
        return not_applicable(
            "Microsoft Defender is not installed: exclude "
            + " and ".join(wanted)
            + " in your antivirus product"
        )
    current = defender.get("exclusion_paths") or []
    if any(str(p).startswith("N/A") for p in current):
        return error("Defender hides its exclusions from this account: connect as an administrator")
    missing = ops.missing_exclusions(wanted, current)
    if missing:
        return failed(
            "Defender does not exclude " + ", ".join(missing), {"exclusions": current}, wanted
        )
    return passed("Defender excludes the VMSnapshot folders", {"exclusions": current}, wanted)


def fix_defender_exclusions(observation, settings, finding: Finding) -> list[Step]:
    return [
        Step(
            ops.defender_exclusions,
            {
                "name": "Exclude the backup extension folders from Defender",
                "paths": list(settings.defender_exclusions),
                "current": _section(observation, "defender").get("exclusion_paths") or [],
            },
        )
    ]


_register(
    id="windows.defender_exclusions",
    title="Defender excludes the VMSnapshot plugin folders",
    disruptive=False,
    probes=("defender",),
    check=check_defender_exclusions,
    fix=fix_defender_exclusions,
)

# --- report only ------------------------------------------------------------------------------


@_guard
def check_bitlocker(observation, settings) -> Finding:
    bitlocker = _section(observation, "bitlocker")
    if not bitlocker.get("available"):
        return not_applicable("BitLocker is not installed")
    volumes = bitlocker.get("volumes") or []
    locked = [v["mount_point"] for v in volumes if str(v.get("lock_status")).lower() == "locked"]
    observed = {v["mount_point"]: v.get("lock_status") for v in volumes}
    if locked:
        return failed(
            f"BitLocker-locked volume(s): {', '.join(locked)}", observed, "no locked volume"
        )
    return passed(f"no BitLocker-locked volume ({len(volumes)} checked)", observed)


fix_bitlocker = report_only("unlock them or turn BitLocker off (your decision)")

_register(
    id="windows.bitlocker",
    title="No BitLocker-locked volume blocks the snapshot",
    disruptive=False,
    probes=("bitlocker",),
    check=check_bitlocker,
    fix=fix_bitlocker,
    description="Report only.",
)


@_guard
def check_dhcp(observation, settings) -> Finding:
    adapters = _section(observation, "dhcp").get("adapters") or []
    static = [
        f"{a.get('description')} ({', '.join(a.get('addresses') or [])})"
        for a in adapters
        if not a.get("dhcp_enabled")
    ]
    observed = {a.get("description"): a.get("dhcp_enabled") for a in adapters}
    if static:
        return failed(
            f"DHCP is off in the guest for: {'; '.join(static)}", observed, "DHCP on every NIC"
        )
    return passed(f"DHCP is on for all {len(adapters)} adapter(s)", observed)


fix_dhcp = report_only(
    "turn DHCP back on inside the VM and set static addresses on the Azure NIC instead"
)

_register(
    id="windows.dhcp",
    title="DHCP stays enabled inside the guest",
    disruptive=False,
    probes=("dhcp",),
    check=check_dhcp,
    fix=fix_dhcp,
    description="Report only.",
)
