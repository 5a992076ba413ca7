"""ExtensionConfigParsingFailure: MachineKeys ACL reset, then broken CRP certificates removed.

Both changes are disruptive and need approval:

    pyinfra inventories/windows.py deploys/windows_machinekeys.py --data bcdrfix_allow_disruptive=true
"""

from bcdrfix.controls import apply_controls

# The ACL first: the agent can only write new certificates' keys into a readable MachineKeys.
apply_controls(["windows.machinekeys_acl", "windows.crp_certificates"])
