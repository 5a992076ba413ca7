"""COM+ and MSDTC: COMSysApp started, MSDTC as NetworkService, MSDTC reinstall on request.

    pyinfra inventories/windows.py deploys/windows_com.py
    pyinfra inventories/windows.py deploys/windows_com.py \
        --data bcdrfix_msdtc_reinstall=true --data bcdrfix_allow_disruptive=true
"""

from bcdrfix.controls import apply_controls

# The account is fixed before a reinstall could be requested; COM+ is started last.
apply_controls(["windows.msdtc_account", "windows.msdtc_reinstall", "windows.comsysapp"])
