"""SSH connections: a dead one is detected in bounded time, so one lost host never stalls the
fleet; a live one answers without the 40 ms waits of Nagle and delayed ACKs.

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

paramiko sets no option on its sockets, and two waits of about 40 ms follow on every
connection: Nagle's algorithm holds the client's authentication request until the server has
acknowledged its NEWKEYS, which the server's delayed ACK does after 40 ms; and sshd (Nagle on for
commands without a terminal) holds the end of each command's output (EOF, exit status) until
the client acknowledges what came before, which the client's delayed ACK does after 40 ms.
``prompt_transport`` (paramiko's documented ``transport_factory``) turns Nagle off and has the
client acknowledge at once what it waits for (``TCP_QUICKACK``, Linux). bcdrfix's own commands
connect with it (``use_prompt_transport``); a 1-host audit on the lab took 397 ms, now 276 ms.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from paramiko import SSHException, Transport
from paramiko.packet import Packetizer
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
    sock: Any = getattr(transport, "sock", None)
    if not _is_tcp(sock):  # a ProxyCommand pipe or a channel: the SSH keepalive still runs
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
        except OSError:  # the socket was closed under us: the next read or write says so
            break
    return True


class PromptPacketizer(Packetizer):
    """paramiko's packetizer, acknowledging at once the data it waits for (``TCP_QUICKACK``).

    Linux leaves quick-ACK mode by itself after a while: it is asked for again at every read.
    """

    def __init__(self, sock: Any) -> None:
        super().__init__(sock)
        self._sock = sock
        self._quickack = _is_tcp(sock) and hasattr(socket, "TCP_QUICKACK")

    def read_all(self, n: int, check_rekey: bool = False) -> bytes:
        if self._quickack:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:  # the socket was closed under us: the read says so
                self._quickack = False
        return super().read_all(n, check_rekey)


def _is_tcp(sock: Any) -> bool:
    """``sock`` is a TCP socket (not a ProxyCommand, a ProxyJump channel or a Unix socket)."""
    return (
        hasattr(sock, "setsockopt")
        and getattr(sock, "type", None) == socket.SOCK_STREAM
        and getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6)
    )


def prompt_transport(sock: Any, **kwargs: Any) -> Transport:
    """paramiko's ``Transport`` over ``sock`` without Nagle's and delayed ACKs' 40 ms waits.

    A ``transport_factory`` for ``SSHClient.connect``, i.e. for pyinfra's
    ``ssh_paramiko_connect_kwargs``. Over anything but a TCP socket it is paramiko's own.
    """
    if _is_tcp(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Transport(sock, packetizer_class=PromptPacketizer, **kwargs)


def use_prompt_transport(hosts: Iterable[Any]) -> None:
    """Have ``hosts``' SSH connections made with ``prompt_transport``, unless their data names
    a ``transport_factory`` in ``ssh_paramiko_connect_kwargs`` (kept, as their other kwargs)."""
    for host in hosts:
        data = getattr(host.connector, "data", None)
        if not isinstance(data, dict) or "ssh_paramiko_connect_kwargs" not in data:
            continue  # not pyinfra's SSH connector
        kwargs = dict(data["ssh_paramiko_connect_kwargs"] or {})
        kwargs.setdefault("transport_factory", prompt_transport)
        data["ssh_paramiko_connect_kwargs"] = kwargs


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
