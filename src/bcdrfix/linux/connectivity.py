"""Connectivity from the guest: wireserver, IMDS and storage (through the agent's proxy).

Control: linux.connectivity (report only: nothing inside the guest can be changed safely for it).

Facts: shared REFERENCE section 2, and the agent's ``restutil.py`` (which proxy it chooses).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping
from typing import Any

from bcdrfix.core.model import Control, ControlRegistry, Finding, error, failed, passed
from bcdrfix.core.observe import PROBE_VARIABLES, probe, split_subsections
from bcdrfix.core.redact import redact
from bcdrfix.core.settings import SettingsError, SettingsTable, as_int_range, as_port
from bcdrfix.linux import script, waagent_conf

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


# --- probe ----------------------------------------------------------------------------------------


@probe("connectivity", script("connectivity.sh"))
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


# --- check ------------------------------------------------------------------------------


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
    values = waagent_conf.parse(conf["text"]) if conf and conf.get("text") is not None else {}
    host, port = values.get("HttpProxy.Host"), values.get("HttpProxy.Port")
    if host:  # configuration wins over the environment
        return (f"{host}:{port}" if port else None), "HttpProxy.Host/Port in waagent.conf"
    env = proxy_environment(observation.get("connectivity") or {})
    url = env.get("https_proxy") or env.get("HTTPS_PROXY")
    if not url:
        return None, ""
    match = re.match(r"^(?:[a-zA-Z]+://)?(?:[^@/]*@)?([^:/]+)(?::(\d+))?", url)
    if not match:
        return None, f"unparsable https_proxy {redact(url)!r}"
    return (
        f"{match.group(1)}:{match.group(2) or 80}",
        f"https_proxy={redact(url)} in the agent's environment",
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


def extension_storage_path(proxy: str | None, proxy_source: str) -> str:
    """How the backup extension reaches storage: it takes blob snapshots without the proxy when
    the proxy comes from HttpProxy.* in waagent.conf, through it when it is https_proxy."""
    if proxy and proxy_source.startswith("HttpProxy"):
        return "direct"
    return "proxy" if proxy else "direct"


def check_connectivity(observation, settings) -> Finding:
    facts = observation.get("connectivity")
    if facts is None:
        return error("the connectivity probe returned nothing")
    results = facts.get("results", {})
    timeout = settings.connect_timeout
    proxy, proxy_source = effective_proxy(observation)
    path = extension_storage_path(proxy, proxy_source)
    rows, bad = [], []
    for label, host, port in connectivity_targets(settings):
        ok, why = classify_connect(results.get(f"{host}:{port}"), timeout)
        if label != "storage" or not proxy or bypasses_proxy(observation, host):
            rows.append(f"{label} {host}:{port}: {why}")
            if not ok:
                bad.append(rows[-1])
            continue
        # Both paths: the agent's traffic takes the proxy, the extension's snapshots `path`.
        proxy_ok, proxy_why = classify_connect(results.get(proxy), timeout)
        direct_row = f"storage {host}:{port} direct: {why}"
        proxy_row = f"storage {host}:{port} via proxy {proxy}: {proxy_why}"
        rows += [direct_row, proxy_row]
        if not proxy_ok:  # the agent's own path
            bad.append(proxy_row)
        if path == "direct" and not ok:
            bad.append(
                f"{direct_row} (the extension takes blob snapshots without the proxy when "
                "HttpProxy.* is set in waagent.conf)"
            )
    observed = {
        "endpoints": rows,
        "proxy": proxy,
        "proxy_source": proxy_source,
        "extension_storage_path": path if settings.storage_endpoints else None,
    }
    if proxy_source and proxy is None:
        bad.append(f"the agent's proxy setting is incomplete or unreadable ({proxy_source})")
    if bad:
        return failed(
            "; ".join(bad) + ". Open these in the guest firewall, NSG, route table or "
            "proxy; nothing inside the guest can be changed safely for this",
            observed,
            {"all": "open"},
        )
    if not settings.storage_endpoints:
        storage = "; no storage endpoint checked (set bcdrfix_storage_endpoints)"
    elif proxy:
        storage = f"; storage via proxy {proxy} ({proxy_source}); the extension's snapshots go " + (
            "directly" if path == "direct" else "through the proxy"
        )
    else:
        storage = "; the extension reaches storage directly"
    return passed(f"{len(rows)} endpoint(s) answer{storage}", observed)


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
        "ports, IMDS and each storage endpoint (443, 8443 for managed disks), storage both directly "
        "and through the agent's effective proxy (HttpProxy.* beats https_proxy; no_proxy "
        "honoured), saying which path the extension's snapshots take. Addresses and ports come "
        "from settings.",
    )
)
