"""The guest's primary interface uses DHCP: the control (report only); detection is ``netconf``.

Control: linux.dhcp.
"""

from __future__ import annotations

import re
from typing import Any

from bcdrfix.core.model import (
    Control,
    ControlRegistry,
    Finding,
    error,
    failed,
    not_applicable,
    passed,
    report_only,
)
from bcdrfix.core.observe import (
    PROBE_VARIABLES,
    Unreadable,
    parse_file,
    probe,
    split_subsections,
)
from bcdrfix.core.settings import SettingsError, SettingsTable, optional
from bcdrfix.linux import netconf, script

CONTROLS = ControlRegistry()
SETTINGS = SettingsTable()
define = SETTINGS.define

# --- settings -------------------------------------------------------------------------------------


def as_interface(name: str, value: Any) -> str:
    text = str(value).strip()
    if not re.match(r"^[A-Za-z0-9_.:@-]{1,15}$", text):
        raise SettingsError(f"{name}={value!r}: expected a network interface name such as eth0")
    return text


define(
    "bcdrfix_dhcp_interface",
    None,
    optional(as_interface),
    "Interface that must use DHCP; default: the one with the default route.",
)

PROBE_VARIABLES["BCDR_DHCP_IFACE"] = lambda settings: settings.dhcp_interface or ""


# --- probe ----------------------------------------------------------------------------------------


@probe("network_config", script("network_config.sh"))
def _parse_network_config(lines: list[str]) -> dict[str, Any]:
    parts = split_subsections(lines)
    route, addr, link = _split_ip(parts.get("ip", []))
    facts: dict[str, Any] = {
        "route": parts.get("route", route),
        "addr": parts.get("addr", addr),
        "link": parts.get("link", link),
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
            if isinstance(content, Unreadable):  # too large, or the tar did not carry it
                return Unreadable(f"{path}: {content.reason}")
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


_IP_LINK = re.compile(r"^\d+: \S+: <")  # ip -o link: "2: eth0@if9: <BROADCAST,...>"
_IP_ADDR = re.compile(r"^\d+: ")  # ip -o addr: "2: eth0    inet 10.0.0.4/24 ..."


def _split_ip(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    """``ip -o -batch`` of route, addr and link: routes, addresses and links by their form."""
    route: list[str] = []
    addr: list[str] = []
    link: list[str] = []
    for line in lines:
        if _IP_LINK.match(line):
            link.append(line)
        elif _IP_ADDR.match(line):
            addr.append(line)
        elif line.strip():
            route.append(line)
    return route, addr, link


# --- check and fix --------------------------------------------------------------------------------------


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
    )


# Report only: rewriting the network configuration loses secondary addresses at the next boot
# (ifupdown ``address`` lines, RHEL's IPADDR1... once BOOTPROTO=dhcp) and can lock out a host that
# is not an Azure VM; the agent and the extension reach the fixed wireserver address either way.
fix_dhcp = report_only(
    "turn DHCP on in that configuration yourself and put the static addresses on the Azure NIC "
    "(secondary addresses in the file are lost once DHCP is on)"
)


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
        "systemd-networkd, ifcfg, ifupdown) and reports a static address; report only: bcdrfix "
        "never edits network configuration.",
    )
)
