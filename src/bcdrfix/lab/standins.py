"""Stand-ins for Azure's endpoints while a lab is up: TCP listeners on the lab bridge address.

`bcdrfix lab up` starts this as a background process. It accepts connections on the lab's
stand-in ports (see ``endpoints.py``) and closes them at once, which is all a connectivity check
needs. It exits by itself when the lab's state file disappears or after ``--max-hours``.

    python -m bcdrfix.lab.standins ADDRESS STATE_FILE PORT [PORT ...]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import time
from pathlib import Path


def serve(address: str, state_file: Path, ports: list[int], max_seconds: float) -> None:
    selector = selectors.DefaultSelector()
    for port in ports:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(64)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ, data=server)
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and state_file.exists():
        for key, _ in selector.select(timeout=1.0):
            try:
                conn, _ = key.data.accept()
                conn.close()
            except OSError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("state_file", type=Path)
    parser.add_argument("ports", type=int, nargs="+")
    parser.add_argument("--max-hours", type=float, default=12.0)
    args = parser.parse_args()
    serve(args.address, args.state_file, args.ports, args.max_hours * 3600)


if __name__ == "__main__":
    main()
