"""Inventory of Windows VMs reached over PowerShell Remoting (the @winrm connector).

    BCDRFIX_WINDOWS_HOSTS=vm1.contoso.com,vm2.contoso.com BCDRFIX_WINRM_USER=ops@CONTOSO.COM \
        BCDRFIX_WINRM_AUTH=kerberos pyinfra inventories/windows.py deploys/windows_agent.py

Passwords are read from BCDRFIX_WINRM_PASSWORD (never put them in this file). HTTPS with
certificate validation is the default; BCDRFIX_WINRM_CA_CERT names a private CA bundle.
"""

import os

_hosts = [h.strip() for h in os.environ.get("BCDRFIX_WINDOWS_HOSTS", "").split(",") if h.strip()]
if not _hosts:
    raise SystemExit("inventories/windows.py: set BCDRFIX_WINDOWS_HOSTS=host1,host2")

_data = {"winrm_auth": os.environ.get("BCDRFIX_WINRM_AUTH", "negotiate")}
for _key, _variable in (
    ("winrm_username", "BCDRFIX_WINRM_USER"),
    ("winrm_password", "BCDRFIX_WINRM_PASSWORD"),
    ("winrm_ca_cert", "BCDRFIX_WINRM_CA_CERT"),
):
    if os.environ.get(_variable):
        _data[_key] = os.environ[_variable]

windows = [(f"@winrm/{name}", dict(_data)) for name in _hosts]
