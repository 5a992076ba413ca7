"""Every desired-state check and its fix, registered in ``REGISTRY``.

Importing this package registers all controls; the audit and the remediation both use them.
"""

from bcdrfix.core.model import REGISTRY, Control, Finding, Status, Step  # noqa: F401
from bcdrfix.linux import agent  # noqa: F401,E402  (registers controls)
from bcdrfix.windows import controls  # noqa: F401,E402  (registers controls)

__all__ = ["REGISTRY", "Control", "Finding", "Status", "Step"]
from bcdrfix.linux import backup  # noqa: F401,E402  (registers controls)
