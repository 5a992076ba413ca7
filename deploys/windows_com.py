"""COM+ and MSDTC: COMSysApp started, MSDTC as NetworkService, MSDTC reinstall on request.

    pyinfra inventories/windows.py deploys/windows_com.py
    pyinfra inventories/windows.py deploys/windows_com.py \
        --data bcdrfix_msdtc_reinstall=true --data bcdrfix_allow_disruptive=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_com
"""

from bcdrfix.deploys import windows_com

windows_com()
