"""What the audit and the diagnosis do alike on one host: keep pyinfra's error lines per host,
connect, run the ONE batched observation, and turn findings into JSON data."""

from __future__ import annotations

import logging
from typing import Any

from pyinfra.api.exceptions import ConnectError

from bcdrfix.audit.document import HOST_ERROR, UNREACHABLE
from bcdrfix.audit.guest import GUEST_PROBE
from bcdrfix.controls import ENGINE, Control
from bcdrfix.core.connection import HOST_FAILURES
from bcdrfix.core.settings import Settings


class HostLog(logging.Handler):
    """Keeps pyinfra's error lines per host, to explain an unreachable or failed host."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def for_host(self, name: str) -> list[str]:
        prefix = f"[{name}]"
        return [line[len(prefix) :].strip() for line in self.lines if line.startswith(prefix)]


def jsonable(value: Any) -> Any:
    """Observed/desired values as JSON data (mappings, lists, strings, numbers, None)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def connect(host: Any, doc: dict) -> bool:
    """Connect and activate ``host``; on failure mark ``doc`` unreachable and return False."""
    try:
        host.connect(raise_exceptions=True, show_errors=False)
    except ConnectError as exc:
        doc.update(state=UNREACHABLE, message=str(exc) or "could not connect")
        return False
    host.state.activate_host(host)
    return True


def observe_host(
    host: Any, platform: str, settings: Settings, controls: list[Control], doc: dict, log: HostLog
) -> dict | None:
    """The controls' probes plus the backup extension's last result, still one command; on
    failure mark ``doc`` as a host error (one line) and return None. Never raises."""
    probes = {p for c in controls for p in c.probes} | {GUEST_PROBE[platform]}
    try:
        observation = ENGINE.observers[platform](host, sorted(probes), settings)
    except KeyError:
        doc.update(state=HOST_ERROR, message=f"no observer for platform {platform!r}")
        return None
    except HOST_FAILURES as exc:  # what a broken host or link raises; a bug still crashes
        doc.update(state=HOST_ERROR, message=f"observation failed: {type(exc).__name__}: {exc}")
        return None
    if not observation:
        details = "; ".join(log.for_host(host.name)[-3:])
        doc.update(
            state=HOST_ERROR, message="observation failed" + (f": {details}" if details else "")
        )
        return None
    return observation
