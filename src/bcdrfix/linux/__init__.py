"""Linux content: one module per topic, each with its settings, probes, check and fix.

agent (service, restart, auto-restart, waagent.conf, package), waagent_conf (the agent's parser
and editor), vmbackup (/etc/azure/vmbackup.conf) with its editor vmbackup_conf, freeze (freeze
readiness), selinux, connectivity, dhcp with its editors netconf, logs (support bundle).
The shell of each probe lives beside its module as ``<probe>.sh`` (package data).
"""

from importlib.resources import files


def script(name: str) -> str:
    """The text of a probe script shipped beside these modules (``freeze_mounts.sh``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
