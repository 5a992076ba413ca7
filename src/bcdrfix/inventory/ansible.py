"""Ansible inventories (INI, YAML, folders with group_vars/ and host_vars/) as pyinfra hosts.

The inventory is read by Ansible itself: ``ansible-inventory -i PATH --list`` runs as a separate
program (ansible-core is GPL-3.0: bcdrfix never imports it; install it with the ``ansible``
extra, ``pip install 'bcdrfix[ansible]'``). Its JSON gives every group, its children and each
host's variables with group_vars/host_vars already merged the Ansible way; this module maps them
to pyinfra's host data:

=================================  ==============================================
Ansible                            pyinfra / bcdrfix
=================================  ==============================================
ansible_host                       ssh_hostname (winrm_hostname on WinRM)
ansible_user                       ssh_user (winrm_username)
ansible_port                       ssh_port (winrm_port)
ansible_ssh_private_key_file       ssh_key
ansible_password                   ssh_password (winrm_password)
ansible_become / _user             _sudo / _sudo_user
ansible_connection=winrm           host ``@winrm/NAME`` in group ``windows``
ansible_winrm_transport            winrm_auth (ntlm, kerberos, credssp, certificate)
ansible_winrm_scheme               winrm_transport (https, http)
ansible_winrm_server_cert_...      winrm_cert_validation (``ignore`` -> false)
ansible_winrm_ca_trust_path        winrm_ca_cert
ansible_connection=local           ``@local``
=================================  ==============================================

Plain pyinfra reads it through the inventory function ``inventory()`` (any folder)::

    BCDRFIX_ANSIBLE_INVENTORY=hosts.ini pyinfra bcdrfix.inventory.ansible.inventory \\
        bcdrfix.deploys.linux_agent --dry

Other ``ansible_*`` variables are dropped; every other variable (``bcdrfix_*`` settings and
your own) is kept as host data. Groups keep their names (``all`` and ``ungrouped`` excepted), and
a host belongs to every group above it through ``children``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PROGRAM = "ansible-inventory"
ENVIRONMENT = "BCDRFIX_ANSIBLE_INVENTORY"  # the inventory ``inventory()`` reads, for plain pyinfra
TIMEOUT_SECONDS = 60
SKIP_GROUPS = {"all", "ungrouped"}


class AnsibleInventoryError(ValueError):
    """The Ansible inventory could not be read; the message is one line."""


def looks_like_ansible_inventory(path: str) -> bool:
    """INI/YAML files and folders (not pyinfra's ``.py`` inventories)."""
    suffix = Path(path).suffix.lower()
    return suffix in (".ini", ".yml", ".yaml", ".cfg") or (
        Path(path).is_dir() and not path.endswith(".py")
    )


def find_program() -> str:
    """``ansible-inventory`` beside this Python (a venv with the ``ansible`` extra), else PATH."""
    beside = Path(sys.executable).parent / PROGRAM
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(PROGRAM)
    if not found:
        raise AnsibleInventoryError(
            f"{PROGRAM} not found: install ansible-core (pip install 'bcdrfix[ansible]')"
        )
    return found


def ansible_inventory_list(path: str, program: str | None = None) -> dict:
    """The JSON of ``ansible-inventory -i PATH --list`` (bounded in time)."""
    if not Path(path).exists():
        raise AnsibleInventoryError(f"inventory {path}: no such file or folder")
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",  # a file Ansible cannot parse is an error
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "1",
    }
    try:
        result = subprocess.run(
            [program or find_program(), "-i", path, "--list"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise AnsibleInventoryError(
            f"inventory {path}: {PROGRAM} did not answer within {TIMEOUT_SECONDS} s"
        ) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = " ".join(" ".join(lines[-2:]).split()) or f"exit status {result.returncode}"
        raise AnsibleInventoryError(f"inventory {path}: {PROGRAM}: {detail}")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AnsibleInventoryError(f"inventory {path}: {PROGRAM} printed no JSON: {exc}") from None


def _host_entry(name: str, variables: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    v = dict(variables)
    connection = str(v.get("ansible_connection", "ssh")).lower()
    data = {k: value for k, value in v.items() if not k.startswith("ansible_")}
    if connection == "local":
        return "@local", data
    if connection in ("winrm", "psrp"):
        mapping = {
            "ansible_host": "winrm_hostname",
            "ansible_user": "winrm_username",
            "ansible_password": "winrm_password",
            "ansible_port": "winrm_port",
            "ansible_winrm_transport": "winrm_auth",
            "ansible_winrm_scheme": "winrm_transport",
            "ansible_winrm_ca_trust_path": "winrm_ca_cert",
            "ansible_winrm_path": "winrm_path",
        }
        for source, target in mapping.items():
            if v.get(source) not in (None, ""):
                data[target] = v[source]
        if isinstance(data.get("winrm_auth"), list):  # Ansible allows a list of transports
            data["winrm_auth"] = data["winrm_auth"][0]
        if "winrm_port" in data:
            data["winrm_port"] = int(data["winrm_port"])
        validation = v.get("ansible_winrm_server_cert_validation")
        if validation is not None:
            data["winrm_cert_validation"] = str(validation).lower() != "ignore"
        return f"@winrm/{name}", data
    mapping = {
        "ansible_host": "ssh_hostname",
        "ansible_user": "ssh_user",
        "ansible_port": "ssh_port",
        "ansible_ssh_private_key_file": "ssh_key",
        "ansible_password": "ssh_password",
    }
    for source, target in mapping.items():
        if v.get(source) not in (None, ""):
            data[target] = v[source]
    if "ssh_port" in data:
        data["ssh_port"] = int(data["ssh_port"])
    if str(v.get("ansible_become", "")).lower() in ("true", "yes", "1", "y", "on"):
        data["_sudo"] = True
        if v.get("ansible_become_user"):
            data["_sudo_user"] = v["ansible_become_user"]
    return name, data


def load_ansible_inventory(
    path: str, program: str | None = None
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """pyinfra-style groups of an Ansible inventory: ``{group: [(host, data), ...]}``.

    Every host is in every group that contains it directly or through ``children``; Windows
    hosts (``ansible_connection=winrm``) are ``@winrm/NAME`` and also in ``windows``; hosts in
    no group are in ``ungrouped_hosts``. Data is the same tuple in each group of a host.
    """
    listing = ansible_inventory_list(path, program)
    hostvars = listing.get("_meta", {}).get("hostvars", {})

    def members(group: str, seen: frozenset = frozenset()) -> list[str]:
        if group in seen:
            return []
        node = listing.get(group, {})
        names = list(node.get("hosts", []))
        for child in node.get("children", []):
            names += members(child, seen | {group})
        return list(dict.fromkeys(names))

    entries = {name: _host_entry(name, hostvars.get(name, {})) for name in members("all")}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for group in listing:
        if group.startswith("_") or group in SKIP_GROUPS:
            continue
        hosts = members(group)
        if hosts:
            groups[group] = [entries[h] for h in hosts]
    windows = [entry for entry in entries.values() if entry[0].startswith("@winrm/")]
    if windows:
        known = {entry[0] for entry in groups.get("windows", [])}
        groups["windows"] = groups.get("windows", []) + [w for w in windows if w[0] not in known]
    grouped = {entry[0] for members_ in groups.values() for entry in members_}
    lonely = [entry for entry in entries.values() if entry[0] not in grouped]
    if lonely:
        groups["ungrouped_hosts"] = lonely
    if not entries:
        raise AnsibleInventoryError(f"inventory {path}: defines no hosts")
    return groups


def make_pyinfra_inventory(
    path: str, override_data: dict | None = None, program: str | None = None
):
    """A pyinfra ``Inventory`` of an Ansible inventory (for bcdrfix's own loader)."""
    from pyinfra.api import Inventory

    groups = load_ansible_inventory(path, program)
    hosts = list({entry[0]: entry for members in groups.values() for entry in members}.values())
    return Inventory(
        (hosts, {}),
        override_data=override_data,
        **{group: ([entry[0] for entry in members], {}) for group, members in groups.items()},
    )


def inventory() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """pyinfra's inventory function: ``BCDRFIX_ANSIBLE_INVENTORY=hosts.ini pyinfra
    bcdrfix.inventory.ansible.inventory bcdrfix.deploys.linux_agent``, from any folder."""
    path = os.environ.get(ENVIRONMENT, "")
    if not path:
        raise AnsibleInventoryError(f"set {ENVIRONMENT}=path/to/hosts.ini")
    return load_ansible_inventory(path)


def pyinfra_command_start(path: str) -> tuple[str, list[str]]:
    """How a shell command runs plain pyinfra on this Ansible inventory: the environment
    assignment (shell-quoted, with its trailing space) and the first words."""
    return f"{ENVIRONMENT}={shlex.quote(path)} ", ["pyinfra", f"{__name__}.inventory"]
