"""Fix by error code: run the controls the catalog maps to an error code, through pyinfra.

Two ways in, one code path (``fix_error_code``):

* plain pyinfra, with the project's inventory and group-data conventions::

      pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=151099

* ``bcdrfix fix INVENTORY --code 151099``, which validates everything before any host is
  contacted and then runs pyinfra in-process (``run_fix``).

Why in-process through pyinfra's API rather than ``pyinfra --json`` in a subprocess: the report
needs each host's findings (already right / changed / needs approval, with their summaries),
which ``apply_controls`` returns as Python objects while the deploy is prepared. pyinfra's JSON
output only carries operation names and commands, so a subprocess would have to re-derive the
findings from operation names. In-process, the same ``fix_error_code`` runs per host and its
return value is kept; operation results come from pyinfra's own state afterwards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bcdrfix.catalog import CatalogError, CodeNotFound, Entry, load_catalog, step_as_dict
from bcdrfix.controls import ENGINE, REGISTRY, Status, apply_controls, load_settings
from bcdrfix.core.apply import platform_of, select_controls
from bcdrfix.core.connection import close_connection
from bcdrfix.inventory.load import load_inventory

ERROR_CODE_KEY = "error_code"  # host data key: --data error_code=CODE


class FixInputError(ValueError):
    """Bad input found before any host was contacted; the message is one line."""


# --- resolving the code ---------------------------------------------------------------------


def resolve_for_fix(text: str) -> list[Entry]:
    """The catalog entries a fix for ``text`` covers: one code, or an ``a/b`` pair of codes.

    A message fragment shared by several codes is refused: their fixes differ.
    """
    match = load_catalog(REGISTRY).lookup(str(text))
    if match.how == "message" and len(match.entries) > 1:
        raise FixInputError(
            f"{text!r} is the message of {len(match.entries)} codes ({', '.join(match.codes)}): "
            "pass one of them with --code"
        )
    return list(match.entries)


def control_ids_for(entries: Iterable[Entry]) -> list[str]:
    """Controls of every cause of every entry (both platforms), in catalog order, each once."""
    ids: list[str] = []
    for entry in entries:
        for cid in entry.control_ids():
            if cid not in ids:
                ids.append(cid)
    return ids


def fix_error_code(code: str | None = None):
    """Deploy body: check and fix the controls of the host's ``error_code`` on the current host.

    Returns ``apply_controls``' findings, ``[(Control, Finding), ...]``.

    .. code:: python

        # deploys/fix_error_code.py
        from bcdrfix.fix.by_code import fix_error_code
        fix_error_code()
    """
    from pyinfra import host
    from pyinfra.api.exceptions import PyinfraError

    text = code if code is not None else host.data.get(ERROR_CODE_KEY)
    if text is None or str(text).strip() == "":
        raise PyinfraError("no error code: pass --data error_code=CODE (bcdrfix codes lists them)")
    try:
        entries = resolve_for_fix(str(text))
    except (CodeNotFound, FixInputError, CatalogError) as exc:
        raise PyinfraError(str(exc)) from None
    return apply_controls(control_ids_for(entries))


# --- the report -------------------------------------------------------------------------------

# What happened to one control on one host (kebab-case in JSON, like the audit's statuses;
# the terminal shows them with spaces).
ALREADY_RIGHT = "already-right"
CHANGED = "changed"
CHANGED_REST_BY_HAND = "changed-rest-by-hand"  # the fix did its part and left work to a person
WOULD_CHANGE = "would-change"
NOT_CHANGED = "not-changed"  # the check fails but its fix made no change (it needs an opt-in)
NEEDS_APPROVAL = "needs-approval"
NOT_APPLICABLE = "not-applicable"
FAILED = "failed"
ERROR = "error"
NOT_RUN = "not-run"

# Exit status, the same scheme as the audit's (README, "Exit status"): 0 all right, 1 something
# waits for you (the audit's findings), 2 a host could not be fixed or reached (or bad input).
EXIT_OK, EXIT_ATTENTION, EXIT_FAILED = 0, 1, 2

PROBLEMS = (FAILED, ERROR, NOT_RUN)
ATTENTION = (NEEDS_APPROVAL, NOT_CHANGED, WOULD_CHANGE, CHANGED_REST_BY_HAND)


@dataclass
class ControlOutcome:
    control: str
    title: str
    outcome: str
    summary: str
    steps: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class HostReport:
    name: str
    platform: str
    reachable: bool = True
    error: str | None = None
    outcomes: list[ControlOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def failed(self) -> bool:
        return (
            not self.reachable
            or self.error is not None
            or any(o.outcome in PROBLEMS for o in self.outcomes)
        )


@dataclass
class FixReport:
    query: str
    codes: list[str]
    dry: bool
    hosts: list[HostReport]
    control_plane: list[dict]

    @property
    def exit_code(self) -> int:
        """0 all right or fixed; 1 something waits for you; 2 a host failed or was unreachable."""
        if any(h.failed for h in self.hosts):
            return EXIT_FAILED
        if any(o.outcome in ATTENTION for h in self.hosts for o in h.outcomes):
            return EXIT_ATTENTION
        return EXIT_OK

    def as_dict(self) -> dict:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


# --- the in-process run -------------------------------------------------------------------------


def parse_data(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, with values parsed the way pyinfra's ``--data`` parses them."""
    from pyinfra_cli.util import parse_cli_arg

    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FixInputError(f"--data {item!r}: expected KEY=VALUE")
        data[key.strip()] = parse_cli_arg(value)
    return data


def _recorder(progress: Callable[[str], None]):
    """A pyinfra state callback handler that records why a host could not be reached and tells
    ``progress`` (one line per event: connected, unreachable, each operation's outcome)."""
    from pyinfra.api.state import BaseStateCallback

    def op_name(state, op_hash) -> str:
        meta = state.op_meta.get(op_hash)
        return sorted(meta.names)[0] if meta is not None and meta.names else "operation"

    class Recorder(BaseStateCallback):
        def __init__(self) -> None:
            self.connect_errors: dict[str, str] = {}

        def host_connect(self, state, host) -> None:  # type: ignore[override]
            progress(f"{host.name}: connected")

        def host_connect_error(self, state, host, error) -> None:  # type: ignore[override]
            args = getattr(error, "args", None) or [error]
            self.connect_errors[host.name] = " ".join(str(args[0]).split())
            progress(f"{host.name}: unreachable ({self.connect_errors[host.name]})")

        def operation_host_success(self, state, host, op_hash, retry_count=0) -> None:  # type: ignore[override]
            # the operation's result is recorded after this callback: the table tells changed
            progress(f"{host.name}: {op_name(state, op_hash)}: done")

        def operation_host_error(self, state, host, op_hash, retry_count=0, max_retries=0) -> None:  # type: ignore[override]
            progress(f"{host.name}: {op_name(state, op_hash)}: failed")

    return Recorder()


def run_fix(
    inventory_path: str,
    code: str,
    *,
    limit: Iterable[str] = (),
    dry: bool = False,
    allow_disruptive: bool = False,
    data: Mapping[str, Any] | None = None,
    group_data: Iterable[str] = (),
    cwd: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> FixReport:
    """Validate, connect, prepare ``fix_error_code`` on every host, run unless ``dry``, report.

    ``progress`` gets one line per step as it happens (connecting, each host checked, each
    operation's outcome per host); the lines carry host names, which are untrusted.
    Raises ``FixInputError``/``CodeNotFound``/``SettingsError`` before any host is contacted.
    """
    say = progress or (lambda line: None)
    import gevent
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops
    from pyinfra.api.state import StateStage
    from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state

    entries = resolve_for_fix(code)
    control_ids = control_ids_for(entries)
    overrides = {**(data or {}), ERROR_CODE_KEY: code}
    if allow_disruptive:
        overrides["bcdrfix_allow_disruptive"] = True
    config = Config()
    config.FAIL_PERCENT = None  # an unreachable or failing host fails alone
    state = State(check_for_changes=False)
    loaded = load_inventory(  # initialises the state with the selected hosts; no connection yet
        inventory_path,
        limit=limit,
        cwd=cwd,
        override_data=overrides,
        group_data=group_data,
        state=state,
        config=config,
    )
    inventory = loaded.inventory
    chosen = set(loaded.selected)
    selected = [h for h in inventory if h in chosen]  # in inventory order
    recorder = _recorder(say)
    state.add_callback_handler(recorder)

    # Everything that can be checked without a host, for every host, before contacting any.
    platforms: dict[str, str] = {}
    hosts = []  # the hosts that have something to check: only these are contacted
    for host in selected:
        settings = load_settings(host.data, host.name)
        platform = platform_of(host)
        platforms[host.name] = platform
        if select_controls(REGISTRY, control_ids, platform, settings):
            if platform not in ENGINE.observers:
                raise FixInputError(
                    f"host {host.name}: no {platform} support is installed in bcdrfix"
                )
            hosts.append(host)
    reports = {h.name: HostReport(h.name, platforms[h.name]) for h in selected}
    for host in selected:
        if host not in hosts:
            reports[host.name].outcomes.append(
                ControlOutcome(
                    "-",
                    "-",
                    NOT_APPLICABLE,
                    f"no {platforms[host.name]} control covers {', '.join(e.code for e in entries)} "
                    "(or the host skips them); host not contacted",
                )
            )
    steps: list[dict[str, Any]] = []  # the Azure steps for the platforms of the selected hosts
    for entry in entries:
        for step in entry.steps():
            if step.id not in {s["id"] for s in steps} and set(step.platforms) & set(
                platforms.values()
            ):
                steps.append(step_as_dict(step))
    if not hosts:
        return FixReport(code, [e.code for e in entries], dry, list(reports.values()), steps)

    state.limit_hosts = hosts
    say(f"checking {len(hosts)} host(s) for {', '.join(e.code for e in entries)}")
    results: dict[str, list] = {}
    pyinfra_logger = logging.getLogger("pyinfra")
    quiet = logging.NullHandler()  # failures are reported below, not as pyinfra log lines
    pyinfra_logger.addHandler(quiet)
    previous_progress = os.environ.get("PYINFRA_PROGRESS")
    os.environ["PYINFRA_PROGRESS"] = "off"
    try:
        with ctx_state.use(state), ctx_inventory.use(inventory), ctx_config.use(config):
            state.set_stage(StateStage.Connect)
            try:
                connect_all(state)
            except PyinfraError:
                pass  # "No hosts remaining!": every host is reported unreachable below

            state.set_stage(StateStage.Prepare)

            def prepare(host):
                with ctx_config.use(state.config.copy()), ctx_host.use(host):
                    return fix_error_code(code)

            active = [h for h in hosts if h in state.active_hosts]
            greenlets = {h: state.pool.spawn(prepare, h) for h in active}
            gevent.joinall(list(greenlets.values()))
            for host, greenlet in greenlets.items():
                if greenlet.successful():
                    results[host.name] = greenlet.value or []
                    _say_checked(say, host.name, results[host.name])
                else:
                    say(f"{host.name}: error ({_one_line(greenlet.exception)})")
                    reports[host.name].error = _one_line(greenlet.exception)
                    try:
                        state.fail_hosts({host})
                    except PyinfraError:
                        pass

            if not dry and state.active_hosts:
                say(f"changing {len(state.active_hosts)} host(s)")
                state.set_stage(StateStage.Execute)
                try:
                    run_ops(state)
                except PyinfraError:
                    pass  # per-host failures are read from the operation results
            state.set_stage(StateStage.Disconnect)
            disconnect_all(state)
    finally:
        for host in hosts:  # pyinfra's disconnect leaves SSH clients open
            close_connection(host)
        pyinfra_logger.removeHandler(quiet)
        if previous_progress is None:
            os.environ.pop("PYINFRA_PROGRESS", None)
        else:
            os.environ["PYINFRA_PROGRESS"] = previous_progress

    for host in hosts:
        report = reports[host.name]
        if host.name in recorder.connect_errors or host not in state.activated_hosts:
            report.reachable = False
            report.error = recorder.connect_errors.get(host.name, "could not connect")
            continue
        ops = _host_operations(state, host)
        for control, finding in results.get(host.name, []):
            report.outcomes.append(_outcome(control, finding, ops, dry))
    return FixReport(code, [e.code for e in entries], dry, list(reports.values()), steps)


def _say_checked(say: Callable[[str], None], name: str, findings: list) -> None:
    counts: dict[str, int] = {}
    for _, finding in findings:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    say(
        f"{name}: checked: {', '.join(f'{n} {status}' for status, n in counts.items()) or 'nothing'}"
    )


def _one_line(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _host_operations(state, host) -> list[tuple[str, Any]]:
    """(operation name, OperationMeta) of every operation prepared for the host, in order."""
    ops = []
    for op_hash, op_data in state.ops.get(host, {}).items():
        names = sorted(state.op_meta[op_hash].names) if op_hash in state.op_meta else []
        ops.append((names[0] if names else op_hash, op_data.operation_meta))
    return ops


def _outcome(control, finding, ops, dry: bool) -> ControlOutcome:
    prefix = f"{control.id}: "
    # the operations that carry its steps on this host (its own, and a handler it may share)
    mine = [(name.removeprefix(prefix), meta) for name, meta in ops if name in finding.operations]
    # remediate names its "nothing to run" notes after the status; they are not steps
    steps = [name for name, _ in mine if name not in {s.value for s in Status}]
    simple = {
        Status.PASS: ALREADY_RIGHT,
        Status.NOT_APPLICABLE: NOT_APPLICABLE,
        Status.NEEDS_APPROVAL: NEEDS_APPROVAL,
        Status.ERROR: ERROR,
    }
    result = ControlOutcome(control.id, control.title, "", finding.summary, [])
    if finding.status in simple:
        result.outcome = simple[finding.status]
        return result
    result.steps = list(finding.steps) or steps  # this host's own step names when known
    if control.fix is None:
        result.outcome = NOT_CHANGED
    elif dry:
        result.outcome = WOULD_CHANGE
    elif not mine or not all(meta.is_complete() for _, meta in mine):
        result.outcome = NOT_RUN
    elif any(meta.did_error() for _, meta in mine):
        result.outcome = FAILED
        errors = [line for _, meta in mine if meta.did_error() for line in meta.stderr_lines]
        result.error = " ".join(" ".join(errors[-3:]).split()) or "operation failed"
    elif any(meta.did_change() for _, meta in mine):
        result.outcome = CHANGED_REST_BY_HAND if finding.by_hand else CHANGED
        if finding.by_hand:
            result.summary = f"{finding.summary}; by hand: {'; '.join(finding.by_hand)}"
    else:
        result.outcome = NOT_CHANGED
    return result
