"""VSS: the extension's provider, the VSS service (Disabled is reported), writers, a VSS restart
on request, snapshot keys, SQL copy backups, BitLocker (report).

    pyinfra inventories/windows.py deploys/windows_vss.py                     # restarts need approval
    pyinfra inventories/windows.py deploys/windows_vss.py --data bcdrfix_allow_disruptive=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_vss
"""

from bcdrfix.deploys import windows_vss

windows_vss()
