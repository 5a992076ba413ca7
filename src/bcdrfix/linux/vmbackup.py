"""The backup extension's settings file: /etc/azure/vmbackup.conf and the articles' template path.

Controls: linux.vmbackup_conf, linux.vmbackup_conf_location.

Facts: shared REFERENCE section 3, checked against the extension's own code (VMBackup
``HandlerUtil.get_value_from_configfile``). The editor is ``bcdrfix.linux.vmbackup_conf``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    Step,
    failed,
    not_applicable,
    note,
    passed,
    write_file,
)
from bcdrfix.core.observe import PROBE_VARIABLES, parse_file, probe, split_subsections
from bcdrfix.core.operations.files import BACKUP_DIR
from bcdrfix.core.settings import SettingsError, SettingsTable, as_path
from bcdrfix.linux import script, vmbackup_conf

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()
define = SETTINGS.define

# --- settings -------------------------------------------------------------------------------------


def as_vmbackup_conf(name: str, value: Any) -> dict[str, str | None]:
    try:
        return vmbackup_conf.normalise_desired(value or {})
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


define(
    "bcdrfix_vmbackup_conf_path",
    "/etc/azure/vmbackup.conf",
    as_path,
    "Where the backup extension reads its settings (REFERENCE 3).",
)
define(
    "bcdrfix_vmbackup_conf",
    MappingProxyType({}),
    as_vmbackup_conf,
    "[SnapshotThread] keys to enforce in vmbackup.conf (MountsToSkip, SafeFreezeWaitInSeconds, "
    "timeout, seqsnapshot, onlyLocalFilesystems, OnAppFailureDoFsFreeze, OnAppSuccessDoFsFreeze, "
    "isanysnapshotfailed); None removes a key.",
)

PROBE_VARIABLES["BCDR_VMBACKUP_CONF"] = lambda settings: settings.vmbackup_conf_path

# The probe script vmbackup_templates.sh lists the same glob.
TEMPLATE_GLOB = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-*/main/tempPlugin/vmbackup.conf"


# --- probes ---------------------------------------------------------------------------------------


@probe("vmbackup_conf", 'bcdr_file "$BCDR_VMBACKUP_CONF"')
def _parse_vmbackup_conf(lines: list[str]) -> dict | None:
    return parse_file(lines)


@probe("vmbackup_templates", script("vmbackup_templates.sh"))
def _parse_templates(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    return {path: parse_file(body) for path, body in parts.items() if path and parse_file(body)}


# --- vmbackup.conf -----------------------------------------------------------------------------


def check_vmbackup_conf(observation, settings) -> Finding:
    path = settings.vmbackup_conf_path
    current = observation.get("vmbackup_conf")
    desired = dict(settings.vmbackup_conf)
    text = current["text"] if current else None
    states, problem = vmbackup_conf.inspect(text, desired)
    extras = vmbackup_conf.ineffective_entries(text)
    ignored = [
        f"{s.key}: {vmbackup_conf.KEYS[s.key.lower()].no_effect}"
        for s in states
        if s.desired is not None and vmbackup_conf.KEYS[s.key.lower()].no_effect
    ]
    observed = {s.key: s.current for s in states}
    if problem:
        new_text, changes = vmbackup_conf.edit(text, desired)
        return failed(
            f"{path}: the extension cannot read it and ignores every setting in it ({problem})",
            observed,
            desired,
            new_text=new_text,
            changes=changes,
            ignored=ignored,
        )
    bad = [s for s in states if not s.compliant]
    if bad:
        new_text, changes = vmbackup_conf.edit(text, desired)
        return failed(
            f"{path}: " + "; ".join(s.describe() for s in bad),
            observed,
            desired,
            new_text=new_text,
            changes=changes,
            ignored=ignored,
        )
    if extras and any("case-sensitive" in e or "spaces" in e for e in extras):
        return failed(
            f"{path}: " + "; ".join(extras),
            observed,
            desired,
            new_text=None,
            changes=[],
            ignored=ignored,
        )
    if current is None and not desired:
        return passed(
            f"{path} does not exist: the extension uses its defaults "
            "(set bcdrfix_vmbackup_conf to manage it)"
        )
    summary = (
        "; ".join(s.describe() for s in states)
        or "no keys managed (bcdrfix_vmbackup_conf is empty)"
    )
    notes = extras + ignored
    return passed(
        f"{path}: {summary}" + (f" [note: {'; '.join(notes)}]" if notes else ""), observed, desired
    )


def fix_vmbackup_conf(observation, settings, finding: Finding) -> list[Step]:
    steps = []
    if finding.plan.get("new_text") is None:
        return [
            note(
                f"{finding.summary}: set the affected keys in bcdrfix_vmbackup_conf so that "
                "bcdrfix writes them where the extension reads them",
                name="settings only in the template path: set them in bcdrfix_vmbackup_conf",
            )
        ]
    steps.append(
        write_file(
            f"Write {settings.vmbackup_conf_path} (backup under {BACKUP_DIR})",
            settings.vmbackup_conf_path,
            finding.plan["new_text"],
            observation.get("vmbackup_conf"),
        )
    )
    for message in finding.plan.get("ignored", []):
        # Host-independent text: also the operation's name, so the default output shows it.
        steps.append(note(f"set on request, but {message}", name=f"set on request, but {message}"))
    return steps


CONTROLS.register(
    Control(
        id="linux.vmbackup_conf",
        title="/etc/azure/vmbackup.conf is readable by the backup extension and has the desired keys",
        platform="linux",
        disruptive=False,
        probes=("vmbackup_conf",),
        check=check_vmbackup_conf,
        fix=fix_vmbackup_conf,
        description="[SnapshotThread] MountsToSkip, SafeFreezeWaitInSeconds and the other keys the "
        "extension reads, edited the way its ConfigParser reads the file (other sections, keys, "
        "comments, owner and mode kept; timestamped backup).",
    )
)


# --- vmbackup.conf location --------------------------------------------------------------------


def check_vmbackup_conf_location(observation, settings) -> Finding:
    templates = observation.get("vmbackup_templates") or {}
    if not templates:
        return not_applicable("no VMSnapshotLinux extension template vmbackup.conf on this host")
    real = observation.get("vmbackup_conf")
    parser, _ = vmbackup_conf.read(real["text"]) if real else (None, None)
    stranded = {}
    for path, content in sorted(templates.items()):
        template, _ = vmbackup_conf.read(content["text"])
        if template is None or not template.has_section(vmbackup_conf.SECTION):
            continue
        for key, value in template.items(vmbackup_conf.SECTION, raw=True):
            if key in vmbackup_conf.TEMPLATE_ONLY or key not in vmbackup_conf.KEYS:
                continue
            real_value, _ = vmbackup_conf.effective_value(parser, key)
            if not vmbackup_conf.same_value(key, real_value, value):
                stranded[f"{vmbackup_conf.KEYS[key].name}={value}"] = path
    observed = {"templates": sorted(templates), "settings_only_there": stranded}
    if stranded:
        where = settings.vmbackup_conf_path
        keys = ", ".join(sorted(stranded))
        return failed(
            f"{keys} set only in the extension's template ({next(iter(stranded.values()))}), which "
            f"the extension does not read: put them in bcdrfix_vmbackup_conf so that bcdrfix writes "
            f"them to {where}",
            observed,
            {"read_from": where},
        )
    return passed(
        f"the template(s) hold no setting missing from {settings.vmbackup_conf_path} "
        "(the extension reads only that file)",
        observed,
    )


CONTROLS.register(
    Control(
        id="linux.vmbackup_conf_location",
        title="Backup settings are in /etc/azure/vmbackup.conf, not only in the articles' template path",
        platform="linux",
        disruptive=False,
        probes=("vmbackup_templates", "vmbackup_conf"),
        check=check_vmbackup_conf_location,
        fix=None,
        description=f"Reports settings found only in {TEMPLATE_GLOB}, a template the extension "
        "does not read (the articles' example path).",
    )
)
