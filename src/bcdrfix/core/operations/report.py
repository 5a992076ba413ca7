"""Operations that change nothing and say why: already right, not applicable, needs approval."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation


@operation(is_idempotent=True)
def note(message: str):
    """
    Report a control outcome that needs no command on the host.

    + message: the text shown in pyinfra's output (and in ``--json`` results)

    **Example:**

    .. code:: python

        note(name="needs approval: restart SQLWriter", message="...")
    """
    host.noop(message)
    return
    yield  # pragma: no cover - makes this a generator like every pyinfra operation
