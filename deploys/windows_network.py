"""Network (report only): wireserver, IMDS and storage endpoints answer; the WinHTTP proxy.

pyinfra inventories/windows.py deploys/windows_network.py \
    --data bcdrfix_storage_endpoints=myaccount.blob.core.windows.net

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_network
"""

from bcdrfix.deploys import windows_network

windows_network()
