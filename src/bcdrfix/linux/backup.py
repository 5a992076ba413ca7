"""Linux backup extension (VMSnapshotLinux) and network prerequisites.

Controls: linux.vmbackup_conf, linux.vmbackup_conf_location, linux.freeze_readiness (its
umount/fsck fix is disruptive), linux.selinux_waagent, linux.connectivity, linux.dhcp.

Facts: shared REFERENCE sections 2 and 3, checked against the extension's own code (VMBackup
``HandlerUtil.get_value_from_configfile``, ``fsfreezer.py``, ``mounts.py``) and the agent's
``restutil.py`` (proxy choice).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import time
from collections.abc import Mapping
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
    shell,
    write_file,
)
from bcdrfix.core.observe import PROBE_VARIABLES, parse_file, probe, split_subsections
from bcdrfix.core.settings import (
    SettingsError,
    SettingsTable,
    as_bool,
    as_int_range,
    as_path,
    as_port,
    optional,
)
from bcdrfix.linux import netconf, vmbackup_conf, waagent_conf

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()
define = SETTINGS.define

# --- settings -------------------------------------------------------------------------------------

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def as_host(name: str, value: Any) -> str:
    text = str(value).strip()
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    if not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
        raise SettingsError(f"{name}={value!r}: expected an IPv4 address or a host name")
    return text


def as_port_list(name: str, value: Any) -> tuple[int, ...]:
    items = [value] if isinstance(value, (str, int)) else list(value or ())
    ports = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            try:
                port = int(part)
            except ValueError:
                port = -1
            if not 1 <= port <= 65535:
                raise SettingsError(f"{name}: {part.strip()!r} is not a TCP port 1-65535")
            ports.append(port)
    return tuple(dict.fromkeys(ports))


def as_host_list(name: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or ())
    return tuple(
        dict.fromkeys(
            as_host(name, p.strip()) for item in items for p in str(item).split(",") if p.strip()
        )
    )


def as_vmbackup_conf(name: str, value: Any) -> dict[str, str | None]:
    try:
        return vmbackup_conf.normalise_desired(value or {})
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def as_interface(name: str, value: Any) -> str:
    text = str(value).strip()
    if not re.match(r"^[A-Za-z0-9_.:@-]{1,15}$", text):
        raise SettingsError(f"{name}={value!r}: expected a network interface name such as eth0")
    return text


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
define("bcdrfix_wireserver_address", "168.63.129.16", as_host, "Azure wireserver address.")
define(
    "bcdrfix_wireserver_ports",
    (80, 32526),
    as_port_list,
    "Wireserver TCP ports that must answer (add 443 where your network rules require it).",
)
define("bcdrfix_imds_address", "169.254.169.254", as_host, "Instance Metadata Service address.")
define("bcdrfix_imds_port", 80, as_port, "IMDS TCP port.")
define(
    "bcdrfix_storage_endpoints",
    (),
    as_host_list,
    "Storage host names the snapshot upload needs (e.g. myaccount.blob.core.windows.net).",
)
define(
    "bcdrfix_storage_ports",
    (443, 8443),
    as_port_list,
    "Ports checked on each storage endpoint: 443, and 8443 for managed disks.",
)
define(
    "bcdrfix_connect_timeout",
    3,
    as_int_range(1, 30, "seconds"),
    "Seconds each connectivity probe waits.",
)
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
define(
    "bcdrfix_dhcp_interface",
    None,
    optional(as_interface),
    "Interface that must use DHCP; default: the one with the default route.",
)


def connectivity_targets(settings) -> list[tuple[str, str, int]]:
    """``(label, host, port)`` for each endpoint the settings ask to check."""
    targets = [
        ("wireserver", settings.wireserver_address, port) for port in settings.wireserver_ports
    ]
    targets.append(("IMDS", settings.imds_address, settings.imds_port))
    targets += [
        ("storage", host, port)
        for host in settings.storage_endpoints
        for port in settings.storage_ports
    ]
    return targets


PROBE_VARIABLES["BCDR_VMBACKUP_CONF"] = lambda settings: settings.vmbackup_conf_path
PROBE_VARIABLES["BCDR_ENDPOINTS"] = lambda settings: " ".join(
    f"{host}:{port}" for _, host, port in connectivity_targets(settings)
)
PROBE_VARIABLES["BCDR_CONNECT_TIMEOUT"] = lambda settings: settings.connect_timeout
PROBE_VARIABLES["BCDR_DHCP_IFACE"] = lambda settings: settings.dhcp_interface or ""

TEMPLATE_GLOB = "/var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-*/main/tempPlugin/vmbackup.conf"
FREEZABLE_FSTYPES = (
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
)  # fsfreezer.should_skip / mounts.should_skip_fstype
UNCONFINED_DOMAINS = ("unconfined_service_t", "unconfined_t", "initrc_t", "kernel_t", "spc_t")


# --- probes ---------------------------------------------------------------------------------------


@probe("vmbackup_conf", 'bcdr_file "$BCDR_VMBACKUP_CONF"')
def _parse_vmbackup_conf(lines: list[str]) -> dict | None:
    return parse_file(lines)


@probe(
    "vmbackup_templates",
    f"""
for f in {TEMPLATE_GLOB}; do
  [ -f "$f" ] && {{ printf '@@ %s\\n' "$f"; bcdr_file "$f"; }}
done
""",
)
def _parse_templates(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    return {path: parse_file(body) for path, body in parts.items() if path and parse_file(body)}


@probe(
    "freeze_mounts",
    r"""
echo "@@ lsblk"
lsblk -b -n -P -o NAME,KNAME,TYPE,FSTYPE,MOUNTPOINT
echo "@@ mounts"
cat /proc/self/mounts
lsblk -n -r -o KNAME,MOUNTPOINT | while read -r kname mnt; do
  [ -n "$mnt" ] || continue
  mnt=$(printf '%s' "$mnt" | sed 's/\\x20/ /g')  # lsblk -r writes a space as \x20
  # Like the extension: lsblk's FSTYPE, else the mount table's (lsblk has none without udev).
  fstype=$(lsblk -n -d -r -o FSTYPE "/dev/$kname" 2>/dev/null)
  [ -n "$fstype" ] || fstype=$(awk -v m="$mnt" '$2 == m { print $3; exit }' /proc/self/mounts)
  case "$fstype" in ext3|ext4|xfs|btrfs) ;; *) continue ;; esac
  printf '@@ dev %s\n' "$kname"
  if timeout 5 stat -f -c %T "$mnt" >/dev/null 2>&1; then echo "responds: yes"; else echo "responds: no"; fi
  case "$fstype" in ext*)
    dumpe2fs -h "/dev/$kname" 2>/dev/null | grep -E '^(Filesystem state|FS Error count|Filesystem features):'
    [ -r "/sys/fs/ext4/$kname/errors_count" ] && echo "errors_count: $(cat "/sys/fs/ext4/$kname/errors_count")"
  esac
done
""",
)
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
                    info[key.strip()] = value.strip()
            state[name[4:]] = info
    return {"devices": devices, "mounts": mounts, "state": state}


def _unescape_lsblk(value: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _unescape_octal(value: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)


@probe(
    "selinux",
    r"""
echo "@@ now"; date +%s
echo "@@ enforce"; cat /sys/fs/selinux/enforce 2>/dev/null || echo absent
echo "@@ getenforce"; command -v getenforce >/dev/null && getenforce
if [ "$(cat /sys/fs/selinux/enforce 2>/dev/null)" = 1 ]; then
  echo "@@ agent-domain"
  pid=$(systemctl show -p MainPID --value "$BCDR_UNIT" 2>/dev/null)
  [ "${pid:-0}" -gt 0 ] && tr -d '\0' < "/proc/$pid/attr/current" && echo
  echo "@@ label"; ls -Zd /var/lib/waagent
  echo "@@ relabel"; restorecon -R -n -v /var/lib/waagent 2>&1 | head -n 200
  echo "@@ fcontext-local"; semanage fcontext -l -C 2>/dev/null | grep -i waagent
  echo "@@ permissive"; semanage permissive -l 2>/dev/null
  echo "@@ avc"
  grep -h 'avc: *denied' /var/log/audit/audit.log 2>/dev/null | grep -i waagent | tail -n 50
fi
""",
)
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


@probe(
    "connectivity",
    r"""
bcdr_connect() {
  timeout "${BCDR_CONNECT_TIMEOUT:-3}" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1
}
bcdr_proxy_candidates() {
  pid=$(systemctl show -p MainPID --value "$BCDR_UNIT" 2>/dev/null)
  echo "@@ environ"
  [ "${pid:-0}" -gt 0 ] && tr '\0' '\n' < "/proc/$pid/environ" | grep -i -E '^(https?|no)_proxy='
  echo "@@ unit"
  [ -n "$BCDR_UNIT" ] && systemctl show -p Environment -p EnvironmentFiles "$BCDR_UNIT"
  echo "@@ envfiles"
  for f in $(systemctl show -p EnvironmentFiles --value "$BCDR_UNIT" 2>/dev/null | sed 's/ (ignore_errors=[a-z]*)//g'); do
    [ -r "${f#-}" ] && grep -i -E '^[[:space:]]*(export[[:space:]]+)?(https?|no)_proxy=' "${f#-}"
  done
}
bcdr_proxy_candidates > /tmp/.bcdrfix-proxy.$$ 2>/dev/null
cat /tmp/.bcdrfix-proxy.$$
proxies=$( { grep -i -E '(https?_proxy)=' /tmp/.bcdrfix-proxy.$$ | sed -E 's/.*https?_proxy=["'\'']?//I; s#^[a-zA-Z]+://##; s#^.*@##; s#[/"'\'' ].*$##'
  grep -E '^HttpProxy\.(Host|Port)=' "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" 2>/dev/null | sed 's/#.*//; s/"//g; s/ //g' | awk -F= '$1=="HttpProxy.Host"{h=$2} $1=="HttpProxy.Port"{p=$2} END{if(h!="" && p!="") print h":"p}'
} | sort -u)
rm -f /tmp/.bcdrfix-proxy.$$
echo "@@ results"
d=$(mktemp -d) || exit 0
i=0
for ep in $BCDR_ENDPOINTS $proxies; do
  case "$ep" in *:*) ;; *) ep="$ep:80" ;; esac
  i=$((i+1))
  ( out=$(bcdr_connect "${ep%:*}" "${ep##*:}"); rc=$?
    printf '%s %s %s\n' "$ep" "$rc" "$(printf %s "$out" | tr '\n' ' ')" > "$d/$i" ) &
done
wait
for f in "$d"/*; do [ -f "$f" ] && cat "$f"; done
rm -rf "$d"
""",
)
def _parse_connectivity(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    results = {}
    for line in parts.get("results", []):
        cols = line.split(" ", 2)
        if len(cols) >= 2 and cols[1].lstrip("-").isdigit():
            results[cols[0]] = {
                "rc": int(cols[1]),
                "message": cols[2].strip() if len(cols) > 2 else "",
            }
    return {
        "environ": [l for l in parts.get("environ", []) if "=" in l],
        "unit": [l for l in parts.get("unit", []) if "=" in l],
        "envfiles": [l for l in parts.get("envfiles", []) if "=" in l],
        "results": results,
    }


@probe(
    "network_config",
    r"""
echo "@@ route"; ip -o route show default
echo "@@ addr"; ip -o -4 addr show
echo "@@ link"; ip -o link show
for f in /etc/netplan/*.yaml /etc/netplan/*.yml /run/netplan/*.yaml /run/netplan/*.yml; do
  [ -f "$f" ] && { printf '@@ file netplan %s\n' "$f"; bcdr_file "$f"; }
done
echo "@@ networkd-state"
echo "active=$(systemctl is-active systemd-networkd 2>/dev/null)"
echo "enabled=$(systemctl is-enabled systemd-networkd 2>/dev/null)"
for d in /etc/systemd/network /run/systemd/network /usr/lib/systemd/network /lib/systemd/network; do
  [ -L "$d" ] && continue
  for f in "$d"/*.network; do [ -f "$f" ] && { printf '@@ file networkd %s\n' "$f"; bcdr_file "$f"; }; done
done
echo "@@ nm-state"
echo "active=$(systemctl is-active NetworkManager 2>/dev/null)"
if command -v nmcli >/dev/null 2>&1 && [ "$(systemctl is-active NetworkManager 2>/dev/null)" = active ]; then
  echo "@@ nm-connections"
  nmcli -t -f NAME,UUID,TYPE,DEVICE,FILENAME connection show --active
  echo "@@ nm-methods"
  for u in $(nmcli -t -f UUID connection show --active); do
    printf '%s %s\n' "$u" "$(nmcli -t -f ipv4.method connection show "$u" | sed 's/^ipv4.method://')"
  done
fi
for f in /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network/ifcfg-*; do
  case "$f" in *~|*.bak|*.orig|*.rpmsave|*.rpmnew|*ifcfg-lo) continue ;; esac
  [ -f "$f" ] && { printf '@@ file ifcfg %s\n' "$f"; bcdr_file "$f"; }
done
for f in /etc/network/interfaces /etc/network/interfaces.d/*; do
  [ -f "$f" ] && { printf '@@ file ifupdown %s\n' "$f"; bcdr_file "$f"; }
done
""",
)
def _parse_network_config(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    facts: dict[str, Any] = {
        "route": parts.get("route", []),
        "addr": parts.get("addr", []),
        "link": parts.get("link", []),
        "netplan": {},
        "ifcfg": {},
        "ifupdown": {},
        "networkd": dict(l.split("=", 1) for l in parts.get("networkd-state", []) if "=" in l),
    }
    facts["networkd"]["files"] = {}
    for name, body in parts.items():
        if name.startswith("file "):
            _, kind, path = name.split(" ", 2)
            content = parse_file(body)
            if content is None:
                continue
            if kind == "networkd":
                facts["networkd"]["files"][path] = content
            else:
                facts[kind][path] = content
    nm_state = dict(l.split("=", 1) for l in parts.get("nm-state", []) if "=" in l)
    methods = dict(l.split(" ", 1) for l in parts.get("nm-methods", []) if " " in l)
    connections = []
    for line in parts.get("nm-connections", []):
        fields = netconf.split_nmcli(line)
        if len(fields) >= 4:
            connections.append(
                {
                    "name": fields[0],
                    "uuid": fields[1],
                    "type": fields[2],
                    "device": fields[3],
                    "filename": fields[4] if len(fields) > 4 else "",
                    "method": methods.get(fields[1], "").strip(),
                }
            )
    facts["nm"] = {"state": nm_state.get("active"), "connections": connections}
    return facts


# --- 1. vmbackup.conf -----------------------------------------------------------------------------


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
            f"Write {settings.vmbackup_conf_path}",
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


# --- 2. vmbackup.conf location --------------------------------------------------------------------


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


# --- 3. freeze readiness --------------------------------------------------------------------------


def effective_mounts_to_skip(observation, settings) -> list[str]:
    """MountsToSkip after this run: the desired value if group data sets it, else the file's."""
    desired = dict(settings.vmbackup_conf)
    if "MountsToSkip" in desired:
        return [e for e in (desired["MountsToSkip"] or "").split(",") if e]
    current = observation.get("vmbackup_conf")
    parser, _ = vmbackup_conf.read(current["text"]) if current else (None, None)
    value, _ = vmbackup_conf.effective_value(parser, "MountsToSkip")
    return [e for e in (value or "").split(",") if e]


def resource_disk_mount(observation) -> str:
    conf = observation.get("waagent_conf")
    values = waagent_conf.parse(conf["text"]) if conf else {}
    return values.get("ResourceDisk.MountPoint") or "/mnt/resource"


def freeze_candidates(observation, settings) -> list[dict[str, Any]]:
    """Mounts the extension would freeze, with what makes each one unfit, if anything."""
    facts = observation.get("freeze_mounts") or {}
    skip = set(effective_mounts_to_skip(observation, settings))
    resource = resource_disk_mount(observation)
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
        elif mount == resource:
            entry["skipped"] = (
                "the resource disk (ResourceDisk.MountPoint): not frozen by the extension"
            )
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
    q = shlex.quote
    mount, device, fstype = entry["mount"], f"/dev/{entry['device']}", entry["fstype"]
    opts = ",".join(o for o in options.split(",") if o and o not in ("seclabel",)) or "defaults"
    return "\n".join(
        [
            "set -e",
            f"m={q(mount)}; d={q(device)}",
            'umount "$m"',  # fails (and stops) while the mount is busy: nothing changed then
            'rc=0; fsck -p "$d" || rc=$?',
            'if [ "$rc" -gt 1 ]; then',
            '  echo "bcdrfix: fsck -p $d exited $rc: $m stays unmounted; run fsck on it by hand" >&2',
            "  exit 1",
            "fi",
            f'mount "$m" 2>/dev/null || mount -t {q(fstype)} -o {q(opts)} "$d" "$m"',
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
        probes=("freeze_mounts", "vmbackup_conf", "waagent_conf"),
        check=check_freeze_readiness,
        fix=fix_freeze_readiness,
        description="Lists the mounts the extension would freeze (ext3/ext4/xfs/btrfs block devices, "
        "not loop, not the resource disk, not in MountsToSkip), finds unclean or unresponsive ones and "
        "suggests MountsToSkip. The articles' umount + fsck + mount runs only with the disruptive "
        "opt-in, one mount at a time, stopping at the first error.",
    )
)


# --- 4. SELinux -----------------------------------------------------------------------------------

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


# --- 5. connectivity ------------------------------------------------------------------------------


def classify_connect(result: Mapping[str, Any] | None, timeout: int) -> tuple[bool, str]:
    if result is None:
        return False, "not probed (bash or timeout missing on the host)"
    rc, message = result["rc"], result.get("message", "").lower()
    if rc == 0:
        return True, "open"
    if rc == 124:
        return False, f"no answer in {timeout}s (a firewall or NSG drops it, or no route)"
    for needle, text in (
        ("refused", "refused (nothing listens, or a firewall rejects it)"),
        ("no route", "no route to host"),
        ("unreachable", "network unreachable"),
        ("not known", "name does not resolve"),
        ("name resolution", "name does not resolve"),
        ("no such file", "bash has no /dev/tcp support"),
    ):
        if needle in message:
            return False, text
    return False, f"failed ({message or f'exit {rc}'})"


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def proxy_environment(facts: Mapping[str, Any]) -> dict[str, str]:
    """The agent's proxy variables: its running process, else its unit's Environment= and files."""
    values: dict[str, str] = {}
    if facts.get("environ"):
        sources = facts["environ"]
    else:
        sources = []
        for line in facts.get("unit", []):
            if line.startswith("Environment="):
                sources += shlex.split(line[len("Environment=") :])
        sources += [re.sub(r"^\s*export\s+", "", l).strip() for l in facts.get("envfiles", [])]
    for item in sources:
        key, _, value = item.partition("=")
        if key.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            values.setdefault(key, value.strip().strip("'\""))
    return values


def effective_proxy(observation) -> tuple[str | None, str]:
    """``(host:port, where it comes from)`` the agent uses for HTTPS, as restutil chooses."""
    conf = observation.get("waagent_conf")
    values = waagent_conf.parse(conf["text"]) if conf else {}
    host, port = values.get("HttpProxy.Host"), values.get("HttpProxy.Port")
    if host:  # configuration wins over the environment
        return (f"{host}:{port}" if port else None), "HttpProxy.Host/Port in waagent.conf"
    env = proxy_environment(observation.get("connectivity") or {})
    url = env.get("https_proxy") or env.get("HTTPS_PROXY")
    if not url:
        return None, ""
    match = re.match(r"^(?:[a-zA-Z]+://)?(?:[^@/]*@)?([^:/]+)(?::(\d+))?", url)
    if not match:
        return None, f"unparsable https_proxy {_redact(url)!r}"
    return (
        f"{match.group(1)}:{match.group(2) or 80}",
        f"https_proxy={_redact(url)} in the agent's environment",
    )


def bypasses_proxy(observation, host: str) -> bool:
    env = proxy_environment(observation.get("connectivity") or {})
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    for entry in [e for e in no_proxy.replace(" ", "").split(",") if e]:
        try:
            if ipaddress.IPv4Address(host) in ipaddress.IPv4Network(entry, strict=False):
                return True
        except ValueError:
            if host.lower().endswith(entry.lower()):
                return True
    return False


def check_connectivity(observation, settings) -> Finding:
    facts = observation.get("connectivity")
    if facts is None:
        return error("the connectivity probe returned nothing")
    results = facts.get("results", {})
    timeout = settings.connect_timeout
    proxy, proxy_source = effective_proxy(observation)
    rows, bad = [], []
    for label, host, port in connectivity_targets(settings):
        target = f"{host}:{port}"
        via = ""
        if label == "storage" and proxy and not bypasses_proxy(observation, host):
            via, target = f" via proxy {proxy}", proxy
        ok, why = classify_connect(results.get(target), timeout)
        row = f"{label} {host}:{port}{via}: {why}"
        rows.append(row)
        if not ok:
            bad.append(row)
    observed = {"endpoints": rows, "proxy": proxy, "proxy_source": proxy_source}
    if proxy_source and proxy is None:
        bad.append(f"the agent's proxy setting is incomplete or unreadable ({proxy_source})")
    if bad:
        return failed(
            "; ".join(bad) + ". Open these in the guest firewall, NSG, route table or "
            "proxy; nothing inside the guest can be changed safely for this",
            observed,
            {"all": "open"},
        )
    proxy_text = f"; storage via proxy {proxy} ({proxy_source})" if proxy else ""
    return passed(f"{len(rows)} endpoint(s) answer{proxy_text}", observed)


CONTROLS.register(
    Control(
        id="linux.connectivity",
        title="Wireserver, IMDS and storage endpoints answer from the guest (through the agent's proxy)",
        platform="linux",
        disruptive=False,
        probes=("connectivity", "waagent_conf"),
        check=check_connectivity,
        fix=None,
        description="TCP connects from the guest (bash /dev/tcp with a timeout) to the wireserver "
        "ports, IMDS and each storage endpoint (443, 8443 for managed disks); storage goes through "
        "the agent's effective proxy (HttpProxy.* beats https_proxy; no_proxy honoured). Addresses "
        "and ports come from settings.",
    )
)


# --- 6. DHCP --------------------------------------------------------------------------------------


def check_dhcp(observation, settings) -> Finding:
    facts = observation.get("network_config")
    if facts is None:
        return error("the network configuration probe returned nothing")
    state = netconf.dhcp_state(facts, settings.dhcp_interface)
    observed = {
        "interface": state.interface,
        "manager": state.manager,
        "source": state.source,
        "detail": state.detail,
    }
    if state.manager is None:
        return not_applicable(state.describe(), observed)
    if state.dhcp is None:
        return error(state.describe(), observed)
    if state.dhcp:
        return passed(state.describe(), observed, {"dhcp": True})
    return failed(
        f"{state.describe()}: Azure Backup needs DHCP inside the guest (put static IPs on "
        "the Azure NIC)",
        observed,
        {"dhcp": True},
        state=state,
    )


APPLY_COMMANDS = {
    "netplan": "netplan apply",
    "NetworkManager": "nmcli connection up <connection>",
    "systemd-networkd": "networkctl reload && networkctl reconfigure <interface>",
    "ifcfg": "ifdown <interface>; ifup <interface>",
    "ifupdown": "ifdown <interface>; ifup <interface>",
}


def fix_dhcp(observation, settings, finding: Finding) -> list[Step]:
    facts = observation["network_config"]
    state: netconf.DhcpState = finding.plan["state"]
    interface = state.interface
    # The check plans a fix only for a known manager (and, for ifupdown, a known interface).
    assert state.manager is not None
    steps: list[Step] = []
    if state.manager == "netplan":
        current = facts["netplan"].get(netconf.NETPLAN_OVERRIDE)
        steps.append(
            write_file(
                f"Write {netconf.NETPLAN_OVERRIDE} (dhcp4: true for {state.plan['id']})",
                netconf.NETPLAN_OVERRIDE,
                netconf.netplan_override(current, state.plan["kind"], state.plan["id"]),
                current,
                mode="600",
            )
        )
        # Render now so that a mistake shows here and not at the next boot; undo it if netplan refuses.
        steps.append(
            shell(
                "Check the netplan configuration (netplan generate)",
                f"netplan generate || {{ rm -f {shlex.quote(netconf.NETPLAN_OVERRIDE)}; "
                "echo 'bcdrfix: netplan rejected the change, removed it' >&2; exit 1; }",
                when_changed=0,
            )
        )
    elif state.manager == "NetworkManager":
        steps.append(
            shell(
                f"Set ipv4.method auto on {state.source}",
                f"nmcli connection modify {shlex.quote(state.plan['uuid'])} ipv4.method auto",
            )
        )
    elif state.manager == "systemd-networkd":
        source = state.plan["path"]
        target = (
            source
            if source.startswith("/etc/")
            else f"/etc/systemd/network/{source.rsplit('/', 1)[1]}"
        )
        current = facts["networkd"]["files"].get(source)
        existing = facts["networkd"]["files"].get(target)
        steps.append(
            write_file(
                f"Set DHCP=yes in {target}",
                target,
                netconf.networkd_enable_dhcp(current["text"]),
                existing,
            )
        )
    elif state.manager == "ifcfg":
        path = state.plan["path"]
        current = facts["ifcfg"][path]
        steps.append(
            write_file(
                f"Set BOOTPROTO=dhcp in {path}",
                path,
                netconf.ifcfg_enable_dhcp(current["text"]),
                current,
            )
        )
    elif state.manager == "ifupdown":
        assert interface is not None
        path = state.plan["path"]
        current = facts["ifupdown"][path]
        steps.append(
            write_file(
                f"Set iface {interface} inet dhcp in {path}",
                path,
                netconf.ifupdown_enable_dhcp(current["text"], interface),
                current,
            )
        )
    apply = (
        APPLY_COMMANDS[state.manager]
        .replace("<interface>", interface or "")
        .replace("<connection>", str(state.plan.get("uuid", "")))
    )
    steps.append(
        note(
            f"DHCP is configured for {interface}; it takes effect at the next boot or with "
            f"`{apply}` (bcdrfix does not run it: it would drop the connection it works over)",
            name="DHCP takes effect at the next boot",
        )
    )
    return steps


CONTROLS.register(
    Control(
        id="linux.dhcp",
        title="The guest's primary interface uses DHCP",
        platform="linux",
        disruptive=False,
        probes=("network_config",),
        check=check_dhcp,
        fix=fix_dhcp,
        description="Finds what configures the primary interface (netplan, NetworkManager, "
        "systemd-networkd, ifcfg, ifupdown) and turns DHCP on in that configuration; the change "
        "takes effect at the next boot (applying it live would cut the session).",
    )
)
