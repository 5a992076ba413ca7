"""SELinux must not block the agent's paths under /var/lib/waagent (UserErrorVmNotInDesirableState).

Control: linux.selinux_waagent. Facts: shared REFERENCE section 2.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Mapping
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
    shell,
)
from bcdrfix.core.observe import probe, split_subsections
from bcdrfix.core.settings import SettingsTable, as_bool, as_int_range
from bcdrfix.linux import script

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()
define = SETTINGS.define

# --- settings -------------------------------------------------------------------------------------

define(
    "bcdrfix_selinux_permissive_agent_domain",
    False,
    as_bool,
    "On enforcing hosts where policy denies the agent's own confined domain, make only that "
    "domain permissive (semanage permissive -a).",
)
define(
    "bcdrfix_selinux_avc_hours",
    24,
    as_int_range(1, 24 * 90, "hours"),
    "How far back SELinux denials in the audit log count.",
)

UNCONFINED_DOMAINS = ("unconfined_service_t", "unconfined_t", "initrc_t", "kernel_t", "spc_t")


# --- probe ----------------------------------------------------------------------------------------


@probe("selinux", script("selinux.sh"))
def _parse_selinux(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)

    def first(name: str) -> str | None:
        return next((l.strip() for l in parts.get(name, []) if l.strip()), None)

    now = first("now")
    return {
        "now": int(now) if now and now.isdigit() else None,
        "enforce": first("enforce"),
        "getenforce": first("getenforce"),
        "agent_domain": first("agent-domain"),
        "label": first("label"),
        "relabel": [l for l in parts.get("relabel", []) if l.strip()],
        "fcontext_local": [l for l in parts.get("fcontext-local", []) if l.strip()],
        "permissive": [l for l in parts.get("permissive", []) if l.strip()],
        "avc": [l for l in parts.get("avc", []) if l.strip()],
    }


# --- check and fix -----------------------------------------------------------------------------------

_AUDIT_TIME = re.compile(r"msg=audit\((\d+)(?:\.\d+)?:\d+\)")
_SCONTEXT = re.compile(r"scontext=\S*?:\S*?:(\w+)")


def selinux_type(context: str | None) -> str | None:
    parts = (context or "").split(":")
    return parts[2] if len(parts) >= 3 else None


def relabel_paths(lines: list[str]) -> list[str]:
    """Files ``restorecon -n -v`` would relabel (RHEL 8+ 'Would relabel', RHEL 7 'restorecon reset')."""
    paths = []
    for line in lines:
        match = re.match(r"^Would relabel (\S+) from", line) or re.match(
            r"^restorecon reset (\S+) context", line
        )
        if match:
            paths.append(match.group(1))
    return paths


def recent_denials(facts: Mapping[str, Any], hours: int) -> list[dict[str, Any]]:
    now = facts.get("now") or int(time.time())
    found = []
    for line in facts.get("avc", []):
        stamp = _AUDIT_TIME.search(line)
        if stamp and now - int(stamp.group(1)) > hours * 3600:
            continue
        source = _SCONTEXT.search(line)
        found.append({"domain": source.group(1) if source else None, "line": line})
    return found


def check_selinux_waagent(observation, settings) -> Finding:
    facts = observation.get("selinux") or {}
    enforce = facts.get("enforce")
    if enforce in (None, "absent"):
        return not_applicable("SELinux is not enabled on this host")
    if enforce != "1":
        return not_applicable("SELinux is permissive: it logs but blocks nothing")
    agent_domain = selinux_type(facts.get("agent_domain"))
    relabel = relabel_paths(facts.get("relabel", []))
    permissive = {l.strip() for l in facts.get("permissive", []) if re.match(r"^\s*\w+_t\s*$", l)}
    denials = recent_denials(facts, settings.selinux_avc_hours)
    agent_denials = [
        d
        for d in denials
        if d["domain"]
        and d["domain"] == agent_domain
        and agent_domain not in UNCONFINED_DOMAINS
        and agent_domain not in permissive
    ]
    others = sorted({d["domain"] for d in denials if d["domain"] and d["domain"] != agent_domain})
    observed = {
        "agent_domain": agent_domain,
        "label": facts.get("label"),
        "mislabeled": relabel[:20],
        "denials": len(denials),
        "local_fcontext": facts.get("fcontext_local"),
    }
    problems = []
    if relabel:
        problems.append(
            f"{len(relabel)} path(s) under /var/lib/waagent carry a label the policy does "
            f"not give them (e.g. {relabel[0]})"
        )
    if agent_denials:
        problems.append(
            f"{len(agent_denials)} recent denial(s) of the agent's confined domain {agent_domain}"
        )
    if problems:
        return failed(
            "; ".join(problems),
            observed,
            {"mislabeled": [], "agent_denials": 0},
            relabel=bool(relabel),
            permissive_domain=agent_domain if agent_denials else None,
        )
    extra = f"; denials of other domains mention waagent: {', '.join(others)}" if others else ""
    return passed(
        f"SELinux enforcing: /var/lib/waagent labeled as the policy says, the agent runs as "
        f"{agent_domain or 'unknown'} with no recent denial{extra}",
        observed,
    )


def fix_selinux_waagent(observation, settings, finding: Finding) -> list[Step]:
    steps = []
    if finding.plan.get("relabel"):
        # Least invasive: give the files back the labels the loaded policy defines; policy unchanged.
        steps.append(
            shell(
                "Restore the policy's labels under /var/lib/waagent",
                "restorecon -R -v /var/lib/waagent",
            )
        )
    domain = finding.plan.get("permissive_domain")
    if domain:
        if settings.selinux_permissive_agent_domain:
            steps.append(
                shell(
                    f"Make only the agent's domain {domain} permissive",
                    f"semanage permissive -l | grep -qx {shlex.quote(domain)} || "
                    f"semanage permissive -a {shlex.quote(domain)}",
                )
            )
        else:
            steps.append(
                note(
                    f"the policy denies the agent's domain {domain}: set "
                    "bcdrfix_selinux_permissive_agent_domain=true to make only that domain "
                    f"permissive (semanage permissive -a {domain}); SELinux stays enforcing "
                    "for everything else"
                )
            )
    return steps


CONTROLS.register(
    Control(
        id="linux.selinux_waagent",
        title="SELinux does not block the agent's paths under /var/lib/waagent",
        platform="linux",
        disruptive=False,
        probes=("selinux",),
        check=check_selinux_waagent,
        fix=fix_selinux_waagent,
        description="On enforcing hosts: restorecon on /var/lib/waagent when labels differ from the "
        "policy; a permissive agent domain only on explicit request; never setenforce 0.",
    )
)
