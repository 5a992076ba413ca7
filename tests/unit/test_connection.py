"""SSH connections without the 40 ms waits of Nagle and delayed ACKs (core/connection.py):
paramiko's transport factory, and bcdrfix's loader handing it to pyinfra's SSH connector."""

from __future__ import annotations

import socket

import paramiko

from bcdrfix.core.connection import PromptPacketizer, prompt_transport
from bcdrfix.inventory.load import load_inventory


def test_prompt_transport_turns_nagle_off_and_reads_what_the_peer_sent():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with peer:
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # paramiko's
            transport = prompt_transport(client)
            try:
                assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert isinstance(transport.packetizer, PromptPacketizer)
                peer.sendall(b"SSH-2.0-test\r\n")
                assert transport.packetizer.read_all(14) == b"SSH-2.0-test\r\n"
            finally:
                transport.close()


def test_prompt_transport_over_a_local_socket_is_paramikos_own():
    """A ProxyCommand or a Unix socket has no TCP options: nothing is set, reads work."""
    ours, theirs = socket.socketpair()
    with theirs:
        transport = prompt_transport(ours)
        try:
            theirs.sendall(b"data")
            assert transport.packetizer.read_all(4) == b"data"
        finally:
            transport.close()


def test_bcdrfix_connects_with_the_prompt_transport_unless_the_inventory_names_one(tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "import paramiko\n"
        "linux = [\n"
        '    ("plain-01", {"ssh_hostname": "127.0.0.1"}),\n'
        '    ("own-02", {"ssh_hostname": "127.0.0.1", "ssh_paramiko_connect_kwargs": '
        '{"transport_factory": paramiko.Transport, "banner_timeout": 5}}),\n'
        '    ("kwargs-03", {"ssh_hostname": "127.0.0.1", "ssh_paramiko_connect_kwargs": '
        '{"banner_timeout": 7}}),\n'
        "]\n"
    )
    loaded = load_inventory(str(inventory), cwd=str(tmp_path))
    kwargs = {h.name: h.connector.data["ssh_paramiko_connect_kwargs"] for h in loaded.selected}
    assert kwargs == {
        "plain-01": {"transport_factory": prompt_transport},
        "own-02": {"transport_factory": paramiko.Transport, "banner_timeout": 5},
        "kwargs-03": {"transport_factory": prompt_transport, "banner_timeout": 7},
    }
