"""Faults the lab can seed on a host, as the articles' admins meet them.

Boot faults change files in the host's overlay before it boots; runtime faults run over SSH
once the host is up. This code edits files with plain line operations, independently of
bcdrfix's own waagent.conf editor, so the tests do not check the editor against itself.
"""

from __future__ import annotations

from collections.abc import Sequence
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
