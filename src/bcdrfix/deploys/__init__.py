"""bcdrfix's deploys as pyinfra ``@deploy`` functions: use them from anywhere bcdrfix is installed.

From the command line (pyinfra 3 runs ``module.function``), in any folder::

    pyinfra inventory.py bcdrfix.deploys.linux_agent --dry
    pyinfra inventory.py bcdrfix.deploys.fix_error_code code=151099

From your own deploy file::

    from bcdrfix.deploys import linux_agent
    linux_agent()

Each deploy checks its controls on the current host and fixes what fails (one pyinfra operation
per control, see ``bcdrfix.core.apply``). ``bcdrfix.controls.DEPLOYS`` names the controls of
each deploy, in the order they run (``deploy_for_control`` tells the audit which deploy fixes a
control). The files in the repository's ``deploys/`` folder are thin entry points calling these
functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyinfra import host
from pyinfra.api import deploy

from bcdrfix.controls import DEPLOYS, apply_controls, deploy_for_control, load_settings
from bcdrfix.fix import by_code
from bcdrfix.linux.logs import collect_linux_logs

CONTROLS = DEPLOYS


def _controls_deploy(name: str, title: str) -> Callable[..., Any]:
    def run() -> list:
        return apply_controls(CONTROLS[name])

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"{title}: {', '.join(CONTROLS[name])}."
    return deploy(f"bcdrfix.{name}")(run)


linux_agent = _controls_deploy("linux_agent", "Linux guest agent")
linux_backup = _controls_deploy("linux_backup", "Linux backup extension prerequisites")
windows_agent = _controls_deploy("windows_agent", "Windows guest agent")
windows_antivirus = _controls_deploy("windows_antivirus", "Windows antivirus exclusions")
windows_com = _controls_deploy("windows_com", "Windows COM+ and MSDTC")
windows_machinekeys = _controls_deploy("windows_machinekeys", "Windows MachineKeys and CRP certs")
windows_msi = _controls_deploy("windows_msi", "Windows Installer")
windows_network = _controls_deploy("windows_network", "Windows network endpoints")
windows_tls = _controls_deploy("windows_tls", "Windows TLS strong crypto")
windows_vss = _controls_deploy("windows_vss", "Windows VSS")


@deploy("bcdrfix.linux_logs")
def linux_logs() -> None:
    """Collect the agent's logs into ``<bcdrfix_logs_dir>/<host>/`` for a support case."""
    collect_linux_logs(load_settings(host.data, host.name))


@deploy("bcdrfix.fix_error_code")
def fix_error_code(code: str | None = None) -> list:
    """Check and fix the controls the catalog maps to ``code`` (default: host data
    ``error_code``, e.g. ``--data error_code=151099``)."""
    return by_code.fix_error_code(code)


__all__ = [
    "CONTROLS",
    "deploy_for_control",
    "fix_error_code",
    "linux_agent",
    "linux_backup",
    "linux_logs",
    "windows_agent",
    "windows_antivirus",
    "windows_com",
    "windows_machinekeys",
    "windows_msi",
    "windows_network",
    "windows_tls",
    "windows_vss",
]
