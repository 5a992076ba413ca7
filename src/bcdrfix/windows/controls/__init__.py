"""Windows controls, one module per topic (REFERENCE section 4).

Every control reads the batched observation (``bcdrfix.windows.facts``); fixes return ``Step``s of
``bcdrfix.windows.operations``. Fixes that restart a service other than the agent's, reinstall
MSDTC, re-register msiexec, change ACLs or delete certificates are ``disruptive``: without
``bcdrfix_allow_disruptive`` the run reports "needs approval" and the summary says exactly what
would happen. Report-only controls (agent version, .NET, BitLocker, DHCP, connectivity) never
change the host. Importing this package registers them all in ``CONTROLS``, in the order of the
imports below.
"""

# isort: off
from bcdrfix.windows.controls import agent  # noqa: F401  (registers controls)
from bcdrfix.windows.controls import com  # noqa: F401
from bcdrfix.windows.controls import vss  # noqa: F401
from bcdrfix.windows.controls import registry  # noqa: F401
from bcdrfix.windows.controls import security  # noqa: F401
from bcdrfix.windows.controls import network  # noqa: F401

# isort: on
from bcdrfix.windows.controls.base import (
    CONTROLS,
    SETTINGS,
    observation_request,
    observe_windows,
    writer_services,
)

__all__ = ["CONTROLS", "SETTINGS", "observation_request", "observe_windows", "writer_services"]
