"""Desired state of the Linux guest agent (WALinuxAgent). Hosts in the ``linux`` group get it.

Facts behind each value: shared REFERENCE section 2 and the agent's azurelinuxagent/common/conf.py.
"""

# /etc/waagent.conf keys to enforce. Exactly one effective line per key is left in the file; all
# other lines, the owner and the mode are kept, and a backup is written under /var/backups/bcdrfix/.
# The default enforces only what the articles need:
#   Extensions.Enabled  y|n   extensions (VMSnapshotLinux, ASR Mobility) run only with y.
#                             The articles' spelling "Extensions.Enable" is accepted here and
#                             written as Extensions.Enabled, the key the agent reads.
# Add keys only when you mean them (each change restarts a running agent):
#   Provisioning.Agent  auto|waagent|cloud-init|disabled   extensions run with auto and with
#                             cloud-init alike: set it only if you want it changed.
#   Logs.Verbose        y|n   prefer the switch below; unset, an admin's value is left alone.
#   AutoUpdate.Enabled / AutoUpdate.UpdateToLatestVersion (y|n; the latter wins on agents
#   2.10.0.8+), HttpProxy.Host / HttpProxy.Port (the agent does not support proxy auth).
bcdrfix_waagent_conf = {
    "Extensions.Enabled": "y",
}

# Switch verbose agent logs on (True) or off (False) for a diagnosis; None leaves Logs.Verbose as
# it is in the file.
bcdrfix_agent_verbose_logs = None

# Where the agent reads its configuration.
bcdrfix_waagent_conf_path = "/etc/waagent.conf"

# The agent's systemd unit is detected on each host (walinuxagent on Debian/Ubuntu, waagent on
# RHEL, SUSE, Azure Linux...). Set "walinuxagent" or "waagent" only to force it.
bcdrfix_agent_unit = None

# linux.agent_service also checks that the extension handler (waagent -run-exthandlers) runs,
# not only the daemon; a daemon that cannot reach the wireserver never starts it.
bcdrfix_agent_check_processes = True

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
# The logs hold secrets (CustomData, SAS URLs): the folder is owner-only; at most this many MB
# of log content are unpacked per host.
bcdrfix_logs_max_mb = 512


# --- Backup extension (VMSnapshotLinux) and network prerequisites: deploys/linux_backup.py ---------
# Facts: shared REFERENCE section 3, checked against the extension's own code.

# The extension reads only this file, section [SnapshotThread] (the articles' example path under
# /var/lib/waagent/...VMSnapshotLinux-<ver>/main/tempPlugin/ is a template it never reads;
# linux.vmbackup_conf_location reports settings left there).
bcdrfix_vmbackup_conf_path = "/etc/azure/vmbackup.conf"

# [SnapshotThread] keys to enforce; empty = manage nothing (the file is still checked for being
# readable: one bad line makes the extension ignore the whole file). Keys the extension reads:
#   MountsToSkip             mount points not to freeze: a list or "a,b" (written without spaces:
#                            the extension does not trim them); "/" cannot be skipped
#   SafeFreezeWaitInSeconds  seconds to wait for the freeze (extension default 66; article: 600)
#   timeout                  snapshot thread timeout in seconds (default 60)
#   seqsnapshot              0 parallel, 1 sequential (set by the extension), 2 sequential (by you)
#   onlyLocalFilesystems     True/False
#   OnAppFailureDoFsFreeze, OnAppSuccessDoFsFreeze   True/False; current extensions read them as
#                            text and compare with booleans, so they change nothing (reported)
#   isanysnapshotfailed      the articles' switch for VMs with Site Recovery; set on request, but
#                            ignored by the extension since 2019 (reported)
# None as a value removes the key. The article's "fsfreeze: True" is refused: nothing reads it.
# Example: {"MountsToSkip": ["/mnt/resource"], "SafeFreezeWaitInSeconds": 600}
bcdrfix_vmbackup_conf = {}

# Endpoints checked from inside the guest (TCP connect with a timeout). Never point tests at
# Azure's addresses: the lab inventory points all of these at the lab bridge.
bcdrfix_wireserver_address = "168.63.129.16"
bcdrfix_wireserver_ports = (80, 32526)  # add 443 where your network rules require it
bcdrfix_imds_address = "169.254.169.254"
bcdrfix_imds_port = 80
# Storage host names the snapshot upload needs, e.g. ("myaccount.blob.core.windows.net",);
# checked through the agent's effective proxy (HttpProxy.Host/Port, else https_proxy in the
# agent's environment; no_proxy honoured).
bcdrfix_storage_endpoints = ()
bcdrfix_storage_ports = (443, 8443)  # 8443: managed disks
bcdrfix_connect_timeout = 3  # seconds per endpoint (all endpoints are probed in parallel)

# SELinux (enforcing hosts only): mislabeled files under /var/lib/waagent are relabeled with
# restorecon (the policy is not changed). If the policy still denies the agent's own confined
# domain, only this switch makes that one domain permissive (semanage permissive -a); SELinux is
# never switched off.
bcdrfix_selinux_permissive_agent_domain = False
bcdrfix_selinux_avc_hours = 24  # denials older than this in /var/log/audit/audit.log are ignored

# Interface that must use DHCP; None = the interface with the default route. Report only: bcdrfix
# says what configures it (netplan, NetworkManager, systemd-networkd, ifcfg, ifupdown) and never
# edits network configuration (secondary addresses would be lost at the next boot).
bcdrfix_dhcp_interface = None
