"""The backup extension's last result in a guest, as plain data for diagnose and the audit.

The platform's observation section (Linux probe ``guest_status``, Windows PowerShell section
``guest_status``) gives ``{extension name: status}``; ``last_backup`` turns the backup
extension's entry into what reports show, with the extension's internal code (VMBackup
``ExtensionErrorCodeHelper.py``) mapped to a catalog code where the catalog lists it as an
alias (``mapped``), shown as ``uncertain`` where only close, else ``none``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bcdrfix.catalog import CodeNotFound, Entry, load_catalog
from bcdrfix.controls import REGISTRY
from bcdrfix.core.handler_status import FAILED, IN_PROGRESS, SUCCESS
from bcdrfix.linux import guest_status as linux_guest_status
from bcdrfix.windows import guest_status as windows_guest_status

BACKUP_EXTENSIONS = {
    "linux": linux_guest_status.BACKUP_EXTENSION,
    "windows": windows_guest_status.BACKUP_EXTENSION,
}
GUEST_PROBE = {"linux": "guest_status", "windows": windows_guest_status.PROBE}
# observation section -> {extension name: status}; the Linux probe's parser already did it
GUEST_PARSE: dict[str, Callable[[Any], dict]] = {
    "linux": lambda section: section if isinstance(section, dict) else {},
    "windows": windows_guest_status.parse_section,
}

# --- the extension's internal codes (VMBackup ExtensionErrorCodeHelper.py, ExtensionErrorCodeEnum)

INTERNAL_CODES: dict[int, str] = {
    0: "success_appconsistent",
    1: "success",
    2: "error",
    3: "SuccessAlreadyProcessedInput",
    4: "ExtensionTempTerminalState",
    11: "error_parameter",
    12: "error_12",
    13: "error_wrong_time",
    14: "error_same_taskid",
    15: "error_http_failure",
    16: "FailedHandlerGuestAgentCertificateNotFound",
    17: "FailedInvalidDataDiskLunList",
    76: "FailedRetryableSnapshotFailedNoNetwork",
    85: "FailedSnapshotLimitReached",
    121: "FailedRetryableFsFreezeFailed",
    122: "FailedRetryableFsFreezeTimeout",
    123: "FailedRetryableUnableToOpenMount",
    124: "FailedSafeFreezeBinaryNotFound",
    173: "FailedRetryableSnapshotRateExceeded",
    300: "FailedPrepostPreScriptFailed",
    301: "FailedPrepostPostScriptFailed",
    302: "FailedPrepostPreScriptNotFound",
    303: "FailedPrepostPostScriptNotFound",
    304: "FailedPrepostPluginhostConfigParsing",
    305: "FailedPrepostPluginConfigParsing",
    306: "FailedPrepostPreScriptPermissionError",
    307: "FailedPrepostPostScriptPermissionError",
    308: "FailedPrepostPreScriptTimeout",
    309: "FailedPrepostPostScriptTimeout",
    310: "FailedPrepostPluginhostPreTimeout",
    311: "FailedPrepostPluginhostPostTimeout",
    312: "FailedPrepostCheckSumMismatch",
    313: "FailedPrepostPluginhostConfigNotFound",
    314: "FailedPrepostPluginhostConfigPermissionError",
    315: "FailedPrepostPluginhostConfigOwnershipError",
    316: "FailedPrepostPluginConfigNotFound",
    317: "FailedPrepostPluginConfigPermissionError",
    318: "FailedPrepostPluginConfigOwnershipError",
    402: "FailedGuestAgentInvokedCommandTooLate",
    500: "FailedWorkloadPreError",
    501: "FailedWorkloadConfParsingError",
    502: "FailedWorkloadInvalidRole",
    503: "FailedWorkloadInvalidWorkloadName",
    504: "FailedWorkloadPostError",
    505: "FailedWorkloadAuthorizationMissing",
    506: "FailedWorkloadConnectionError",
    507: "FailedWorkloadIPCDirectoryMissing",
    508: "FailedWorkloadDatabaseStatusChanged",
    509: "FailedWorkloadQuiescingError",
    510: "FailedWorkloadQuiescingTimeout",
    511: "FailedWorkloadDatabaseInNoArchiveLog",
    512: "FailedWorkloadLogModeChanged",
    556: "FailedHostSnapshotRemoteServerError",
    761: "FailedRetryableSnapshotFailedRestrictedNetwork",
}
SUCCESS_CODES = {0, 1, 3, 4}
INTERNAL_BY_NAME = {name.lower(): (number, name) for number, name in INTERNAL_CODES.items()}

# Internal codes close to a catalog entry without a source establishing it: (catalog code, why).
UNCERTAIN: dict[str, tuple[str | None, str]] = {
    "FailedRetryableSnapshotFailedRestrictedNetwork": (
        "ExtensionSnapshotFailedNoNetwork",
        "some disks' snapshots failed (the extension calls it a restricted network); the portal "
        "code for it is not published",
    ),
    "error_http_failure": (
        "ExtensionSnapshotFailedNoNetwork",
        "an HTTP call of the extension failed; the sources do not name the portal code",
    ),
    "FailedRetryableUnableToOpenMount": (
        "UserErrorFsFreezeFailed",
        "a mount could not be opened while freezing; close to a freeze failure, not established",
    ),
    "FailedGuestAgentInvokedCommandTooLate": (
        "GuestAgentSnapshotTaskStatusError",
        "the agent started the snapshot command too late; agent health is a likely cause",
    ),
    "FailedHandlerGuestAgentCertificateNotFound": (
        None,
        "the extension got no settings (it could not decrypt them: the agent's certificate is "
        "missing); no article maps it",
    ),
    "FailedSafeFreezeBinaryNotFound": (
        None,
        "the extension's safefreeze binary is missing: its package is incomplete (reinstall "
        "the extension from Azure)",
    ),
    "FailedRetryableSnapshotRateExceeded": (None, "transient: snapshot calls were throttled"),
    "FailedHostSnapshotRemoteServerError": (None, "the host-side snapshot failed (Azure side)"),
    "FailedInvalidDataDiskLunList": (None, "Azure sent an invalid disk list (control plane)"),
}


def internal_code(number: int | None, name: str | None) -> tuple[int | None, str | None]:
    """Number and canonical name of an internal code from whatever the status carried."""
    if name:
        return INTERNAL_BY_NAME.get(name.lower(), (number, name))
    if number is not None and number in INTERNAL_CODES:
        return number, INTERNAL_CODES[number]
    return number, name


@dataclass(frozen=True)
class Mapping:
    confidence: str  # "mapped", "uncertain", "none"
    entry: Entry | None
    note: str

    def as_dict(self) -> dict:
        return {
            "confidence": self.confidence,
            "catalog_code": self.entry.code if self.entry else None,
            "scope": self.entry.scope if self.entry else None,
            "note": self.note,
        }


def map_internal(name: str | None) -> Mapping:
    """The catalog entry an internal code name stands for, and how sure that is."""
    if not name:
        return Mapping("none", None, "the status names no code")
    catalog = load_catalog(REGISTRY)
    try:
        match = catalog.lookup(name)
    except CodeNotFound:
        match = None
    if match is not None and match.how == "code" and len(match.entries) == 1:
        entry = match.entries[0]
        return Mapping("mapped", entry, f"the catalog lists {name} under {entry.code}")
    if name in UNCERTAIN:
        code, why = UNCERTAIN[name]
        candidate = catalog.lookup(code).entries[0] if code else None
        return Mapping("uncertain" if candidate else "none", candidate, why)
    if name.startswith("FailedPrepost"):
        return Mapping(
            "none",
            None,
            "the pre/post script plugin failed (/etc/azure/VMSnapshotPluginHost.conf and the "
            "scripts it names); no article covers it",
        )
    if name.startswith("FailedWorkload"):
        return Mapping("none", None, "the database workload plugin failed; no article covers it")
    return Mapping("none", None, "generic extension error; no catalog entry")


# what the guest says about the last backup
REPORTED = "reported"
NO_EXTENSION = "no-extension"
NO_STATUS = "no-status"
NOT_INSTALLED = "not-installed"  # in the agent's goal state, never unpacked
UNREADABLE = "unreadable"


def last_backup(platform: str, extensions: dict | None) -> dict:
    """The backup extension's last result on a host of ``platform`` (no control evaluated)."""
    extensions = extensions or {}
    backup = extensions.get(BACKUP_EXTENSIONS.get(platform, ""))
    others = {k: v for k, v in extensions.items() if k != BACKUP_EXTENSIONS.get(platform)}
    result: dict[str, Any] = {
        "extension": BACKUP_EXTENSIONS.get(platform),
        "guest": NO_EXTENSION,
        "version": None,
        "operation": None,
        "when": None,
        "result": None,
        "code": None,
        "code_name": None,
        "message": None,
        "mapping": None,
        "advice": None,
        "other_extensions": others,
    }
    if backup is None:
        result["advice"] = "the backup extension was never installed on this VM"
        return result
    result["version"] = backup.get("version")
    result["agent"] = backup.get("agent") or {}
    result["log"] = list(backup.get("log") or [])
    goal = (backup.get("agent") or {}).get("goal_state") or {}
    if backup.get("state") == "not-installed":
        result["guest"] = NOT_INSTALLED
        result["version"] = goal.get("version")
        result["advice"] = (
            f"Azure assigned the backup extension (version {goal.get('version')}, "
            f"{goal.get('state')}) but the agent never installed it: check the agent "
            "(bcdrfix explain UserErrorGuestAgentStatusUnavailable)"
        )
        return result
    if backup.get("state") == "no-status":
        result["guest"] = NO_STATUS
        result["advice"] = "the extension is installed but has reported no result yet"
        return result
    if backup.get("state") != "reported":
        result["guest"] = UNREADABLE
        result["problem"] = backup.get("problem") or "unreadable status"
        result["advice"] = "unreadable status: read it by hand (bcdrfix shows none of it)"
        return result
    number, code_name = internal_code(backup.get("code"), backup.get("code_name"))
    outcome = backup.get("result")
    if outcome == SUCCESS and number is not None and number not in SUCCESS_CODES:
        outcome = FAILED  # a terminal failure written as top-level "success"
    result.update(
        guest=REPORTED,
        operation=backup.get("operation"),
        when=backup.get("timestamp"),
        result=outcome,
        code=number,
        code_name=code_name,
        message=backup.get("message"),
        file=backup.get("file"),
    )
    if outcome == FAILED:
        result["mapping"] = map_internal(code_name).as_dict()
    elif outcome == IN_PROGRESS:
        result["advice"] = "the last backup is still running"
    elif outcome == SUCCESS:
        result["advice"] = "nothing to fix: the last backup succeeded"
    else:
        result["advice"] = "the extension reported neither success nor failure"
    return result


def describe(backup: dict | None) -> str:
    """One line for reports: ``failed 2026-11-30T20:00:00Z: Name (121) -> CatalogCode: message``."""
    if not backup:
        return "not read"
    guest = backup.get("guest")
    if guest == NO_EXTENSION:
        return "no backup extension"
    if guest == NOT_INSTALLED:
        return f"backup extension {backup.get('version') or ''} assigned, never installed"
    if guest == NO_STATUS:
        return f"extension {backup.get('version') or ''} installed, no result yet".replace(
            "  ", " "
        )
    if guest == UNREADABLE:
        return f"unreadable status: {backup.get('problem') or ''}".strip()
    line = f"{backup.get('result')} {backup.get('when') or ''}".strip()
    if backup.get("result") == FAILED:
        line += f": {backup.get('code_name') or '?'} ({backup.get('code')})"
        mapping = backup.get("mapping") or {}
        if mapping.get("catalog_code"):
            uncertain = "" if mapping.get("confidence") == "mapped" else "uncertain "
            line += f" -> {uncertain}{mapping['catalog_code']}"
        if backup.get("message"):
            line += f": {backup['message']}"
    return line
