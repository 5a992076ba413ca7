"""pyinfra inventory of SSH stand-in "hosts" (benchmarks/standin_ssh.py), built by scale.py.

Reads the JSON file named by ``BCDRFIX_STANDIN_INVENTORY``::

    {"count": 1000, "first": "127.77.1.0", "port": 2222, "key": "/path/key",
     "data": [{...host data of recorded host 0...}, {...}, ...]}

Host ``i`` is ``sim-NNNNNN`` at address ``first + i`` with the data of recorded host
``i % len(data)``. Nothing here contacts anything; the list is built in linear time.
"""

import ipaddress
import json
import os
from pathlib import Path

_spec = json.loads(Path(os.environ["BCDRFIX_STANDIN_INVENTORY"]).read_text())
_first = ipaddress.ip_address(_spec["first"])
_ssh = {
    "ssh_user": "root",
    "ssh_key": _spec["key"],
    "ssh_port": _spec["port"],
    "ssh_strict_host_key_checking": "no",
    "ssh_known_hosts_file": "/dev/null",
}
_data = _spec["data"]

linux = [
    (f"sim-{i:06d}", {**_data[i % len(_data)], **_ssh, "ssh_hostname": str(_first + i)})
    for i in range(_spec["count"])
]
