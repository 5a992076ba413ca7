"""ExtensionConfigParsingFailure: MachineKeys ACL reset, then broken CRP certificates removed.

Both changes are disruptive and need approval:

    pyinfra inventories/windows.py deploys/windows_machinekeys.py --data bcdrfix_allow_disruptive=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_machinekeys
"""

from bcdrfix.deploys import windows_machinekeys

windows_machinekeys()
