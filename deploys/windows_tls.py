"""TLS: SchUseStrongCrypto=1 for every .NET Framework present, both registry views.

pyinfra inventories/windows.py deploys/windows_tls.py

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_tls
"""

from bcdrfix.deploys import windows_tls

windows_tls()
