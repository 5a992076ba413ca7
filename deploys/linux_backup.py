"""Linux backup extension and network prerequisites: vmbackup.conf, freeze readiness, SELinux,
connectivity, DHCP.

    pyinfra inventories/lab.py deploys/linux_backup.py          # fix
    pyinfra inventories/lab.py deploys/linux_backup.py --dry    # preview
    pyinfra inventories/lab.py deploys/linux_backup.py \
        --data 'bcdrfix_vmbackup_conf={"MountsToSkip": ["/mnt/resource"], "SafeFreezeWaitInSeconds": 600}'
    pyinfra inventories/lab.py deploys/linux_backup.py --data bcdrfix_allow_disruptive=true  # umount/fsck
"""

from bcdrfix.controls import apply_controls

# Order matters: vmbackup.conf (MountsToSkip) is written before freeze readiness is judged.
apply_controls(
    [
        "linux.vmbackup_conf",
        "linux.vmbackup_conf_location",
        "linux.freeze_readiness",
        "linux.selinux_waagent",
        "linux.connectivity",
        "linux.dhcp",
    ]
)
