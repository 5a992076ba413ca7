"""Where the lab's hosts look for Azure's endpoints: the controller side of the lab bridge.

Lab hosts have no default route, and bcdrfix must never probe Azure's addresses from a test.
``inventories/lab.py`` gives every lab host these settings, so that connectivity checks go to the
bridge address (``198.18.<lab id>.1``), where a test may start small listeners of its own.
"""

from __future__ import annotations

WIRESERVER_PORTS = (18080, 32526)  # stand-ins for 80 and 32526
IMDS_PORT = 18081  # stand-in for 80
STORAGE_PORTS = (18443, 18843)  # stand-ins for 443 and 8443 (managed disks)
ALL_PORTS = WIRESERVER_PORTS + (IMDS_PORT,) + STORAGE_PORTS


def lab_endpoint_data(subnet: str) -> dict:
    """Host data that points every endpoint setting at the bridge address of ``subnet`` (a /24 prefix)."""
    bridge = f"{subnet}.1"
    return {
        "bcdrfix_wireserver_address": bridge,
        "bcdrfix_wireserver_ports": WIRESERVER_PORTS,
        "bcdrfix_imds_address": bridge,
        "bcdrfix_imds_port": IMDS_PORT,
        "bcdrfix_storage_endpoints": (bridge,),
        "bcdrfix_storage_ports": STORAGE_PORTS,
        "bcdrfix_connect_timeout": 2,
    }
