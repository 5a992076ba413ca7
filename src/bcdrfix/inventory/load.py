"""Load pyinfra inventories the way the ``pyinfra`` command does, select hosts, shard fleets.

The one loader and ``--limit`` rule of ``bcdrfix audit``, ``bcdrfix fix`` and
``bcdrfix inventory hosts`` (and of anyone who wants one slice of a fleet for ``pyinfra``)::

    loaded = load_inventory("inventories/azure.py", limit=["tag_backup_policy_gold"], shard="2/4")
    loaded.selected        # the pyinfra Host objects of this slice
    loaded.not_contacted   # VMs the inventory reported but that must not be contacted

Sharding is deterministic: the selected host names are sorted and host ``i`` goes to shard
``i % N + 1``. Every runner that loads the same inventory gets the same split, each host lands
in exactly one shard and the shards differ in size by at most one host.

Inventory files can report machines that exist but must not be contacted (a stopped VM, a VM
without an address) with :func:`report_not_contacted`; they then appear in audit reports
without being connected to. Under the ``pyinfra`` command the call is harmless.

Every problem with the inventory raises :class:`InventoryError` with one line, before any
host is contacted.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from bcdrfix.core.connection import use_prompt_transport
from bcdrfix.core.entry_points import entry_points_read_once
from bcdrfix.inventory.ansible import (
    AnsibleInventoryError,
    looks_like_ansible_inventory,
    make_pyinfra_inventory,
)


class InventoryError(ValueError):
    """The inventory cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True)
class NotContacted:
    """A machine the inventory knows about but that must not be contacted."""

    name: str
    reason: str
    # "not-running" (a stopped VM: nothing to audit, not an error) or "cannot-contact"
    # (it runs but has no address or no connector: it could not be audited).
    kind: str = "not-running"
    groups: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)


NOT_RUNNING = "not-running"
CANNOT_CONTACT = "cannot-contact"
KINDS = (NOT_RUNNING, CANNOT_CONTACT)
_NOT_CONTACTED: dict[str, NotContacted] = {}


def report_not_contacted(
    name: str, reason: str, kind: str = "not-running", groups: Iterable[str] = (), **info: Any
) -> None:
    """Record a machine from an inventory file that must not be contacted.

    + name: the machine's name (as it would appear in the inventory)
    + reason: one line for people, for example ``VM deallocated``
    + kind: ``not-running`` (nothing to audit) or ``cannot-contact`` (could not be audited)
    + groups: inventory groups it would belong to (so that ``--limit GROUP`` still reports it)

    .. code:: python

        report_not_contacted("sql-02", "VM deallocated", groups=["windows", "rg_prod"])
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    _NOT_CONTACTED[name] = NotContacted(name, reason, kind, tuple(groups), dict(info))


# --- shards and limits ------------------------------------------------------------------------

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)``; shards are numbered from 1."""
    if text is None or text == "":
        return None
    match = _SHARD.match(str(text))
    if not match:
        raise InventoryError(f"--shard {text!r}: expected K/N, for example 2/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise InventoryError(f"--shard {text!r}: K must be between 1 and N (N >= 1)")
    return index, count


def shard_names(names: Iterable[str], shard: tuple[int, int] | None) -> list[str]:
    """The names of shard ``(K, N)``, in sorted order (all of them when ``shard`` is None)."""
    ordered = sorted(set(names))
    if shard is None:
        return ordered
    index, count = shard
    return [name for position, name in enumerate(ordered) if position % count == index - 1]


def split_patterns(patterns: Iterable[str] | None) -> list[str]:
    """``--limit a,b --limit c`` -> ``["a", "b", "c"]``."""
    return [p.strip() for item in patterns or () for p in str(item).split(",") if p.strip()]


def matches(name: str, groups: Iterable[str], patterns: Sequence[str]) -> bool:
    """pyinfra's ``--limit`` rule: a pattern is a group name or a glob on the host name."""
    groups = set(groups)
    return any(pattern in groups or fnmatch(name, pattern) for pattern in patterns)


# --- loading ----------------------------------------------------------------------------------


@dataclass
class LoadedInventory:
    path: str
    inventory: Any  # pyinfra.api.Inventory
    state: Any  # pyinfra.api.State, initialised with the selected hosts as its limit
    selected: list  # pyinfra Host objects to contact
    not_contacted: list[NotContacted]
    limit: list[str]
    shard: tuple[int, int] | None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _describe_load_error(path: str, exc: BaseException) -> str:
    # pyinfra wraps errors of user code in UnexpectedExternalError(.exception, .filename).
    original = getattr(exc, "exception", None) or exc.__cause__ or exc
    if isinstance(original, SyntaxError):
        return f"inventory {path}: syntax error at line {original.lineno}: {original.msg}"
    if isinstance(original, SystemExit):
        return (
            _one_line(original)
            if str(original.code) not in ("None", "0")
            else f"inventory {path} exited"
        )
    where = ""
    for frame in traceback.extract_tb(original.__traceback__):
        if Path(frame.filename).resolve() == Path(path).resolve():
            where = f" line {frame.lineno}:"
    return f"inventory {path}:{where} {type(original).__name__}: {_one_line(original)}"


def host_address(host: Any) -> tuple[str, str | None]:
    """(connector, address) of a pyinfra host; address None means it has none."""
    connector = host.connector_cls.__name__.lower().replace("connector", "") or "ssh"
    data = host.data
    for key in (f"{connector}_hostname",):
        if key in data.dict():
            value = data.get(key)
            return connector, (str(value).strip() or None) if value is not None else None
    name = host.name
    if name.startswith("@"):
        return connector, name  # an inventory connector (@local, @docker/...) knows its target
    return connector, name


def validate_addresses(hosts: Iterable[Any], path: str) -> None:
    for host in hosts:
        connector, address = host_address(host)
        if connector not in ("ssh", "winrm"):
            continue
        if address is None or not address.strip() or any(ch.isspace() for ch in address):
            raise InventoryError(
                f"inventory {path}: host {host.name} has no address ({connector}_hostname is "
                f"{address!r})"
            )


def check_no_duplicates(hosts: Iterable[Any], path: str) -> None:
    """A host listed twice in one group (two VMs with one name): pyinfra would merge them.

    pyinfra lists a host's group once per time the host appears in it; hosts made by an inventory
    connector (``@docker/...``) get their groups listed twice by pyinfra itself, so they are left
    out.
    """
    for host in hosts:
        if host.name.startswith("@"):
            continue
        seen: set[str] = set()
        for group in host.groups:
            if group in seen:
                raise InventoryError(
                    f"inventory {path}: host {host.name} is listed twice in group {group} "
                    "(host names must be unique)"
                )
            seen.add(group)


def select(
    hosts: Iterable[Any], not_contacted: Iterable[NotContacted], patterns: Sequence[str], path: str
):
    """The hosts and machines ``--limit`` patterns select; a pattern that matches none is an error."""
    hosts, not_contacted = list(hosts), list(not_contacted)
    if not patterns:
        return hosts, not_contacted
    for pattern in patterns:
        if not any(matches(m.name, m.groups, [pattern]) for m in [*hosts, *not_contacted]):
            raise InventoryError(
                f"--limit {pattern}: matches no host or group of the inventory {path}"
            )
    return (
        [h for h in hosts if matches(h.name, h.groups, patterns)],
        [m for m in not_contacted if matches(m.name, m.groups, patterns)],
    )


def _name_of(entry: Any) -> Any:
    return entry[0] if isinstance(entry, tuple) else entry


def _group_hosts(value: Any) -> list:
    """The host entries of an inventory group: ``[names]`` or ``([names], data)``."""
    hosts = value[0] if isinstance(value, tuple) else value
    return list(hosts)


def _keeps_its_name(name: Any) -> bool:
    """True when pyinfra's Host gets exactly this name (so selecting by it beforehand is exact):
    a plain name, or ``@winrm/NAME`` (bcdrfix's connector keeps it); other ``@connector/...``
    entries may expand into other names."""
    if not isinstance(name, str):
        return False
    if not name.startswith("@"):
        return True
    return name.startswith("@winrm/") and "," not in name


def preselect_groups(
    groups: Mapping[str, Any],
    file_group: str,
    patterns: Sequence[str],
    shard: tuple[int, int] | None,
    not_contacted: Iterable[NotContacted],
) -> tuple[dict[str, Any], set[str]] | None:
    """The inventory file's groups cut down to this selection (limit, then shard) and the names
    kept (contacted or not), or None.

    pyinfra builds every Host of an inventory in quadratic time (each host scans the whole
    inventory: 8,000 hosts take seconds, 100,000 do not finish in 5 minutes), so a shard runner
    selects its hosts by name first and lets pyinfra build only those. The selection is the one
    the full build gives: ``--limit`` sees the same groups (the file's groups and the file-name
    group), the shard is taken over the same sorted names. None, and everything is built as
    before, when an entry could be renamed by its connector, a name is listed twice in a group,
    or a ``--limit`` pattern matches nothing (the full build reports those with its own line).
    """
    host_groups: dict[str, list[str]] = {}
    for group, value in groups.items():
        for entry in _group_hosts(value):
            name = _name_of(entry)
            if not _keeps_its_name(name):
                return None
            names = host_groups.setdefault(name, [])
            if group != "all":
                if group in names:
                    return None
                names.append(group)
    if file_group and file_group not in groups:
        for names in host_groups.values():
            names.append(file_group)
    not_contacted = list(not_contacted)
    for pattern in patterns:
        if not any(matches(n, g, [pattern]) for n, g in host_groups.items()) and not any(
            matches(m.name, m.groups, [pattern]) for m in not_contacted
        ):
            return None
    selected = [n for n, g in host_groups.items() if not patterns or matches(n, g, patterns)]
    others = [m.name for m in not_contacted if not patterns or matches(m.name, m.groups, patterns)]
    keep = set(shard_names(selected + others, shard))
    cut: dict[str, Any] = {}
    for group, value in groups.items():
        entries = [entry for entry in _group_hosts(value) if _name_of(entry) in keep]
        cut[group] = (entries, value[1]) if isinstance(value, tuple) else entries
    return cut, keep


@contextlib.contextmanager
def _groups_read_as(groups: Mapping[str, Any]) -> Iterator[None]:
    """Let pyinfra's inventory builder use already-read groups instead of running the file again.

    ``make_inventory`` (group data, override data, the file-name group) stays what the
    ``pyinfra`` command uses; only its reading of the inventory file is replaced.
    """
    from pyinfra_cli import inventory as cli_inventory  # noqa: PLC0415 - patches gevent on import

    original = cli_inventory._get_groups_from_filename
    cli_inventory._get_groups_from_filename = lambda _filename: groups
    try:
        yield
    finally:
        cli_inventory._get_groups_from_filename = original


def load_inventory(
    path: str,
    limit: Iterable[str] | None = None,
    shard: str | tuple[int, int] | None = None,
    cwd: str | None = None,
    override_data: Mapping[str, Any] | None = None,
    group_data: Iterable[str] = (),
    state: Any = None,
    config: Any = None,
) -> LoadedInventory:
    """Load an inventory with pyinfra's own loader and select the hosts to contact.

    The one loader of ``bcdrfix audit``, ``bcdrfix fix`` and ``bcdrfix inventory hosts``:
    ``path`` is what ``pyinfra INVENTORY ...`` accepts (a file, ``@local``, ``a,b``). Group data
    comes from ``group_data/`` in ``cwd`` (default: the current directory), in the inventory's
    folder and in ``group_data`` folders, exactly as for ``pyinfra``. ``state``/``config`` are
    the pyinfra ones to initialise (new ones by default). Nothing is contacted.
    """
    from pyinfra.api import Config, State, connectors
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state
    from pyinfra_cli.inventory import (  # noqa: PLC0415 - patches gevent on import
        _get_groups_from_filename,
        make_inventory,
    )

    ansible = looks_like_ansible_inventory(path)  # INI/YAML: read by `ansible-inventory`
    looks_like_file = path.endswith(".py") or os.sep in path
    if looks_like_file and not ansible and not Path(path).is_file():
        raise InventoryError(f"inventory {path}: no such file")
    group_data = list(group_data)
    for directory in group_data:
        if not Path(directory).is_dir():
            raise InventoryError(f"--group-data {directory}: no such directory")
    shard_tuple = parse_shard(shard) if isinstance(shard, (str, type(None))) else shard
    patterns = split_patterns(limit)
    cwd = cwd or os.getcwd()

    _NOT_CONTACTED.clear()
    state = state if state is not None else State()
    state.cwd = cwd
    ctx_state.set(state)
    config = config if config is not None else Config()
    ctx_config.set(config)
    preselected = None
    defines_hosts = True
    # pyinfra reads its connectors' entry points twice per Inventory, and its CLI's loader
    # builds two: one read serves them all.
    with entry_points_read_once(connectors):
        try:
            if ansible:  # read by `ansible-inventory` (bcdrfix.inventory.ansible)
                inventory = make_pyinfra_inventory(path, override_data=dict(override_data or {}))
            else:
                if Path(path).is_file():
                    # Run the inventory file once; select this slice's hosts before pyinfra builds them.
                    groups = _get_groups_from_filename(path)
                    defines_hosts = any(_group_hosts(value) for value in groups.values())
                    preselected = preselect_groups(
                        groups,
                        Path(path).name.rsplit(".", 1)[0],
                        patterns,
                        shard_tuple,
                        _NOT_CONTACTED.values(),
                    )
                    reading: contextlib.AbstractContextManager = _groups_read_as(
                        groups if preselected is None else preselected[0]
                    )
                else:
                    reading = contextlib.nullcontext()
                with reading:
                    inventory = make_inventory(
                        path,
                        override_data=dict(override_data or {}),
                        cwd=cwd,
                        group_data_directories=group_data,
                    )
        except AnsibleInventoryError as exc:
            raise InventoryError(str(exc)) from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code is one line
            if isinstance(exc, PyinfraError):
                raise InventoryError(f"inventory {path}: {_one_line(exc)}") from None
            raise InventoryError(_describe_load_error(path, exc)) from None
    ctx_inventory.set(inventory)
    not_contacted = list(_NOT_CONTACTED.values())
    _NOT_CONTACTED.clear()

    hosts = list(inventory)
    if not not_contacted and (not hosts if preselected is None else not defines_hosts):
        raise InventoryError(f"inventory {path}: defines no hosts")
    check_no_duplicates(hosts, path)
    hosts, not_contacted = select(
        hosts, not_contacted, patterns if preselected is None else [], path
    )
    # Shard over every machine (contacted or not) so that each one is reported by one runner
    # (done by name already when the slice was selected before pyinfra built the hosts).
    if preselected is not None:
        keep = preselected[1]
    else:
        keep = set(
            shard_names([h.name for h in hosts] + [m.name for m in not_contacted], shard_tuple)
        )
    hosts = sorted((h for h in hosts if h.name in keep), key=lambda h: h.name)
    not_contacted = sorted((m for m in not_contacted if m.name in keep), key=lambda m: m.name)
    validate_addresses(hosts, path)

    if len(inventory) == 0:
        config.PARALLEL = 1  # pyinfra sizes its pool from the inventory; a pool needs one slot
    state.init(inventory, config, initial_limit=hosts)
    use_prompt_transport(hosts)
    return LoadedInventory(path, inventory, state, hosts, not_contacted, patterns, shard_tuple)
