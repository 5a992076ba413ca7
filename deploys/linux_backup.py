"""Linux backup extension and network prerequisites: vmbackup.conf, freeze readiness, SELinux,
connectivity, DHCP.

    pyinfra inventories/lab.py deploys/linux_backup.py          # fix
    pyinfra inventories/lab.py deploys/linux_backup.py --dry    # preview
    pyinfra inventories/lab.py deploys/linux_backup.py \
        --data 'bcdrfix_vmbackup_conf={"MountsToSkip": ["/mnt/resource"], "SafeFreezeWaitInSeconds": 600}'
    pyinfra inventories/lab.py deploys/linux_backup.py --data bcdrfix_allow_disruptive=true  # umount/fsck

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.linux_backup
"""

from bcdrfix.deploys import linux_backup

linux_backup()
