"""Inventory of the running local lab (`bcdrfix lab up`), read from its lab.json.

pyinfra inventories/lab.py deploys/linux_agent.py
"""

import json
import os
from pathlib import Path

_lab_id = int(os.environ.get("BCDRFIX_LAB_ID", "0"))
_state_file = (
    Path(os.environ.get("BCDRFIX_LAB_DIR", f"/var/lib/bcdrfix-lab{_lab_id or ''}")) / "lab.json"
)
if not _state_file.exists():
    raise SystemExit(
        f"inventories/lab.py: no lab is running ({_state_file} missing): run `bcdrfix lab up`"
    )
_state = json.loads(_state_file.read_text())

_ssh = {
    "ssh_user": "root",
    "ssh_key": _state["key"],
    # The lab made every host key and wrote them down: check them (lab.json from older labs
    # has no known_hosts; those hosts are accepted on first use).
    **(
        {"ssh_strict_host_key_checking": "yes", "ssh_known_hosts_file": _state["known_hosts"]}
        if _state.get("known_hosts")
        else {"ssh_strict_host_key_checking": "accept-new"}
    ),
}

linux = [
    (h["name"], {"ssh_hostname": h["address"], **_ssh, **h.get("data", {})})
    for h in _state["hosts"]
]
lab_debian = [h["name"] for h in _state["hosts"] if h["flavor"] == "debian"]
lab_rhel = [h["name"] for h in _state["hosts"] if h["flavor"] == "rhel"]

# Connectivity checks go to the lab bridge, never to Azure's addresses (host data still wins).
from bcdrfix.lab.endpoints import lab_endpoint_data  # noqa: E402

for _name, _data in linux:
    for _key, _value in lab_endpoint_data(_state["subnet"]).items():
        _data.setdefault(_key, _value)
