"""Windows operations: registry values, services and the articles' repair procedures.

Every operation compares what the observation saw with what is wanted and does nothing (with a
``noop`` message) when they match, like Ansible's ``win_regedit`` / ``win_service``: a registry
value is rewritten only when its type or its data differ, a service property only when that
property differs. Commands are PowerShell scripts whose data arrives as quoted variable
assignments (``bcdrfix.windows.powershell.script``); the script bodies are constants.

Each operation's script comes from a pure ``*_script`` function so that tests can parse every
script with a PowerShell grammar and check that hostile values stay literal.
"""

from bcdrfix.windows.operations.registry import (
    HKLM_PREFIXES,
    REGISTRY_KINDS,
    REGISTRY_SET,
    registry_data_equal,
    registry_kind,
    registry_matches,
    registry_subkey,
    registry_value,
    registry_value_script,
)
from bcdrfix.windows.operations.security import (
    ADMINISTRATORS_SID,
    DEFENDER_ADD,
    EVERYONE_SID,
    MACHINEKEYS_RESET,
    REMOVE_CERTIFICATE,
    RIGHTS_FULL,
    RIGHTS_READ_WRITE,
    defender_exclusions,
    defender_exclusions_script,
    machinekeys_acl_reset,
    machinekeys_acl_reset_script,
    missing_exclusions,
    remove_certificate_script,
    remove_certificates,
)
from bcdrfix.windows.operations.services import (
    MSDTC_REINSTALL,
    MSI_REREGISTER,
    SERVICE_ACCOUNT,
    SERVICE_EXISTS,
    SERVICE_RESTART,
    SERVICE_START,
    SERVICE_START_TYPE,
    SERVICE_STOP,
    START_MODES,
    START_TYPE_NAMES,
    VSS_WRITERS_VERIFY,
    msdtc_reinstall,
    msdtc_reinstall_script,
    msi_reregister,
    msi_reregister_script,
    normalise_account,
    service,
    service_restart,
    service_restart_script,
    service_scripts,
    start_mode_value,
    vss_writers_verify,
    vss_writers_verify_script,
)

# Every script builder, for tests that parse each generated script.
SCRIPT_BUILDERS = {
    "registry_value": registry_value_script,
    "service": service_scripts,
    "service_restart": service_restart_script,
    "msdtc_reinstall": msdtc_reinstall_script,
    "msi_reregister": msi_reregister_script,
    "machinekeys_acl_reset": machinekeys_acl_reset_script,
    "remove_certificate": remove_certificate_script,
    "defender_exclusions": defender_exclusions_script,
    "vss_writers_verify": vss_writers_verify_script,
}

__all__ = [
    "ADMINISTRATORS_SID",
    "DEFENDER_ADD",
    "EVERYONE_SID",
    "HKLM_PREFIXES",
    "MACHINEKEYS_RESET",
    "MSDTC_REINSTALL",
    "MSI_REREGISTER",
    "REGISTRY_KINDS",
    "REGISTRY_SET",
    "REMOVE_CERTIFICATE",
    "RIGHTS_FULL",
    "RIGHTS_READ_WRITE",
    "SERVICE_ACCOUNT",
    "SERVICE_EXISTS",
    "SERVICE_RESTART",
    "SERVICE_START",
    "SERVICE_START_TYPE",
    "SERVICE_STOP",
    "START_MODES",
    "START_TYPE_NAMES",
    "VSS_WRITERS_VERIFY",
    "defender_exclusions",
    "defender_exclusions_script",
    "machinekeys_acl_reset",
    "machinekeys_acl_reset_script",
    "missing_exclusions",
    "msdtc_reinstall",
    "msdtc_reinstall_script",
    "msi_reregister",
    "msi_reregister_script",
    "normalise_account",
    "registry_data_equal",
    "registry_kind",
    "registry_matches",
    "registry_subkey",
    "registry_value",
    "registry_value_script",
    "remove_certificate_script",
    "remove_certificates",
    "service",
    "service_restart",
    "service_restart_script",
    "service_scripts",
    "start_mode_value",
    "vss_writers_verify",
    "vss_writers_verify_script",
    "SCRIPT_BUILDERS",
]
