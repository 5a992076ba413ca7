"""VSS: the extension's provider, the VSS service (Disabled is reported), writers, a VSS restart
on request, snapshot keys, SQL copy backups, BitLocker (report).

    pyinfra inventories/windows.py deploys/windows_vss.py                     # restarts need approval
    pyinfra inventories/windows.py deploys/windows_vss.py --data bcdrfix_allow_disruptive=true
"""

from bcdrfix.controls import apply_controls

apply_controls(
    [
        "windows.iaasvmprovider",
        "windows.vss_service",
        "windows.bcdr_snapshot_keys",
        "windows.sql_vss_copy_backup",
        "windows.vss_writers",
        "windows.vss_service_restart",
        "windows.bitlocker",
    ]
)
