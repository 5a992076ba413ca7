"""Desired state of Windows VMs. Hosts in the ``windows`` group (or on ``@winrm``) get it.

Facts behind each value: shared REFERENCE section 4. Every name is validated before a run.
Connection settings (winrm_*) are documented in bcdrfix/windows/winrm_settings.py; the defaults are
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
# extension. None by default: `bcdrfix fix --code` sets the ones its article asks for
# (SnapshotWithoutThreads=True for ExtensionFailedVssWriterInBadState; SnapshotMethod=
# firstHostThenGuest and CalculateSnapshotTimeFromHost=True for
# ExtensionFailedTimeoutVMNetworkUnresponsive). Values here are set on every run, e.g.
# {"SnapshotWithoutThreads": "True"}.
bcdrfix_bcdr_snapshot_keys = {}

# This VM runs SQL Server backups: set HKLM\SOFTWARE\Microsoft\BcdrAgent USEVSSCOPYBACKUP=TRUE so
# that the snapshot does not break the SQL log chain. Mark such hosts in the inventory.
bcdrfix_sql_backup_host = False

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
# bcdrfix/windows/controls/base.py). A writer that maps to nothing is reported, never guessed.
# Example: {"My App Writer": "MyAppSvc", "FRS Writer": ""}  ("" removes an entry)
bcdrfix_vss_writer_services = {}

# Folders Microsoft Defender must exclude so it does not block IaaSBcdrExtension.exe.
bcdrfix_defender_exclusions = (
    "C:\\Packages\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
    "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.RecoveryServices.VMSnapshot",
)

# "Issued To" name of the certificates deleted with a MachineKeys ACL repair.
bcdrfix_crp_certificate_subject = "Windows Azure CRP Certificate Generator"

# Seconds to wait for a service to stop or start (ServiceController.WaitForStatus); a service
# still pending after that fails its host with one line naming the service and its state.
bcdrfix_windows_service_wait = 60

# Seconds the known slow steps may take before they are stopped: vssadmin, msdtc -install /
# -uninstall, msiexec /unregister / /regserver. Every other command is bounded by the connector's
# winrm_command_timeout (default 900).
bcdrfix_windows_vssadmin_timeout = 120
bcdrfix_windows_msdtc_timeout = 300
bcdrfix_windows_msiexec_timeout = 300
