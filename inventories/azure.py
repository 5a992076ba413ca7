"""Inventory of Azure VMs from `az vm list -d -o json` (see bcdrfix.inventory.azure for the rules).

    az vm list -d -o json > vms.json
    BCDRFIX_AZURE_VMS_JSON=vms.json bcdrfix audit inventories/azure.py --report audit.html
    BCDRFIX_AZURE_VMS_JSON=vms.json pyinfra inventories/azure.py deploys/linux_agent.py --limit tag_backup_policy_gold

Without BCDRFIX_AZURE_VMS_JSON the Azure CLI is run (`az vm list -d`, logged in already).
Environment:
    BCDRFIX_AZURE_VMS_JSON       file with the JSON output of `az vm list -d -o json`
    BCDRFIX_AZURE_SUBSCRIPTION   subscription for `az` (default: the CLI's current one)
    BCDRFIX_AZURE_ADDRESS        private (default) or public: which IP address to connect to
    BCDRFIX_AZURE_SSH_USER       SSH / WinRM user (default: the VM's admin user)
    BCDRFIX_AZURE_KNOWN_HOSTS    known_hosts file with the VMs' SSH host keys: host keys are then
                                 checked strictly (an unknown or changed key fails that host).
                                 Without it pyinfra's default applies: a first contact accepts
                                 and records a new key, a changed key fails (trust on first use).

Groups: azure, linux, windows, location_<location>, rg_<resource group>, tag_<key>_<value>.
Stopped or deallocated VMs, and VMs without an address, are reported by `bcdrfix audit` but
never contacted.
"""

import os as _os

from bcdrfix.inventory import azure as _azure
from bcdrfix.inventory.load import report_not_contacted as _report_not_contacted

try:
    _vms, _source = _azure.load_vms(
        _os.environ.get("BCDRFIX_AZURE_VMS_JSON"), _os.environ.get("BCDRFIX_AZURE_SUBSCRIPTION")
    )
    _built = _azure.build_inventory(
        _vms,
        address=_os.environ.get("BCDRFIX_AZURE_ADDRESS", "private").strip().lower(),
        ssh_user=_os.environ.get("BCDRFIX_AZURE_SSH_USER") or None,
        winrm_available=_azure.winrm_connector_available(),
    )
except _azure.AzureInventoryError as _exc:
    raise SystemExit(f"inventories/azure.py: {_exc}") from None

for _machine in _built.not_contacted:
    _report_not_contacted(
        _machine.name, _machine.reason, _machine.kind, _machine.groups, **_machine.info
    )

_known_hosts = _os.environ.get("BCDRFIX_AZURE_KNOWN_HOSTS")
if _known_hosts:
    if not _os.path.isfile(_os.path.expanduser(_known_hosts)):
        raise SystemExit(f"inventories/azure.py: BCDRFIX_AZURE_KNOWN_HOSTS: no file {_known_hosts}")
    for _hosts in _built.groups.values():
        for _name, _data in _hosts:
            if "ssh_hostname" in _data:
                _data["ssh_known_hosts_file"] = _known_hosts
                _data["ssh_strict_host_key_checking"] = "yes"

# Each group becomes a module-level list: that is how pyinfra reads groups from this file.
globals().update(_built.groups)
