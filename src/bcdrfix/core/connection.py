"""Dead connections are detected in bounded time, so one lost host never stalls the fleet.

pyinfra runs each operation on every host and waits for all of them before the next one. A host
whose network is cut mid-command keeps that wait open: paramiko sends nothing on an idle
connection and the kernel retransmits for about 15 minutes before it gives up. bcdrfix therefore
sets, on every SSH connection it uses (audit and fix):

* an SSH keepalive every ``bcdrfix_ssh_keepalive`` seconds (paramiko's transport keepalive), so
  that an idle connection has data in flight, plus TCP keepalive probes at the same interval;
* ``TCP_USER_TIMEOUT`` of ``bcdrfix_ssh_dead_after`` seconds: data unacknowledged that long
  closes the connection, the running command fails on that host and pyinfra drops the host
  while the others go on.

A partitioned host thus fails within keepalive + dead-after seconds (40 s with the defaults).
Commands that hang on a live connection are bounded by pyinfra's ``_timeout`` (set for every
operation and fact in ``group_data/all.py``).
"""

from __future__ import annotations

import socket
from typing import Any

from paramiko import SSHException
from pyinfra.api.exceptions import PyinfraError

# What a broken, hung or vanished host makes a connector raise (socket errors and timeouts, a
# channel closed mid-read, SSH protocol errors, pyinfra's own connect/command errors). Anything
# else is a bug in bcdrfix and must crash loudly.
HOST_FAILURES: tuple[type[BaseException], ...] = (OSError, EOFError, SSHException, PyinfraError)


def harden_connection(host: Any, keepalive: int, dead_after: int) -> bool:
    """Set keepalive and dead-peer timeout on ``host``'s SSH connection; False if it has none."""
    client = getattr(host.connector, "client", None)
    get_transport = getattr(client, "get_transport", None)
    transport = get_transport() if get_transport else None
    if transport is None:
        return False
    transport.set_keepalive(keepalive)
    sock = getattr(transport, "sock", None)
    if sock is None or not hasattr(sock, "setsockopt"):
        return True
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", keepalive),
        ("TCP_KEEPINTVL", keepalive),
        ("TCP_KEEPCNT", max(1, dead_after // max(1, keepalive))),
        ("TCP_USER_TIMEOUT", dead_after * 1000),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError:  # not a TCP socket (a ProxyCommand pipe): the SSH keepalive still runs
            break
    return True


def close_connection(host: Any) -> None:
    """Disconnect ``host`` and close its SSH client (pyinfra's ``disconnect`` leaves it open).

    Long-lived processes that call the audit or the fix in a loop otherwise keep one socket and
    one paramiko transport greenlet per host and run.
    """
    if getattr(host, "connected", False):
        try:
            host.disconnect()
        except HOST_FAILURES:  # the run is over; a failed goodbye changes nothing
            pass
    client = getattr(host.connector, "client", None)
    if client is not None and hasattr(client, "close"):
        client.close()
        host.connector.client = None
