"""An example inventory for a real fleet: copy it to inventories/<yours>.py and edit.

    pyinfra inventories/example.py deploys/linux_agent.py --dry
    bcdrfix audit inventories/example.py --report audit.html

Linux VMs go in the ``linux`` group (group_data/linux.py applies), Windows VMs in ``windows``
(group_data/windows.py; reached with bcdrfix's ``@winrm`` connector). Per-host data overrides
group data; every ``bcdrfix_*`` value is validated before anything runs. For Azure, generate the
inventory instead: inventories/azure.py.
"""

# SSH host keys: checked strictly against a known_hosts file you supply, so that the first
# contact never trusts whatever key answers (a machine in the middle would get root's commands).
# Put the hosts' keys there from a channel you trust (the VM's boot diagnostics / serial console,
# or `az vm run-command invoke ... --scripts "cat /etc/ssh/ssh_host_ed25519_key.pub"`).
# An unknown or changed key makes that host fail alone with one line; nothing is run on it.
_ssh = {
    "ssh_user": "azureuser",
    "ssh_key": "~/.ssh/id_ed25519",
    "ssh_strict_host_key_checking": "yes",
    "ssh_known_hosts_file": "inventories/known_hosts",
}

linux = [
    ("web-01", {"ssh_hostname": "10.0.1.4", **_ssh}),
    ("web-02", {"ssh_hostname": "10.0.1.5", **_ssh}),
    # A host under diagnosis: verbose agent logs in /var/log/waagent.log.
    ("db-01", {"ssh_hostname": "10.0.2.4", **_ssh, "bcdrfix_agent_verbose_logs": True}),
]

windows = [
    (
        "@winrm/sql-07",
        {
            "winrm_hostname": "10.0.3.7",
            "winrm_username": "ops@CONTOSO.COM",
            "winrm_auth": "kerberos",
            # SQL Server backups: USEVSSCOPYBACKUP=TRUE (see group_data/windows.py)
            "bcdrfix_sql_vss_copy_backup": True,
        },
    ),
]
