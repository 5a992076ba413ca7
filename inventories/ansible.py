"""An Ansible inventory (INI, YAML or a folder with group_vars/ and host_vars/), unchanged.

    BCDRFIX_ANSIBLE_INVENTORY=hosts.ini pyinfra inventories/ansible.py bcdrfix.deploys.linux_agent
    bcdrfix audit hosts.ini --report audit.html            # bcdrfix reads it directly

Read by Ansible's own `ansible-inventory --list`, run as a separate program (install it with
`pip install 'bcdrfix[ansible]'`); see bcdrfix.inventory.ansible for how Ansible's variables map
to pyinfra's (ansible_host, ansible_user, ansible_connection=winrm -> @winrm, ...).
"""

import os as _os

from bcdrfix.inventory.ansible import AnsibleInventoryError as _Error
from bcdrfix.inventory.ansible import load_ansible_inventory as _load

_path = _os.environ.get("BCDRFIX_ANSIBLE_INVENTORY", "")
if not _path:
    raise SystemExit("inventories/ansible.py: set BCDRFIX_ANSIBLE_INVENTORY=path/to/hosts.ini")
try:
    _groups = _load(_path)
except _Error as _exc:
    raise SystemExit(f"inventories/ansible.py: {_exc}") from None

# Each group becomes a module-level list: that is how pyinfra reads groups from this file.
globals().update(_groups)
