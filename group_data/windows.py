"""Desired state of Windows VMs. Hosts in the ``windows`` group (or on ``@winrm``) get it.

Facts behind each value: shared REFERENCE section 4. Every name is validated before a run.
Connection settings (winrm_*) are documented in bcdrfix/connectors/winrm.py; the defaults are
HTTPS on 5986 with certificate validation.
"""

# Lowest acceptable guest agent version (report only). The backup article says 2.6.1198.718;
# Microsoft's own diagnostic script demands 2.7.41491.1010 (.1009 has a restart bug).
bcdrfix_windows_agent_min_version = "2.7.41491.1010"

# Lowest acceptable .NET Framework 4.x Release (NDP\v4\Full\Release); 378389 is 4.5. Report only.
bcdrfix_dotnet_min_release = 378389

# The articles' "restart the agent": restart WindowsAzureGuestAgent and RdAgent on this run.
bcdrfix_agent_restart = False

# REG_SZ values under HKLM\SOFTWARE\Microsoft\BcdrAgentPersistentKeys read by the backup
# extension: no threads for blob snapshots (VSS writer timeouts), snapshot through the host first
# and take its time from the host (slow network). {} leaves the key alone.
bcdrfix_bcdr_snapshot_keys = {
    "SnapshotWithoutThreads": "True",
    "SnapshotMethod": "firstHostThenGuest",
    "CalculateSnapshotTimeFromHost": "True",
}

# HKLM\SOFTWARE\Microsoft\BcdrAgent USEVSSCOPYBACKUP=TRUE: "auto" sets it on VMs with a SQL Server
# service (MSSQLSERVER or MSSQL$<instance>), True everywhere, False never.
bcdrfix_sql_vss_copy_backup = "auto"

# SchUseStrongCrypto=1 (DWORD) for each .NET Framework present (v2.0.50727, v4.0.30319), in the
# 64-bit and the WOW6432Node view.
bcdrfix_tls_strong_crypto = True

# On-request repairs; each is disruptive and also needs bcdrfix_allow_disruptive=True:
#   stop MSDTC, msdtc -uninstall, msdtc -install, start MSDTC, start COMSysApp
bcdrfix_msdtc_reinstall = False
#   stop and start the Volume Shadow Copy service
bcdrfix_vss_service_restart = False
#   msiexec /unregister, then msiexec /regserver
bcdrfix_msi_reregister = False

# VSS writer -> service map additions or overrides (the built-in public list is in
# bcdrfix/windows/controls.py). A writer that maps to nothing is reported, never guessed.
# Example: {"My App Writer": "MyAppSvc", "FRS Writer": ""}  ("" removes an entry)
bcdrfix_vss_writer_services = {}

# Folders Microsoft Defender must exclude so it does not block IaaSBcdrExtension.exe.
bcdrfix_defender_exclusions = (
    "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
    "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
)

# "Issued To" name of the certificates deleted with a MachineKeys ACL repair.
bcdrfix_crp_certificate_subject = "Windows Azure CRP Certificate Generator"

# Seconds to wait for a service to stop or start.
bcdrfix_windows_service_wait = 60
