"""Desired state of the Linux guest agent (WALinuxAgent). Hosts in the ``linux`` group get it.

Facts behind each value: shared REFERENCE section 2 and the agent's azurelinuxagent/common/conf.py.
"""

# /etc/waagent.conf keys to enforce. Exactly one effective line per key is left in the file; all
# other lines, the owner and the mode are kept, and a timestamped backup is written first.
#   Extensions.Enabled  y|n   extensions (VMSnapshotLinux, ASR Mobility) run only with y.
#                             The articles' spelling "Extensions.Enable" is accepted here and
#                             written as Extensions.Enabled, the key the agent reads.
#   Provisioning.Agent  auto|waagent|cloud-init|disabled   the current article wants auto.
#   Logs.Verbose        y|n   verbose agent logs in /var/log/waagent.log (see the switch below).
# Optional keys: AutoUpdate.Enabled / AutoUpdate.UpdateToLatestVersion (y|n; the latter wins on
# agents 2.10.0.8+), HttpProxy.Host / HttpProxy.Port (the agent does not support proxy auth).
bcdrfix_waagent_conf = {
    "Extensions.Enabled": "y",
    "Provisioning.Agent": "auto",
    "Logs.Verbose": "n",
}

# Switch verbose agent logs on (True) or off (False) for a diagnosis; None keeps the value above.
bcdrfix_agent_verbose_logs = None

# Where the agent reads its configuration.
bcdrfix_waagent_conf_path = "/etc/waagent.conf"

# The agent's systemd unit is detected on each host (walinuxagent on Debian/Ubuntu, waagent on
# RHEL, SUSE, Azure Linux...). Set "walinuxagent" or "waagent" only to force it.
bcdrfix_agent_unit = None

# RestartSec= in the drop-in that makes systemd restart the agent (Restart=always).
bcdrfix_agent_restart_sec = 5

# The articles' "restart the agent": restart it on this run even if nothing changed.
bcdrfix_agent_restart = False

# Lowest acceptable agent version (the goal-state agent reported by `waagent --version`).
bcdrfix_agent_min_version = "2.2.53"

# Install or upgrade the agent when it is missing or older than the minimum, only through the
# host's package manager (apt, dnf/yum, zypper); never from GitHub, as the article demands.
bcdrfix_agent_upgrade = False

# deploys/linux_logs.py: local folder that receives one sub-folder per host.
bcdrfix_logs_dir = "collected-logs"
