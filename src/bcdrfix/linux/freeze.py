"""Freeze readiness: every mount the backup extension freezes can be frozen (UserErrorFsFreezeFailed).

Control: linux.freeze_readiness (its umount/fsck fix is disruptive).

Facts: shared REFERENCE section 3, checked against the extension's ``fsfreezer.py`` and
``mounts.py`` (which mounts it freezes and which it skips).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    error,
    failed,
    note,
    passed,
    shell,
)
from bcdrfix.core.observe import probe, split_subsections
from bcdrfix.core.settings import SettingsTable
from bcdrfix.linux import script, vmbackup_conf

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()

FREEZABLE_FSTYPES = (
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
)  # fsfreezer.should_skip / mounts.should_skip_fstype


# --- probe ----------------------------------------------------------------------------------------


# What the probe reports per mount: its own lines and these of `dumpe2fs -h`.
_DEV_KEYS = frozenset(
    ("responds", "Filesystem state", "FS Error count", "Filesystem features", "errors_count")
)


@probe("freeze_mounts", script("freeze_mounts.sh"))
def _parse_freeze_mounts(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    devices = []
    for line in parts.get("lsblk", []):
        fields = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line))
        if fields:
            devices.append({k.lower(): _unescape_lsblk(v) for k, v in fields.items()})
    mounts = {}
    for line in parts.get("mounts", []):
        cols = line.split()
        if len(cols) >= 4:
            mounts[_unescape_octal(cols[1])] = {
                "source": cols[0],
                "fstype": cols[2],
                "options": cols[3],
            }
    state = {}
    for name, body in parts.items():
        if name.startswith("dev "):
            info = {}
            for line in body:
                if ":" in line:
                    key, value = line.split(":", 1)
                    if key.strip() in _DEV_KEYS:  # of `dumpe2fs -h`, only these
                        info[key.strip()] = value.strip()
            state[name[4:]] = info
    resource = [line.strip() for line in parts.get("resource-disk", []) if line.strip()]
    return {"devices": devices, "mounts": mounts, "state": state, "resource_disks": resource}


def _unescape_lsblk(value: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _unescape_octal(value: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)


# --- check and fix --------------------------------------------------------------------------


def effective_mounts_to_skip(observation, settings) -> list[str]:
    """MountsToSkip after this run: the desired value if group data sets it, else the file's."""
    desired = dict(settings.vmbackup_conf)
    if "MountsToSkip" in desired:
        return [e for e in (desired["MountsToSkip"] or "").split(",") if e]
    current = observation.get("vmbackup_conf")
    parser, _ = vmbackup_conf.read(current["text"]) if current else (None, None)
    value, _ = vmbackup_conf.effective_value(parser, "MountsToSkip")
    return [e for e in (value or "").split(",") if e]


def is_resource_disk(facts: Mapping[str, Any], device: Mapping[str, Any]) -> bool:
    """The device is (a partition of) the disk behind the resource disk's VMBus device."""
    kname = device.get("kname") or device.get("name") or ""
    return any(
        re.fullmatch(rf"{re.escape(disk)}p?\d*", kname) for disk in facts.get("resource_disks", [])
    )


def freeze_candidates(observation, settings) -> list[dict[str, Any]]:
    """Mounts the extension would freeze, with what makes each one unfit, if anything."""
    facts = observation.get("freeze_mounts") or {}
    skip = set(effective_mounts_to_skip(observation, settings))
    seen, result = set(), []
    for device in facts.get("devices", []):
        mount = device.get("mountpoint")
        if not mount or mount in seen:
            continue
        seen.add(mount)
        fstype = device.get("fstype") or facts.get("mounts", {}).get(mount, {}).get("fstype", "")
        entry = {
            "mount": mount,
            "device": device.get("kname") or device.get("name"),
            "fstype": fstype,
            "type": device.get("type"),
            "skipped": None,
            "problems": [],
        }
        if fstype not in FREEZABLE_FSTYPES or device.get("type") == "loop":
            entry["skipped"] = (
                f"{fstype or 'no file system'} {device.get('type')}: not frozen by the extension"
            )
        elif is_resource_disk(facts, device):
            entry["skipped"] = "the resource disk (VMBus device): not frozen by the extension"
        elif mount in skip and mount != "/":
            entry["skipped"] = "in MountsToSkip"
        else:
            entry["problems"] = mount_problems(facts, entry)
        result.append(entry)
    return result


def mount_problems(facts: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    state = facts.get("state", {}).get(entry["device"], {})
    problems = []
    if state.get("responds") == "no":
        problems.append("does not respond (stat timed out): a freeze would hang")
    fs_state = state.get("Filesystem state", "")
    journaled = "has_journal" in state.get("Filesystem features", "") or entry["fstype"] in (
        "ext3",
        "ext4",
    )
    if "error" in fs_state:
        problems.append(f"file system state '{fs_state}'")
    elif fs_state == "not clean" and journaled:
        problems.append("file system state 'not clean'")
    for key in ("FS Error count", "errors_count"):
        if state.get(key, "0").isdigit() and int(state.get(key, "0")) > 0:
            problems.append(f"{key} {state[key]}")
            break
    options = facts.get("mounts", {}).get(entry["mount"], {}).get("options", "")
    if "ro" in options.split(",") and "errors=remount-ro" in options and problems:
        problems.append("remounted read-only after errors")
    return problems


def check_freeze_readiness(observation, settings) -> Finding:
    facts = observation.get("freeze_mounts")
    if not facts or not facts.get("devices"):
        return error("lsblk returned nothing: cannot tell which mounts the extension would freeze")
    entries = freeze_candidates(observation, settings)
    frozen = [e for e in entries if not e["skipped"]]
    bad = [e for e in frozen if e["problems"]]
    observed = {
        "would_freeze": [e["mount"] for e in frozen],
        "skipped": {e["mount"]: e["skipped"] for e in entries if e["skipped"]},
        "unfit": {e["mount"]: e["problems"] for e in bad},
    }
    skip_now = effective_mounts_to_skip(observation, settings)
    mounted = {e["mount"] for e in entries}
    stale = [m for m in skip_now if m not in mounted]
    if not frozen:
        return passed(
            "the extension would freeze no mount (no ext3/ext4/xfs/btrfs block device "
            "mounted outside MountsToSkip)",
            observed,
        )
    if not bad:
        extra = f"; MountsToSkip names unmounted {', '.join(stale)}" if stale else ""
        return passed(
            f"the extension would freeze {', '.join(observed['would_freeze'])}: all fit{extra}",
            observed,
        )
    suggestion = sorted(set(skip_now) | {e["mount"] for e in bad if e["mount"] != "/"})
    details = "; ".join(
        f"{e['mount']} ({e['device']}, {e['fstype']}): {', '.join(e['problems'])}" for e in bad
    )
    return failed(
        f"UserErrorFsFreezeFailed risk: {details}. Either repair them (umount, fsck -p, mount, one at "
        f"a time, stops at the first error) or skip them: "
        f"bcdrfix_vmbackup_conf = {{'MountsToSkip': {suggestion!r}}}",
        observed,
        {"MountsToSkip": suggestion},
        unfit=bad,
        suggestion=suggestion,
    )


def repair_mount_script(entry: Mapping[str, Any], options: str) -> str:
    """umount, fsck -p, mount: refused (nothing changed) while anything uses the file system."""
    q = shlex.quote
    mount, device, fstype = entry["mount"], f"/dev/{entry['device']}", entry["fstype"]
    opts = ",".join(o for o in options.split(",") if o and o not in ("seclabel",)) or "defaults"
    refuse = 'echo "bcdrfix: $m not repaired: $why; add it to MountsToSkip instead" >&2; exit 1'
    return "\n".join(
        [
            "set -e",
            f"m={q(mount)}; d={q(device)}",
            'mm=$(mountpoint -d "$m")',
            # Other mounts of the same file system: bind mounts, or other instances here.
            "n=$(awk -v mm=\"$mm\" '$3 == mm { n++ } END { print n + 0 }' /proc/self/mountinfo)",
            'if [ "$n" -gt 1 ]; then why="mounted $n times (bind mounts or other instances)"; '
            f"{refuse}; fi",
            # ... or in another mount namespace (containers, services with a private /tmp).
            "ns=$(readlink /proc/self/ns/mnt)",
            "for p in /proc/[0-9]*; do",
            '  [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && continue',
            '  if awk -v mm="$mm" \'$3 == mm { f = 1 } END { exit !f }\' "$p/mountinfo" '
            "2>/dev/null; then",
            f'    why="also mounted in the mount namespace of process ${{p#/proc/}}"; {refuse}',
            "  fi",
            "done",
            'command -v fuser >/dev/null || { why="fuser (psmisc) is missing: cannot tell '
            f'whether it is in use"; {refuse}; }}',
            f'if fuser -m "$m" >/dev/null 2>&1; then why="in use (fuser -m)"; {refuse}; fi',
            'umount "$m"',  # fails (and stops) while the mount is busy: nothing changed then
            'rc=0; fsck -p "$d" || rc=$?',
            'if [ "$rc" -gt 1 ]; then',
            '  echo "bcdrfix: fsck -p $d exited $rc: $m stays UNMOUNTED; run fsck on it by hand '
            'and mount it again" >&2',
            "  exit 1",
            "fi",
            f'mount "$m" 2>/dev/null || mount -t {q(fstype)} -o {q(opts)} "$d" "$m" || {{',
            '  echo "bcdrfix: $m could not be mounted again after fsck: it is UNMOUNTED" >&2',
            "  exit 1",
            "}",
            'findmnt "$m" >/dev/null',
        ]
    )


def fix_freeze_readiness(observation, settings, finding: Finding) -> list[Step]:
    facts = observation.get("freeze_mounts") or {}
    steps = []
    for entry in finding.plan.get("unfit", []):
        mount = entry["mount"]
        repairable = (
            entry["fstype"].startswith("ext")
            and mount != "/"
            and not any("does not respond" in p for p in entry["problems"])
        )
        if not repairable:
            why = (
                "the root file system cannot be unmounted: schedule fsck at the next boot"
                if mount == "/"
                else f"bcdrfix repairs ext file systems only; add {mount} to MountsToSkip"
            )
            steps.append(
                note(
                    f"{mount}: {why}",
                    name="a mount needs a repair bcdrfix does not do",
                    by_hand=True,
                )
            )
            continue
        options = facts.get("mounts", {}).get(mount, {}).get("options", "")
        steps.append(
            shell(f"Unmount, fsck -p and mount {mount} again", repair_mount_script(entry, options))
        )
    return steps


CONTROLS.register(
    Control(
        id="linux.freeze_readiness",
        title="Every mount the backup extension freezes can be frozen",
        platform="linux",
        disruptive=True,
        probes=("freeze_mounts", "vmbackup_conf"),
        check=check_freeze_readiness,
        fix=fix_freeze_readiness,
        description="Lists the mounts the extension would freeze (ext3/ext4/xfs/btrfs block devices, "
        "not loop, not the resource disk, not in MountsToSkip), finds unclean or unresponsive ones and "
        "suggests MountsToSkip. The articles' umount + fsck + mount runs only with the disruptive "
        "opt-in, one mount at a time, stopping at the first error.",
    )
)
