"""Every desired-state check and its fix, registered in ``REGISTRY``.

Importing this package registers all controls; the audit and the remediation both use them.
"""

from bcdrfix.controls.base import REGISTRY, Control, Finding, Status, Step  # noqa: F401
from bcdrfix.controls import linux_agent  # noqa: F401,E402  (registers controls)
from bcdrfix.controls import windows  # noqa: F401,E402  (registers controls)

__all__ = ["REGISTRY", "Control", "Finding", "Status", "Step"]
from bcdrfix.controls import linux_backup  # noqa: F401,E402  (registers controls)
