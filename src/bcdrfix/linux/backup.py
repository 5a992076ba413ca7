"""Linux backup extension (VMSnapshotLinux) and network prerequisites: their controls and settings.

One module per topic: vmbackup (linux.vmbackup_conf, linux.vmbackup_conf_location), freeze
(linux.freeze_readiness), selinux (linux.selinux_waagent), connectivity (linux.connectivity),
dhcp (linux.dhcp). ``CONTROLS`` and ``SETTINGS`` combine them in that order (the reports' order).
"""

from bcdrfix.core.model import ControlRegistry
from bcdrfix.core.settings import SettingsTable
from bcdrfix.linux import connectivity, dhcp, freeze, selinux, vmbackup

_TOPICS = (vmbackup, freeze, selinux, connectivity, dhcp)
CONTROLS = ControlRegistry.combine(*(topic.CONTROLS for topic in _TOPICS))
SETTINGS = SettingsTable.combine(*(topic.SETTINGS for topic in _TOPICS))

__all__ = ["CONTROLS", "SETTINGS", "connectivity", "dhcp", "freeze", "selinux", "vmbackup"]
