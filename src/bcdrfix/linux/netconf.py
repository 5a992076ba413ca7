"""Which tool configures a Linux guest's primary interface and whether it uses DHCP, for netplan,
NetworkManager, systemd-networkd, RHEL/SUSE ``ifcfg`` and Debian ``ifupdown``.

bcdrfix only reports here: rewriting network configuration loses secondary addresses at the next
boot and can lock out a host that is not an Azure VM, while the agent and the extension reach the
fixed wireserver address with or without DHCP.

Azure Backup needs DHCP inside the guest (the articles: the VM must get the host/fabric address
from DHCP option 245); a static private IP belongs on the Azure NIC, not in the guest.

Everything here works on data the observation probe brought back; nothing talks to a host.
Precedence follows what really configures the interface: netplan renders for networkd or
NetworkManager, so a netplan file that covers the interface wins; then an active NetworkManager
connection; then systemd-networkd (running or enabled at boot); then ifcfg; then ifupdown.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NETWORKD_DIRS = (
    "/etc/systemd/network",
    "/run/systemd/network",
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
)
NETPLAN_DEVICE_TYPES = ("ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs")
_TRUE = {"yes", "true", "on", "1", "y"}


@dataclass
class DhcpState:
    """What configures ``interface`` and whether it asks DHCP for an IPv4 address."""

    interface: str | None
    manager: str | None  # netplan | NetworkManager | systemd-networkd | ifcfg | ifupdown | None
    dhcp: bool | None
    source: str = ""  # file path or connection
    detail: str = ""
    plan: dict[str, Any] = field(default_factory=dict)  # what the fix needs

    def describe(self) -> str:
        if self.manager is None:
            return self.detail
        state = "DHCP" if self.dhcp else "a static address"
        return f"{self.interface} uses {state} ({self.manager}: {self.source}){': ' + self.detail if self.detail else ''}"


# --- probe output -----------------------------------------------------------------------------


def primary_interface(facts: Mapping[str, Any], forced: str | None = None) -> str | None:
    """The interface with the default route, else the first one with a global IPv4 address."""
    if forced:
        return forced
    for line in facts.get("route", []):
        match = re.search(r"\bdev (\S+)", line)
        if match:
            return match.group(1)
    for line in facts.get("addr", []):
        parts = line.split()
        if len(parts) > 3 and parts[1] != "lo" and parts[2] == "inet":
            return parts[1]
    return None


def mac_of(facts: Mapping[str, Any], interface: str) -> str | None:
    for line in facts.get("link", []):
        parts = line.split()
        if len(parts) > 1 and parts[1].rstrip(":").split("@")[0] == interface:
            match = re.search(r"link/ether ([0-9a-f:]{17})", line)
            return match.group(1) if match else None
    return None


def dhcp_state(facts: Mapping[str, Any], forced_interface: str | None = None) -> DhcpState:
    interface = primary_interface(facts, forced_interface)
    if interface is None:
        return DhcpState(None, None, None, detail="no interface with an IPv4 address found")
    mac = mac_of(facts, interface)
    for finder in (_netplan, _network_manager, _networkd, _ifcfg, _ifupdown):
        state = finder(facts, interface, mac)
        if state is not None:
            return state
    return DhcpState(
        interface,
        None,
        None,
        detail=f"no netplan, NetworkManager, systemd-networkd, ifcfg or ifupdown configuration "
        f"covers {interface}: its address is set outside these tools",
    )


# --- netplan ----------------------------------------------------------------------------------


def _netplan_merged(files: Mapping[str, Mapping[str, Any]]) -> tuple[dict, dict[str, str]]:
    """Netplan's merge: all files sorted by name, later keys override earlier ones."""
    by_name: dict[str, str] = {}
    for path in files:
        by_name.setdefault(os.path.basename(path), path)  # /etc listed before /run: /etc wins
    import yaml  # at the first netplan file: not before an audit contacts its first host

    merged: dict[str, dict[str, dict]] = {}
    origin: dict[str, str] = {}
    for name in sorted(by_name):
        path = by_name[name]
        data = yaml.safe_load(files[path]["text"]) or {}
        network = data.get("network") or {}
        for kind in NETPLAN_DEVICE_TYPES:
            for dev_id, conf in (network.get(kind) or {}).items():
                target = merged.setdefault(kind, {}).setdefault(str(dev_id), {})
                target.update(conf or {})
                origin[f"{kind}/{dev_id}"] = path
    return merged, origin


def _netplan_id_matches(
    dev_id: str, conf: Mapping[str, Any], interface: str, mac: str | None
) -> bool:
    match = conf.get("match")
    if isinstance(match, Mapping):
        if "name" in match and not fnmatch.fnmatch(interface, str(match["name"])):
            return False
        if "macaddress" in match and (mac is None or str(match["macaddress"]).lower() != mac):
            return False
        return bool(match) or dev_id == interface
    return dev_id == interface or conf.get("set-name") == interface


def _netplan(facts, interface, mac) -> DhcpState | None:
    files = facts.get("netplan") or {}
    if not files:
        return None
    import yaml

    try:
        merged, origin = _netplan_merged(files)
    except yaml.YAMLError as exc:
        return DhcpState(
            interface,
            "netplan",
            None,
            ", ".join(files),
            detail=f"a netplan file is not valid YAML: {' '.join(str(exc).split())}",
        )
    for kind, devices in merged.items():
        for dev_id, conf in devices.items():
            if _netplan_id_matches(dev_id, conf, interface, mac):
                dhcp = str(conf.get("dhcp4", "false")).lower() in _TRUE
                return DhcpState(
                    interface,
                    "netplan",
                    dhcp,
                    origin[f"{kind}/{dev_id}"],
                    detail=f"{kind}.{dev_id}.dhcp4={conf.get('dhcp4', 'unset')}",
                    plan={"kind": kind, "id": dev_id},
                )
    return None


# --- NetworkManager -----------------------------------------------------------------------------


def split_nmcli(line: str) -> list[str]:
    """``nmcli -t`` fields: ``:`` separates, ``\\:`` and ``\\\\`` are escaped."""
    fields, current, escaped = [], "", False
    for char in line:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    return fields


def _network_manager(facts, interface, mac) -> DhcpState | None:
    nm = facts.get("nm") or {}
    if nm.get("state") != "active":
        return None
    for conn in nm.get("connections", []):
        if conn.get("device") == interface:
            method = conn.get("method") or "unknown"
            return DhcpState(
                interface,
                "NetworkManager",
                method == "auto",
                f"connection {conn['name']!r} ({conn.get('filename') or conn['uuid']})",
                detail=f"ipv4.method={method}",
                plan={"uuid": conn["uuid"]},
            )
    return None


# --- systemd-networkd ---------------------------------------------------------------------------


def parse_unit_ini(text: str) -> list[tuple[str, str, str]]:
    """systemd INI: ``(section, key, value)`` in file order."""
    entries, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line:
            key, value = line.split("=", 1)
            entries.append((section, key.strip(), value.strip()))
    return entries


def _networkd_matches(entries, interface: str, mac: str | None) -> bool:
    match = [(k, v) for s, k, v in entries if s == "Match"]
    for key, value in match:
        patterns = value.split()
        if key == "Name":
            if not patterns:
                continue
            negate = patterns[0].startswith("!")
            hit = any(fnmatch.fnmatch(interface, p.lstrip("!")) for p in patterns)
            if hit == negate:
                return False
        elif key in ("MACAddress", "PermanentMACAddress"):
            if mac is None or mac not in [p.lower() for p in patterns]:
                return False
        elif key == "Type" and value not in ("ether", "!loopback"):
            return False
    return True


def _effective_networkd_files(files: Mapping[str, Any]) -> dict[str, str]:
    """basename -> path: /etc overrides /run overrides /usr/lib (same name)."""
    chosen: dict[str, str] = {}
    for directory in NETWORKD_DIRS:
        for path in files:
            if os.path.dirname(path) == directory:
                chosen.setdefault(os.path.basename(path), path)
    return chosen


def _networkd(facts, interface, mac) -> DhcpState | None:
    networkd = facts.get("networkd") or {}
    if networkd.get("active") != "active" and networkd.get("enabled") not in (
        "enabled",
        "enabled-runtime",
    ):
        return None
    files = networkd.get("files") or {}
    for _name, path in sorted(_effective_networkd_files(files).items()):
        entries = parse_unit_ini(files[path]["text"])
        if not _networkd_matches(entries, interface, mac):
            continue
        dhcp_values = [v for s, k, v in entries if s == "Network" and k == "DHCP"]
        value = dhcp_values[-1].lower() if dhcp_values else "no"
        dhcp = value in ("yes", "ipv4", "true", "on", "1", "both")
        return DhcpState(
            interface,
            "systemd-networkd",
            dhcp,
            path,
            detail=f"DHCP={dhcp_values[-1] if dhcp_values else 'unset (no)'}",
            plan={"path": path},
        )
    return None


# --- ifcfg (RHEL, CentOS, Oracle, SUSE) -----------------------------------------------------------


def parse_shell_vars(text: str) -> dict[str, str]:
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value.strip("'\"")]
        values[key.strip()] = words[0] if words else ""
    return values


def _ifcfg(facts, interface, mac) -> DhcpState | None:
    for path, file in sorted((facts.get("ifcfg") or {}).items()):
        values = parse_shell_vars(file["text"])
        name = os.path.basename(path)[len("ifcfg-") :]
        device = values.get("DEVICE") or values.get("NAME") or name
        hwaddr = (values.get("HWADDR") or "").lower()
        if device != interface and name != interface and not (mac and hwaddr == mac):
            continue
        proto = (values.get("BOOTPROTO") or "none").lower()
        return DhcpState(
            interface,
            "ifcfg",
            proto in ("dhcp", "dhcp4", "bootp"),
            path,
            detail=f"BOOTPROTO={values.get('BOOTPROTO', 'unset (none)')}",
            plan={"path": path},
        )
    return None


# --- ifupdown (Debian) ----------------------------------------------------------------------------

_IFACE = re.compile(r"^\s*iface\s+(\S+)\s+inet\s+(\S+)")


def _ifupdown(facts, interface, mac) -> DhcpState | None:
    for path, file in sorted((facts.get("ifupdown") or {}).items()):
        for line in file["text"].splitlines():
            match = _IFACE.match(line)
            if match and match.group(1) == interface:
                method = match.group(2)
                return DhcpState(
                    interface,
                    "ifupdown",
                    method == "dhcp",
                    path,
                    detail=f"iface {interface} inet {method}",
                    plan={"path": path},
                )
    return None
