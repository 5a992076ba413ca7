"""A local lab of real Linux hosts with broken Azure agents.

Each host is a Debian bookworm system booted with ``systemd-nspawn --boot`` (systemd as PID 1)
on a per-host overlayfs over one cached debootstrapped rootfs that carries Debian's real
``waagent`` package. Each host lives in its own network namespace, joined to a lab bridge by a
veth pair, reachable over SSH with a generated key, and has **no default route**: the agent
inside cannot reach any Azure address.

Two flavors make service-name detection real:

* ``debian``: Debian's package as shipped, unit ``walinuxagent.service`` (it has no Restart=, a
  real finding on every debian host);
* ``rhel``:   the same agent run by a Red Hat style ``waagent.service`` (Restart=always),
  ``walinuxagent.service`` removed.

Addresses come from 198.18.0.0/15, the range reserved for network test beds (RFC 2544).
Everything the lab creates is recorded in ``<lab dir>/lab.json`` so that ``down`` removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bcdrfix.lab.endpoints import ALL_PORTS
from bcdrfix.lab.faults import FAULTS, INHERENT_FAULTS, apply_boot_faults, runtime_fault_commands

# Several labs can run side by side (parallel test sessions): each BCDRFIX_LAB_ID (0-99) gets its
# own state folder, bridge, namespaces, cgroups and /24.
LAB_ID = int(os.environ.get("BCDRFIX_LAB_ID", "0"))
LAB_DIR = Path(os.environ.get("BCDRFIX_LAB_DIR", f"/var/lib/bcdrfix-lab{LAB_ID or ''}"))
LAB_TAG = f"bcdrlab{LAB_ID}"
CACHE_DIR = Path(os.environ.get("BCDRFIX_CACHE_DIR", "/var/cache/bcdrfix"))
MIRROR = os.environ.get("BCDRFIX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOTFS_PACKAGES = "openssh-server,python3,systemd,systemd-sysv,dbus,waagent,iproute2,procps"
ROOTFS_STAMP = f"bookworm {ROOTFS_PACKAGES} v2"
FLAVORS = ("debian", "rhel")
CGROUP_ROOTS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))

# Red Hat style unit, written from the upstream layout (Restart=always, RestartSec=5).
RHEL_UNIT = """\
[Unit]
Description=Azure Linux Agent
Wants=network-online.target sshd.service sshd-keygen.service
After=network-online.target
ConditionFileIsExecutable=/usr/sbin/waagent
ConditionPathExists=/etc/waagent.conf

[Service]
Type=simple
ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""

# Lab only: the Debian unit says ConditionVirtualization=microsoft; these hosts are not Hyper-V.
LAB_VIRT_DROPIN = """\
# bcdrfix lab only: the lab is not Hyper-V; never deployed to real VMs.
[Unit]
ConditionVirtualization=
"""


class LabError(RuntimeError):
    """A one-line lab failure."""


@dataclass
class LabHost:
    name: str
    flavor: str
    index: int
    address: str
    faults: list[str] = field(default_factory=list)
    pid: int | None = None

    @property
    def unit(self) -> str:
        return "walinuxagent.service" if self.flavor == "debian" else "waagent.service"

    @property
    def netns(self) -> str:
        return f"{LAB_TAG}-{self.index}"

    @property
    def veth(self) -> str:
        return f"bl{LAB_ID}h{self.index}"  # interface names have at most 15 characters

    @property
    def root(self) -> Path:
        return LAB_DIR / "hosts" / self.name

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def known_faults(self) -> list[str]:
        """Seeded faults plus what the flavor itself gets wrong."""
        return sorted(set(self.faults) | set(INHERENT_FAULTS.get(self.flavor, ())))

    @property
    def host_data(self) -> dict:
        """Inventory data the lab gives this host (hosts under diagnosis want verbose logs)."""
        # The lab has no real wireserver: its agents never start the extension handler.
        data = {"bcdrfix_agent_check_processes": False}
        if "verbose-off" in self.faults:
            data["bcdrfix_agent_verbose_logs"] = True
        return data


@dataclass
class LabState:
    subnet: str = f"198.18.{LAB_ID}"
    bridge: str = LAB_TAG
    key: str = str(LAB_DIR / "id_ed25519")
    # Each host's SSH host key is made before it boots, so the lab knows it: the inventory and
    # lab commands check host keys against this file (no "unknown host key" warnings, no TOFU).
    # A new name per lab: pyinfra caches a known_hosts file by its name for the process's life,
    # and the next lab's hosts reuse the addresses with new keys.
    known_hosts: str = field(
        default_factory=lambda: str(LAB_DIR / f"known_hosts.{os.getpid()}.{time.time_ns()}")
    )
    hosts: list[LabHost] = field(default_factory=list)
    standins_pid: int | None = None  # listeners standing in for Azure's endpoints

    @classmethod
    def load(cls) -> LabState | None:
        path = LAB_DIR / "lab.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        fields = set(LabHost.__dataclass_fields__)
        raw["hosts"] = [
            LabHost(**{k: v for k, v in h.items() if k in fields}) for h in raw["hosts"]
        ]
        return cls(**raw)

    def save(self) -> None:
        LAB_DIR.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        for host, raw in zip(self.hosts, data["hosts"]):
            raw["unit"] = host.unit
            raw["known_faults"] = host.known_faults
            raw["data"] = host.host_data
        tmp = LAB_DIR / "lab.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(LAB_DIR / "lab.json")


def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, overlay mounts, systemd-nspawn)")
    for tool in ("debootstrap", "systemd-nspawn", "ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is not installed: run `make setup` (or see README)")


# --- rootfs -----------------------------------------------------------------------------------


def rootfs_path() -> Path:
    return CACHE_DIR / "bookworm-rootfs"


def ensure_rootfs(log=print) -> Path:
    """Build (once) and return the cached rootfs shared read-only by all hosts."""
    root = rootfs_path()
    stamp = root / ".bcdrfix-rootfs"
    if stamp.exists() and stamp.read_text().strip() == ROOTFS_STAMP:
        return root
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = CACHE_DIR / "bookworm-rootfs.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    log(f"lab: debootstrap bookworm into {tmp} (about a minute, once)")
    start = time.monotonic()
    run(
        "debootstrap",
        "--variant=minbase",
        f"--include={ROOTFS_PACKAGES}",
        "bookworm",
        str(tmp),
        MIRROR,
    )
    prepare_rootfs(tmp)
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    stamp.write_text(ROOTFS_STAMP + "\n")
    log(f"lab: rootfs ready in {time.monotonic() - start:.0f}s")
    return root


def prepare_rootfs(root: Path) -> None:
    """What every lab host shares: sshd for key login, an agent config that follows the article."""
    (root / "etc/ssh/sshd_config.d/bcdrfix-lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
    )
    # Debian's package ships Provisioning.Agent=cloud-init; the lab's image follows the article.
    conf = root / "etc/waagent.conf"
    conf.write_text(
        conf.read_text().replace("Provisioning.Agent=cloud-init", "Provisioning.Agent=auto")
    )
    (root / "etc/machine-id").write_text("")
    for cache in (root / "var/cache/apt/archives").glob("*.deb"):
        cache.unlink()
    # Units that wait for hardware or the network a lab host does not have.
    for unit in ("systemd-networkd-wait-online.service", "e2scrub_reap.service"):
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


# --- network ----------------------------------------------------------------------------------


def ensure_bridge(state: LabState) -> None:
    if run("ip", "link", "show", state.bridge, check=False).returncode != 0:
        run("ip", "link", "add", state.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{state.subnet}.1/24", "dev", state.bridge)
    run("ip", "link", "set", state.bridge, "up")


def create_network(state: LabState, host: LabHost) -> None:
    run("ip", "netns", "add", host.netns)
    run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    run("ip", "link", "set", host.veth, "master", state.bridge, "up")
    run("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
    run("ip", "-n", host.netns, "link", "set", "lo", "up")
    run("ip", "-n", host.netns, "link", "set", "eth0", "up")
    # Deliberately no default route: nothing inside can reach Azure or anything else.


def remove_network(host: LabHost) -> None:
    run("ip", "link", "del", host.veth, check=False)
    run("ip", "netns", "del", host.netns, check=False)


# --- cgroups and processes ----------------------------------------------------------------------


def cgroup_dirs(host: LabHost) -> list[Path]:
    return [root / LAB_TAG / host.name for root in CGROUP_ROOTS if root.is_dir()]


def cgroup_pids(directory: Path) -> list[int]:
    pids: list[int] = []
    if not directory.exists():
        return pids
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids += [int(p) for p in procs.read_text().split()]
        except OSError:
            pass
    return pids


def reaped(pid: int) -> bool:
    """Reap ``pid`` if it is our exited child. A zombie still answers ``kill(pid, 0)``, so
    without this a dead machine looked alive until the timeout, for every host of a lab."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # not our child (booted by another process): kill(pid, 0) decides
    return done == pid


def kill_cgroup(host: LabHost, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {pid for directory in cgroup_dirs(host) for pid in cgroup_pids(directory)}
        if host.pid and not reaped(host.pid):
            try:
                os.kill(host.pid, 0)
                pids.add(host.pid)
            except ProcessLookupError:
                pass
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    if host.pid:
        reaped(host.pid)
    for directory in cgroup_dirs(host):
        if directory.exists():
            for sub in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    try:
                        sub.rmdir()
                    except OSError:
                        pass
            try:
                directory.rmdir()
            except OSError:
                pass


# --- hosts --------------------------------------------------------------------------------------


def mount_overlay(host: LabHost, rootfs: Path) -> None:
    for sub in ("upper", "work", "merged"):
        (host.root / sub).mkdir(parents=True, exist_ok=True)
    run(
        "mount",
        "-t",
        "overlay",
        "overlay",
        "-o",
        f"lowerdir={rootfs},upperdir={host.root / 'upper'},workdir={host.root / 'work'}",
        str(host.merged),
    )


HOST_KEY = "etc/ssh/ssh_host_ed25519_key"


def make_host_key(host: LabHost) -> str:
    """Give the host its own ed25519 host key (the only one its sshd offers); return the public
    key line for known_hosts."""
    m = host.merged
    key = m / HOST_KEY
    for old in (key, key.with_name(key.name + ".pub")):
        old.unlink(missing_ok=True)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(key))
    os.chmod(key, 0o600)
    (m / "etc/ssh/sshd_config.d/bcdrfix-lab-hostkey.conf").write_text(f"HostKey /{HOST_KEY}\n")
    kind, blob = key.with_name(key.name + ".pub").read_text().split()[:2]
    return f"{host.address} {kind} {blob}\n"


def write_known_hosts(state: LabState, lines: Iterable[str]) -> None:
    path = Path(state.known_hosts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)


def customise(host: LabHost, public_key: str) -> None:
    m = host.merged
    (m / "etc/hostname").write_text(host.name + "\n")
    ssh_dir = m / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(public_key)
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    system = m / "etc/systemd/system"
    if host.flavor == "rhel":
        (m / "lib/systemd/system/walinuxagent.service").unlink()
        # Debian also ships a SysV script that systemd would turn into walinuxagent.service.
        for sysv in [m / "etc/init.d/walinuxagent", *m.glob("etc/rc?.d/*walinuxagent")]:
            sysv.unlink(missing_ok=True)
        (system / "multi-user.target.wants/walinuxagent.service").unlink(missing_ok=True)
        (m / "lib/systemd/system/waagent.service").write_text(RHEL_UNIT)
        (system / "multi-user.target.wants/waagent.service").symlink_to(
            "/lib/systemd/system/waagent.service"
        )
    else:
        dropin = system / "walinuxagent.service.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "00-bcdrfix-lab-virtualization.conf").write_text(LAB_VIRT_DROPIN)
    apply_boot_faults(m, host.unit, host.faults)


def boot(host: LabHost) -> None:
    dirs = cgroup_dirs(host)
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)

    def join_cgroups() -> None:  # runs in the child before exec
        for directory in dirs:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    log = open(host.root / "console.log", "wb")
    proc = subprocess.Popen(
        [
            "systemd-nspawn",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
            "--link-journal=no",
            f"--network-namespace-path=/run/netns/{host.netns}",
            f"--machine={host.name}",
            "-D",
            str(host.merged),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=join_cgroups,
        start_new_session=True,
    )
    host.pid = proc.pid


def wait_for_ssh(hosts: Iterable[LabHost], timeout: float = 90.0) -> None:
    pending = list(hosts)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for host in list(pending):
            try:
                with socket.create_connection((host.address, 22), timeout=0.5) as sock:
                    sock.settimeout(1.0)
                    if sock.recv(4).startswith(b"SSH"):
                        pending.remove(host)
            except OSError:
                pass
        if pending:
            time.sleep(0.3)
    if pending:
        names = ", ".join(h.name for h in pending)
        raise LabError(f"sshd did not come up on {names} (see {LAB_DIR}/hosts/*/console.log)")


def ssh_command(state: LabState, host: LabHost, command: str) -> list[str]:
    return [
        "ssh",
        "-i",
        state.key,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={state.known_hosts}",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        f"root@{host.address}",
        command,
    ]


def ssh(
    state: LabState, host: LabHost, command: str, check: bool = True
) -> subprocess.CompletedProcess:
    return run(*ssh_command(state, host, command), check=check)


def wait_for_agent(state: LabState, host: LabHost, timeout: float = 60.0) -> None:
    """Wait until systemd finished booting, so that seeded runtime faults stick."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = ssh(state, host, "systemctl is-system-running", check=False)
        if proc.stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise LabError(f"{host.name}: systemd did not finish booting in {timeout:.0f}s")


def ensure_key(state: LabState) -> str:
    key = Path(state.key)
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bcdrfix-lab", "-f", str(key))
    return Path(state.key + ".pub").read_text()


# --- public API ---------------------------------------------------------------------------------


def plan_hosts(
    count: int, flavors: Iterable[str], faults: dict[str, list[str]], start: int = 1
) -> list[LabHost]:
    if not 1 <= count <= 200:
        raise LabError(f"--hosts {count}: expected 1 to 200")
    flavors = list(flavors) or list(FLAVORS)
    hosts = []
    for offset in range(count):
        index = start + offset
        flavor = flavors[offset % len(flavors)]
        name = f"lab-{flavor}-{index:02d}"
        address = f"198.18.{LAB_ID}.{10 + index}"
        hosts.append(LabHost(name, flavor, index, address, list(faults.get(name, []))))
    unknown = set(faults) - {h.name for h in hosts}
    if unknown:
        raise LabError(f"faults for unknown host(s): {', '.join(sorted(unknown))}")
    for host in hosts:
        for fault in host.faults:
            if fault not in FAULTS:
                raise LabError(f"{host.name}: unknown fault {fault!r} (known: {', '.join(FAULTS)})")
    return hosts


def start_standins(state: LabState) -> None:
    """Listeners on the bridge address standing in for wireserver, IMDS and storage."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bcdrfix.lab.standins",
            f"{state.subnet}.1",
            str(LAB_DIR / "lab.json"),
            *map(str, ALL_PORTS),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(LAB_DIR / "standins.log", "wb"),
        start_new_session=True,
    )
    state.standins_pid = proc.pid


def stop_process(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def up(
    count: int = 4,
    flavors: Iterable[str] = FLAVORS,
    faults: dict[str, list[str]] | None = None,
    log=print,
    standins: bool = True,
) -> LabState:
    """Boot ``count`` hosts; ``faults`` maps host names to fault names. Fails if a lab is up.

    ``standins``: also listen on the bridge address for the hosts' connectivity checks
    (wireserver, IMDS, storage stand-ins); tests that run their own listeners turn it off.
    """
    require_root()
    if LabState.load() is not None:
        raise LabError(f"a lab is already up ({LAB_DIR}/lab.json): run `bcdrfix lab down` first")
    hosts = plan_hosts(count, flavors, faults or {})
    rootfs = ensure_rootfs(log)
    state = LabState(hosts=hosts)
    public_key = ensure_key(state)
    Path("/proc/sys/fs/inotify/max_user_instances").write_text("4096")
    state.save()  # record first, so that `down` can clean up a half-built lab
    start = time.monotonic()
    try:
        ensure_bridge(state)
        if standins:
            start_standins(state)
            state.save()
        known: list[str] = []
        for host in hosts:
            mount_overlay(host, rootfs)
            customise(host, public_key)
            known.append(make_host_key(host))
            write_known_hosts(state, known)
            create_network(state, host)
            boot(host)
            state.save()
        wait_for_ssh(hosts, timeout=max(90.0, 5.0 * len(hosts)))  # 2 cores boot ~6 a minute
        for host in hosts:
            wait_for_agent(state, host)
            for command in runtime_fault_commands(host.unit, host.faults):
                ssh(state, host, command)
    except BaseException:
        down(log=lambda *_: None)
        raise
    log(f"lab: {len(hosts)} host(s) up in {time.monotonic() - start:.1f}s")
    return state


def down(log=print) -> None:
    """Remove every host, mount, namespace, veth, cgroup and process the lab created."""
    state = LabState.load()
    if state is None:
        log("lab: nothing to remove")
        return
    stop_process(state.standins_pid)
    for host in state.hosts:
        kill_cgroup(host)
        if host.merged.exists():
            if run("umount", str(host.merged), check=False).returncode != 0:
                run("umount", "-l", str(host.merged), check=False)
        remove_network(host)
        shutil.rmtree(host.root, ignore_errors=True)
    run("ip", "link", "del", state.bridge, check=False)
    for root in CGROUP_ROOTS:
        try:
            (root / LAB_TAG).rmdir()
        except OSError:
            pass
    Path(state.known_hosts).unlink(missing_ok=True)
    (LAB_DIR / "lab.json").unlink(missing_ok=True)
    log(f"lab: removed {len(state.hosts)} host(s)")


def status() -> list[dict]:
    state = LabState.load()
    if state is None:
        return []
    rows = []
    for host in state.hosts:
        alive = False
        if host.pid:
            try:
                os.kill(host.pid, 0)
                alive = True
            except ProcessLookupError:
                pass
        rows.append(
            {
                "name": host.name,
                "flavor": host.flavor,
                "address": host.address,
                "unit": host.unit,
                "running": alive,
                "faults": host.known_faults,
            }
        )
    return rows
