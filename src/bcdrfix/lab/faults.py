"""Faults the lab can seed on a host, as the articles' admins meet them.

Boot faults change files in the host's overlay before it boots; runtime faults run over SSH
once the host is up. This code edits files with plain line operations, independently of
bcdrfix's own waagent.conf editor, so the tests do not check the editor against itself.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

FAULTS = {
    "agent-stopped": "the agent's unit is stopped",
    "agent-killed": "the agent's main process got SIGKILL (combine with restart-no to keep it down)",
    "unit-disabled": "the agent's unit is disabled (still running until the next boot)",
    "restart-no": "a drop-in override.conf sets Restart=no",
    "extensions-disabled": "waagent.conf says Extensions.Enabled=n",
    "article-key": "the articles' Extensions.Enable=y replaces Extensions.Enabled",
    "duplicate-keys": "Extensions.Enabled=y early, Extensions.Enabled=n last (last wins)",
    "keys-missing": "Extensions.Enabled and Provisioning.Agent removed",
    "messy-syntax": 'spaces around =, quotes and inline comments: Extensions.Enabled = "n"  # ...',
    "verbose-off": "Logs.Verbose=n on a host under diagnosis (the lab asks for verbose logs)",
    "vmbackup-broken": "/etc/azure/vmbackup.conf has keys before any section and a garbage line "
    "(the extension ignores the whole file)",
    "vmbackup-missing-keys": "/etc/azure/vmbackup.conf (mode 600) has [SnapshotThread] without "
    "MountsToSkip and SafeFreezeWaitInSeconds",
    "vmbackup-template-only": "MountsToSkip set only in the articles' template path under "
    "/var/lib/waagent, no /etc/azure/vmbackup.conf",
    "static-address": "systemd-networkd (enabled at boot) gives eth0 its address statically, DHCP=no",
}

# Backup extension settings as admins leave them (the articles' template path included).
VMBACKUP_TEMPLATE = "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9170.0/main/tempPlugin/vmbackup.conf"
VMBACKUP_BROKEN = """\
# edited during an incident, no section header
MountsToSkip = /mnt/resource
SafeFreezeWaitInSeconds=600
fsfreeze = True
skip /data too
"""
VMBACKUP_MISSING_KEYS = """\
# Azure Backup settings (see the runbook)
[SnapshotThread]
seqsnapshot = 0
"""
VMBACKUP_ARTICLE = """\
[SnapshotThread]
fsfreeze: True
MountsToSkip = /mnt/resource
SafeFreezeWaitInSeconds=600
"""

# What a flavor gets wrong by itself: Debian's unit has no Restart= line.
INHERENT_FAULTS = {"debian": ("restart-missing",)}

# Seeded by `bcdrfix lab up` without --fault: every fault somewhere, the last host clean.
DEMO_FAULTS = [
    ["agent-stopped", "extensions-disabled"],
    ["agent-killed", "restart-no", "article-key"],
    ["unit-disabled", "duplicate-keys", "verbose-off"],
    ["keys-missing", "messy-syntax"],
    [],
]


def _edit_conf(conf: Path, replace: dict[str, str | None], append: Sequence[str] = ()) -> None:
    lines = conf.read_text().split("\n")
    out: list[str] = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else None
        if key in replace:
            value = replace[key]
            if value is not None:
                out.append(value)
        else:
            out.append(line)
    if out and out[-1] == "":
        out = out[:-1] + list(append) + [""]
    else:
        out += list(append)
    conf.write_text("\n".join(out))


def apply_boot_faults(root: Path, unit: str, faults: list[str]) -> None:
    conf = root / "etc/waagent.conf"
    if "restart-no" in faults:
        dropin = root / "etc/systemd/system" / f"{unit}.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "override.conf").write_text("[Service]\nRestart=no\n")
    if "extensions-disabled" in faults:
        _edit_conf(conf, {"Extensions.Enabled": "Extensions.Enabled=n"})
    if "article-key" in faults:
        _edit_conf(conf, {"Extensions.Enabled": "Extensions.Enable=y"})
    if "duplicate-keys" in faults:
        _edit_conf(conf, {"Extensions.Enabled": "Extensions.Enabled=y"}, ["Extensions.Enabled=n"])
    if "keys-missing" in faults:
        _edit_conf(conf, {"Extensions.Enabled": None, "Provisioning.Agent": None})
    if "messy-syntax" in faults:
        _edit_conf(
            conf,
            {
                "Extensions.Enabled": 'Extensions.Enabled = "n"  # disabled by hand during an incident',
                "Provisioning.Agent": 'Provisioning.Agent =  "cloud-init" # from the image build',
            },
        )
    if "verbose-off" in faults:
        _edit_conf(conf, {"Logs.Verbose": "Logs.Verbose=n"})
    vmbackup = root / "etc/azure/vmbackup.conf"
    if "vmbackup-broken" in faults:
        vmbackup.parent.mkdir(parents=True, exist_ok=True)
        vmbackup.write_text(VMBACKUP_BROKEN)
    if "vmbackup-missing-keys" in faults:
        vmbackup.parent.mkdir(parents=True, exist_ok=True)
        vmbackup.write_text(VMBACKUP_MISSING_KEYS)
        vmbackup.chmod(0o600)
    if "vmbackup-template-only" in faults:
        template = root / VMBACKUP_TEMPLATE
        template.parent.mkdir(parents=True, exist_ok=True)
        template.write_text(VMBACKUP_ARTICLE)
    apply_guest_status_faults(root, faults, time.time())


def runtime_fault_commands(unit: str, faults: list[str]) -> list[str]:
    commands = []
    if "unit-disabled" in faults:
        commands.append(f"systemctl disable {unit} 2>/dev/null")
    if "agent-stopped" in faults:
        commands.append(f"systemctl stop {unit}")
    if "agent-killed" in faults:
        commands.append(
            f"pid=$(systemctl show -p MainPID --value {unit}); "
            f'[ "$pid" -gt 0 ] && kill -9 "$pid"; sleep 0.5; true'
        )
    if "static-address" in faults:
        # The address the lab gave eth0, made static in systemd-networkd (same address: SSH stays up).
        commands.append(
            "a=$(ip -o -4 addr show dev eth0 | awk '{print $4; exit}'); mkdir -p /etc/systemd/network; "
            "printf '[Match]\\nName=eth0\\n\\n[Network]\\n# fixed by hand after a migration\\n"
            'Address=%s\\nDHCP=no\\n\' "$a" > /etc/systemd/network/10-eth0-static.network; '
            "systemctl enable --now systemd-networkd 2>/dev/null"
        )
    return commands


# --- the backup extension's last result in the guest (bcdrfix diagnose) ----------------------
# Status files and log lines in the shape VMSnapshotLinux writes them (Azure/azure-linux-extensions
# VMBackup: Utils/HandlerUtil.py do_status_report/write_to_status_file, Utils/Status.py,
# ExtensionErrorCodeHelper.py; see tests/diagnose/fixtures/README.md). Written independently of
# bcdrfix's parser.
VMSNAPSHOT = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
VMSNAPSHOT_VERSION = "1.0.9190.0"

# fault -> list of (seq, status, run_result, internal code, internal name, message, age in hours)
GUEST_STATUS_FAULTS = {
    "backup-no-network": [
        (
            4,
            "error",
            76,
            76,
            "FailedRetryableSnapshotFailedNoNetwork",
            "T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error",
            2,
        )
    ],
    "backup-freeze-failed": [
        (
            7,
            "error",
            121,
            121,
            "FailedRetryableFsFreezeFailed",
            "T:S Enable failed with error: [FreezeError(path=/data, errno=5, message=Input/output error)]",
            3,
        )
    ],
    "backup-freeze-timeout": [
        (
            2,
            "error",
            122,
            122,
            "FailedRetryableFsFreezeTimeout",
            "T:S ###### Enable failed with error: freeze took longer than timeout",
            1,
        )
    ],
    "backup-snapshot-limit": [
        (
            9,
            "error",
            85,
            85,
            "FailedSnapshotLimitReached",
            "T:S Enable failed with FailedSnapshotLimitReached errror",
            5,
        )
    ],
    "backup-success": [(12, "success", 1, 1, "success", "Enable Succeeded", 1)],
    "backup-stale-failure": [
        (
            5,
            "error",
            76,
            76,
            "FailedRetryableSnapshotFailedNoNetwork",
            "T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error",
            50,
        ),
        (6, "success", 1, 1, "success", "Enable Succeeded", 2),
    ],
}
FAULTS.update(
    {
        "backup-no-network": "the backup extension's last status: FailedRetryableSnapshotFailedNoNetwork",
        "backup-freeze-failed": "the backup extension's last status: FailedRetryableFsFreezeFailed",
        "backup-freeze-timeout": "the backup extension's last status: FailedRetryableFsFreezeTimeout",
        "backup-snapshot-limit": "the backup extension's last status: FailedSnapshotLimitReached",
        "backup-success": "the backup extension's last status: success",
        "backup-stale-failure": "an old NoNetwork failure (<seq>_status) then a newer success",
    }
)


def vmsnapshot_status(
    status: str, run_result: int, code: int, name: str, message: str, when: float
) -> str:
    """A VMSnapshotLinux ``<seq>.status`` document, as the extension's ``do_status_report``."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    health = {1: 0, 0: 0, 76: 256, 85: 256, 121: 128, 122: 128}.get(code, 128)
    full = f"{message}{'' if status == 'success' else f' StatusCode.{name},'}"
    response = json.dumps(
        {
            "messageStr": full,
            "snapshotConsistency": 1 if status == "success" else 0,
            "jobMessage": "",
            "isSizeComputationFailed": False,
        }
    )
    storage = {
        "partitionCount": 2,
        "totalUsedSizeInBytes": 3221225472,
        "isStoragespacePresent": False,
        "isSizeComputationFailed": False,
    }

    def report(substatus, telemetry, health_info):
        return {
            "version": "1.0",
            "timestampUTC": stamp,
            "status": {
                "name": VMSNAPSHOT,
                "operation": "Enable",
                "status": status,
                "substatus": substatus,
                "code": str(run_result),
                "taskId": "6b0f3c3e-2d1c-4f4e-9a8b-0c1d2e3f4a5b",
                "formattedMessage": {"lang": "en-US", "message": response},
                "storageDetails": storage,
                "commandStartTimeUTCTicks": str(int(when * 10_000_000) + 621355968000000000),
                "telemetryData": telemetry,
                "uniqueMachineId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                "snapshotInfo": None,
                "vmHealthInfo": health_info,
            },
        }

    telemetry = [
        {"Value": "2.7.3.0", "Key": "guestAgentVersion"},
        {"Value": VMSNAPSHOT_VERSION, "Key": "extensionVersion"},
        {"Value": name, "Key": "extErrorCode"},
    ]
    inner = report([], telemetry, {"vmHealthState": health, "vmHealthStatusCode": code})
    inner_text = "[" + json.dumps(inner) + "]"
    inner_text = inner_text.replace(stamp, "\\/Date(" + str(int(when * 1000)) + ")\\/", 1)
    outer = report(
        [{"code": "0", "name": inner_text, "status": "success", "formattedMessage": None}],
        None,
        None,
    )
    return "[" + json.dumps(outer) + "]"


def apply_guest_status_faults(root: Path, faults: list[str], now: float) -> None:
    """Write the backup extension's folder, status files and log for the guest-status faults."""
    entries = [e for f in faults for e in GUEST_STATUS_FAULTS.get(f, ())]
    if not entries:
        return
    base = root / f"var/lib/waagent/{VMSNAPSHOT}-{VMSNAPSHOT_VERSION}"
    (base / "status").mkdir(parents=True, exist_ok=True)
    (base / "config").mkdir(parents=True, exist_ok=True)
    (base / "config/HandlerState").write_text("Enabled")
    (base / "config/HandlerStatus").write_text(
        '{"name": "%s", "version": "%s", "status": "Ready", "code": 0, "message": '
        '"Plugin enabled", "supports_multi_config": false}' % (VMSNAPSHOT, VMSNAPSHOT_VERSION)
    )
    logdir = root / f"var/log/azure/{VMSNAPSHOT}"
    logdir.mkdir(parents=True, exist_ok=True)
    log_lines = []
    entries.sort(key=lambda e: e[0])
    for index, (seq, status, run_result, code, name, message, age) in enumerate(entries):
        when = now - age * 3600
        last = index == len(entries) - 1
        path = base / "status" / (f"{seq}.status" if last else f"{seq}_status")
        path.write_text(vmsnapshot_status(status, run_result, code, name, message, when))
        os.utime(path, (when, when))
        stamp = time_text(when)
        prefix = f"[{VMSNAPSHOT}-1.0]"
        log_lines.append(f"{stamp} {prefix}Enable,{status},{run_result},{message},True")
        if status != "success":
            log_lines.append(f"{stamp} {prefix}{message} StatusCode.{name},")
    (logdir / "extension.log").write_text("\n".join(log_lines) + "\n")


def time_text(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
