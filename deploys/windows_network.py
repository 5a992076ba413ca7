"""Network (report only): wireserver, IMDS and storage endpoints answer; the WinHTTP proxy.

pyinfra inventories/windows.py deploys/windows_network.py \
    --data bcdrfix_storage_endpoints=myaccount.blob.core.windows.net
"""

from bcdrfix.controls import apply_controls

apply_controls(["windows.connectivity"])
