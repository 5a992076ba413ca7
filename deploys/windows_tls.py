"""TLS: SchUseStrongCrypto=1 for every .NET Framework present, both registry views.

pyinfra inventories/windows.py deploys/windows_tls.py
"""

from bcdrfix.controls import apply_controls

apply_controls(["windows.tls_strong_crypto"])
