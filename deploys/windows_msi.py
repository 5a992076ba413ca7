"""Windows Installer: Msiserver Start=3, msiexec re-registration on request.

    pyinfra inventories/windows.py deploys/windows_msi.py
    pyinfra inventories/windows.py deploys/windows_msi.py \
        --data bcdrfix_msi_reregister=true --data bcdrfix_allow_disruptive=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_msi
"""

from bcdrfix.deploys import windows_msi

windows_msi()
