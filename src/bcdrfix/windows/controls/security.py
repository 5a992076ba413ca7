"""Security controls: MachineKeys ACL, CRP certificates, Defender exclusions, BitLocker (report)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import (
    Finding,
    Step,
    error,
    failed,
    not_applicable,
    passed,
    report_only,
)
from bcdrfix.windows import operations as ops
from bcdrfix.windows.controls.base import (
    _guard,
    _register,
    _section,
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
