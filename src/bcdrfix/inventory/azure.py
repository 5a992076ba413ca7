"""pyinfra hosts and groups from ``az vm list -d -o json`` (``--show-details``) output.

``inventories/azure.py`` is the thin inventory file; this module holds the logic so that it can
be tested on JSON alone. Per running VM:

* the host is named after the VM (``vm.resourcegroup`` when two resource groups hold a VM of the
  same name); Windows VMs are ``@winrm/NAME`` so that the WinRM connector reaches them;
* host data names the address (``ssh_hostname`` / ``winrm_hostname``: the first private IP, or
  the public one on request), the admin user, and ``azure_*`` facts (resource group, location,
  tags, power state, VM id, size);
* groups: ``azure``, ``linux`` / ``windows``, ``location_<location>``, ``rg_<resource group>``,
  ``tag_<key>_<value>`` (``tag_<key>`` for an empty value). Group names are lower case with runs
  of other characters turned into ``_``: tag ``Backup-Policy: Gold`` is ``tag_backup_policy_gold``.

VMs that are not running (stopped, deallocated...) and VMs that cannot be reached (no address of
the requested kind, no WinRM connector installed) are reported, not contacted
(see ``bcdrfix.inventory.load.report_not_contacted``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bcdrfix.inventory.load import CANNOT_CONTACT, NOT_RUNNING, NotContacted

ADDRESS_KINDS = ("private", "public")


class AzureInventoryError(ValueError):
    """The ``az`` output cannot be used; one line for the user."""


@dataclass
class AzureInventory:
    groups: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)
    not_contacted: list[NotContacted] = field(default_factory=list)

    def hosts(self) -> dict[str, dict]:
        return {name: data for members in self.groups.values() for name, data in members}


def group_name(prefix: str, *parts: str) -> str:
    """``group_name("tag", "Backup-Policy", "Gold")`` -> ``tag_backup_policy_gold``."""
    words = []
    for part in parts:
        if part is None or str(part) == "":
            continue
        text = unicodedata.normalize("NFKD", str(part)).encode("ascii", "ignore").decode()
        word = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
        if not word:  # nothing ASCII left (e.g. a tag in Japanese): a short stable digest
            word = "x" + hashlib.sha256(str(part).encode()).hexdigest()[:8]
        words.append(word)
    return "_".join([prefix, *words])


def parse_vms(text: str, source: str) -> list[dict]:
    try:
        vms = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AzureInventoryError(f"{source}: bad JSON: {exc}") from None
    if not isinstance(vms, list) or not all(isinstance(vm, dict) for vm in vms):
        raise AzureInventoryError(
            f"{source}: expected the JSON list that `az vm list -d -o json` prints"
        )
    for position, vm in enumerate(vms):
        if not vm.get("name"):
            raise AzureInventoryError(f"{source}: VM #{position + 1} has no name")
    if vms and not any("powerState" in vm or "privateIps" in vm for vm in vms):
        raise AzureInventoryError(
            f"{source}: no powerState/privateIps: run `az vm list -d` (--show-details), not `az vm list`"
        )
    return vms


def os_type(vm: dict) -> str:
    disk_type = (((vm.get("storageProfile") or {}).get("osDisk") or {}).get("osType") or "").lower()
    if disk_type in ("linux", "windows"):
        return disk_type
    profile = vm.get("osProfile") or {}
    if profile.get("windowsConfiguration"):
        return "windows"
    if profile.get("linuxConfiguration"):
        return "linux"
    raise AzureInventoryError(
        f"VM {vm.get('name')}: unknown OS type (storageProfile.osDisk.osType)"
    )


def first_address(value: Any) -> str | None:
    """``privateIps`` / ``publicIps`` are comma-separated strings (lists in some az versions)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return next((item.strip() for item in items if item and item.strip()), None)


def resource_group(vm: dict) -> str:
    if vm.get("resourceGroup"):
        return str(vm["resourceGroup"])
    match = re.search(r"/resourceGroups/([^/]+)/", str(vm.get("id") or ""), re.IGNORECASE)
    return match.group(1) if match else ""


def build_inventory(
    vms: Iterable[dict],
    address: str = "private",
    ssh_user: str | None = None,
    winrm_available: bool = True,
) -> AzureInventory:
    if address not in ADDRESS_KINDS:
        raise AzureInventoryError(f"address {address!r}: expected private or public")
    vms = list(vms)
    name_count: dict[str, int] = {}
    for vm in vms:
        name_count[vm["name"].lower()] = name_count.get(vm["name"].lower(), 0) + 1

    result = AzureInventory()
    for vm in vms:
        platform = os_type(vm)
        rg = resource_group(vm)
        name = vm["name"] if name_count[vm["name"].lower()] == 1 else f"{vm['name']}.{rg.lower()}"
        tags = {str(k): "" if v is None else str(v) for k, v in (vm.get("tags") or {}).items()}
        groups = ["azure", platform, group_name("location", vm.get("location") or "unknown")]
        if rg:
            groups.append(group_name("rg", rg))
        groups += [group_name("tag", key, value) for key, value in sorted(tags.items())]
        groups = list(dict.fromkeys(groups))
        power = vm.get("powerState") or "power state unknown"
        info = {
            "azure_vm_name": vm["name"],
            "azure_vm_id": vm.get("vmId") or vm.get("id"),
            "azure_resource_group": rg,
            "azure_location": vm.get("location"),
            "azure_os_type": platform,
            "azure_power_state": power,
            "azure_size": (vm.get("hardwareProfile") or {}).get("vmSize"),
            "azure_tags": tags,
            "azure_private_ip": first_address(vm.get("privateIps")),
            "azure_public_ip": first_address(vm.get("publicIps")),
        }
        host_name = f"@winrm/{name}" if platform == "windows" else name
        if power != "VM running":
            result.not_contacted.append(
                NotContacted(host_name, power, NOT_RUNNING, tuple(groups), info)
            )
            continue
        target = info[f"azure_{address}_ip"]
        if target is None:
            reason = f"no {address} IP address"
            result.not_contacted.append(
                NotContacted(host_name, reason, CANNOT_CONTACT, tuple(groups), info)
            )
            continue
        if platform == "windows" and not winrm_available:
            reason = "no WinRM connector installed (pyinfra connector 'winrm' from bcdrfix's Windows support)"
            result.not_contacted.append(
                NotContacted(host_name, reason, CANNOT_CONTACT, tuple(groups), info)
            )
            continue
        user = ssh_user or (vm.get("osProfile") or {}).get("adminUsername")
        if platform == "linux":
            data = {"ssh_hostname": target, **({"ssh_user": user} if user else {})}
        else:
            data = {"winrm_hostname": target, **({"winrm_username": user} if user else {})}
        data.update(info)
        for group in groups:
            result.groups.setdefault(group, []).append((host_name, data))
    return result


def load_vms(json_file: str | None, subscription: str | None = None) -> tuple[list[dict], str]:
    """The VMs from a file written by ``az vm list -d -o json``, else from running ``az``."""
    if json_file:
        try:
            with open(json_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise AzureInventoryError(f"{json_file}: {exc.strerror}") from None
        return parse_vms(text, json_file), json_file
    az = shutil.which("az")
    if az is None:
        raise AzureInventoryError(
            "set BCDRFIX_AZURE_VMS_JSON to a file written by `az vm list -d -o json`, "
            "or install the Azure CLI (az)"
        )
    command = [az, "vm", "list", "-d", "-o", "json"]
    if subscription:
        command += ["--subscription", subscription]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise AzureInventoryError(
            f"az vm list -d failed: {lines[-1] if lines else proc.returncode}"
        )
    return parse_vms(proc.stdout, "az vm list -d"), "az vm list -d"


def winrm_connector_available() -> bool:
    from pyinfra.api.connectors import get_all_connectors

    return "winrm" in get_all_connectors()
