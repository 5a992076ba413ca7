"""SSH stand-in for fleet-scale controller measurements: many "hosts" on loopback addresses.

Two modes, both real SSH servers (asyncssh: a key exchange and public-key authentication on
every connection), listening only on 127.0.0.0/8 addresses:

* ``record``: one listener per real lab host; every command a client runs is forwarded to that
  lab host over SSH, answered with the host's real output and recorded (command, stdout, stderr,
  exit status) into a JSON file;
* ``serve``: N listeners (127.x.y.z, one address per "host"); listener ``i`` answers from
  recording ``i % R`` when the command is exactly one that was recorded, and with exit 127 and
  one line on stderr otherwise, so a controller that sends anything unexpected fails loudly.

Used by ``benchmarks/scale.py``; runs until SIGTERM/SIGINT. Prints ``ready`` on stdout once every
listener is bound.

    python benchmarks/standin_ssh.py record --authorized KEY.pub --out rec.json \\
        --upstream-key LABKEY 127.77.0.1=198.18.6.11 127.77.0.2=198.18.6.12
    python benchmarks/standin_ssh.py serve --authorized KEY.pub --recording rec.json \\
        --hosts 1000 --first 127.77.1.0
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import resource
import signal
import sys
from pathlib import Path

import asyncssh

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
NOT_RECORDED = 127
UPSTREAM_TIMEOUT = 60.0


def loopback(address: str) -> str:
    if ipaddress.ip_address(address) not in LOOPBACK:
        raise SystemExit(f"standin_ssh: {address} is not a loopback address (127.0.0.0/8)")
    return address


def addresses(first: str, count: int) -> list[str]:
    start = ipaddress.ip_address(first)
    result = [str(start + i) for i in range(count)]
    for address in (result[0], result[-1]):
        loopback(address)
    return result


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Recorder:
    """Forwards commands to a real host and keeps what it answered."""

    def __init__(self, upstream: str, key: str) -> None:
        self.upstream = upstream
        self.key = key
        self.answers: dict[str, dict] = {}

    async def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        try:
            async with asyncssh.connect(
                self.upstream,
                username="root",
                client_keys=[self.key],
                known_hosts=None,
                connect_timeout=10,
            ) as conn:
                result = await asyncio.wait_for(
                    conn.run(command, check=False, encoding=None), UPSTREAM_TIMEOUT
                )
            stdout = (result.stdout or b"").decode("utf-8", errors="surrogateescape")
            stderr = (result.stderr or b"").decode("utf-8", errors="surrogateescape")
            status = result.exit_status if result.exit_status is not None else 255
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            stdout, stderr, status = "", f"standin_ssh: upstream {self.upstream}: {exc}\n", 255
        self.answers[command] = {"stdout": stdout, "stderr": stderr, "status": status}
        answer(process, self.answers[command])


class Replayer:
    def __init__(self, answers: dict[str, dict]) -> None:
        self.answers = answers
        self.served = 0
        self.unknown = 0

    async def __call__(self, process: asyncssh.SSHServerProcess) -> None:
        found = self.answers.get(process.command or "")
        if found is None:
            self.unknown += 1
            found = {
                "stdout": "",
                "stderr": "standin_ssh: no recording for this command\n",
                "status": NOT_RECORDED,
            }
        else:
            self.served += 1
        answer(process, found)


def answer(process: asyncssh.SSHServerProcess, found: dict) -> None:
    process.stdout.write(found["stdout"])
    process.stderr.write(found["stderr"])
    process.exit(found["status"])


async def listen(address: str, port: int, handler, host_key, authorized: str):
    return await asyncssh.listen(
        address,
        port,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
        process_factory=handler,
        reuse_address=True,
        backlog=1024,
    )


async def run(args: argparse.Namespace) -> None:
    raise_open_files_limit()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    servers = []
    recorders: list[tuple[str, Recorder]] = []
    if args.mode == "record":
        for pair in args.pairs:
            local, _, upstream = pair.partition("=")
            recorder = Recorder(upstream, args.upstream_key)
            recorders.append((loopback(local), recorder))
            servers.append(await listen(local, args.port, recorder, host_key, args.authorized))
    else:
        recording = json.loads(Path(args.recording).read_text())
        replayers = [Replayer(answers) for answers in recording["hosts"]]
        for i, address in enumerate(addresses(args.first, args.hosts)):
            servers.append(
                await listen(
                    address, args.port, replayers[i % len(replayers)], host_key, args.authorized
                )
            )
    print("ready", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    if args.mode == "record":
        Path(args.out).write_text(
            json.dumps({"hosts": [rec.answers for _, rec in recorders]}, indent=1) + "\n"
        )
    else:
        served = sum(r.served for r in replayers)
        unknown = sum(r.unknown for r in replayers)
        print(json.dumps({"served": served, "unknown": unknown}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    rec = sub.add_parser("record", help="proxy to real lab hosts and record their answers")
    rec.add_argument("pairs", nargs="+", metavar="LOOPBACK=UPSTREAM")
    rec.add_argument("--upstream-key", required=True, help="private key for the lab hosts")
    rec.add_argument("--out", required=True, help="recording (JSON) written on exit")
    srv = sub.add_parser("serve", help="answer from a recording on many loopback addresses")
    srv.add_argument("--recording", required=True)
    srv.add_argument("--hosts", type=int, required=True)
    srv.add_argument("--first", default="127.77.1.0", help="first address; the next ones follow")
    for p in (rec, srv):
        p.add_argument("--port", type=int, default=2222)
        p.add_argument("--authorized", required=True, help="authorized_keys file for clients")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(f"standin_ssh: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
