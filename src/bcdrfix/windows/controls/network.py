"""Network controls (report only): DHCP inside the guest."""

from __future__ import annotations

from bcdrfix.core.model import (
    Finding,
    failed,
    passed,
    report_only,
)
from bcdrfix.windows.controls.base import (
    _guard,
    _register,
    _section,
)


@_guard
def check_dhcp(observation, settings) -> Finding:
    adapters = _section(observation, "dhcp").get("adapters") or []
    static = [
        f"{a.get('description')} ({', '.join(a.get('addresses') or [])})"
        for a in adapters
        if not a.get("dhcp_enabled")
    ]
    observed = {a.get("description"): a.get("dhcp_enabled") for a in adapters}
    if static:
        return failed(
            f"DHCP is off in the guest for: {'; '.join(static)}", observed, "DHCP on every NIC"
        )
    return passed(f"DHCP is on for all {len(adapters)} adapter(s)", observed)


fix_dhcp = report_only(
    "turn DHCP back on inside the VM and set static addresses on the Azure NIC instead"
)

_register(
    id="windows.dhcp",
    title="DHCP stays enabled inside the guest",
    disruptive=False,
    probes=("dhcp",),
    check=check_dhcp,
    fix=fix_dhcp,
    description="Report only.",
)


@_guard
def check_connectivity(observation, settings) -> Finding:
    section = _section(observation, "connectivity")
    rows = section.get("endpoints") or []
    proxy = section.get("winhttp_proxy")
    observed = {
        "winhttp_proxy": proxy,
        "endpoints": {
            f"{r.get('label')} {r.get('host')}:{r.get('port')}": r.get("ok") for r in rows
        },
    }
    down = [
        f"{r.get('label')} {r.get('host')}:{r.get('port')} ({r.get('error') or 'no connection'})"
        for r in rows
        if not r.get("ok")
    ]
    via = f"; WinHTTP proxy {proxy}" if proxy else "; no WinHTTP proxy"
    if down:
        return failed(
            f"no TCP connection to {'; '.join(down)}{via}", observed, "every endpoint answers"
        )
    return passed(f"{len(rows)} endpoint(s) answer{via}", observed)


_register(
    id="windows.connectivity",
    title="Wireserver, IMDS and storage endpoints answer from the guest",
    disruptive=False,
    probes=("connectivity",),
    check=check_connectivity,
    fix=report_only(
        "allow outbound TCP to these endpoints (NSG, firewall, WinHTTP proxy: netsh winhttp "
        "show proxy)"
    ),
    description="Report only: TCP connects with a time limit to the wireserver, IMDS and the "
    "storage endpoints (the Linux connectivity settings), and the WinHTTP proxy "
    "(ExtensionSnapshotFailedNoNetwork).",
)
