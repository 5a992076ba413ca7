"""Windows Installer: Msiserver Start=3, msiexec re-registration on request.

    pyinfra inventories/windows.py deploys/windows_msi.py
    pyinfra inventories/windows.py deploys/windows_msi.py \
        --data bcdrfix_msi_reregister=true --data bcdrfix_allow_disruptive=true
"""

from bcdrfix.controls import apply_controls

apply_controls(["windows.msiserver", "windows.msi_reregister"])
