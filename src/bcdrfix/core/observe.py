"""Batched observation of a Linux host: one command, one round trip, every probe.

pyinfra runs one command per fact. At fleet scale the round trips are the cost, so bcdrfix
joins the small shell snippets ("probes") that the selected controls need into a single POSIX
``sh`` script. Each probe prints a delimited section; its parser turns the section into plain
data. Controls then decide from that data without talking to the host again.

Probes may use the variables the preamble sets:

* ``BCDR_UNIT``: the agent's systemd unit (``walinuxagent.service`` or ``waagent.service``),
  detected from what is loaded on the host, empty when there is none;
* ``BCDR_HAS_SYSTEMD``: ``1`` when systemd is PID 1.

File contents travel base64-encoded so that any byte survives the trip. Every file is read
through ``bcdr_file``, which reads at most ``BCDR_MAX_FILE_BYTES`` (``bcdrfix_max_file_bytes``):
a larger file comes back as ``Unreadable`` and the controls reading it report an error instead
of editing it. A probe whose output cannot be parsed is ``Unreadable`` too: one host's data
never raises out of the observation (that would end the run for every host).

Every process a probe starts costs the host about a millisecond of CPU: probes use shell builtins
where they can, and a command substitution whose command has a redirection (``2>/dev/null``, a
here-document) is written ``$(exec CMD 2>/dev/null)``: without ``exec``, dash forks twice.
"""

from __future__ import annotations

import base64
import io
import shlex
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyinfra.api import FactBase

from bcdrfix.core.connection import harden_connection

SECTION = "@@bcdrfix-probe "
END = "@@bcdrfix-probe-end "  # a probe ran to its end (no fatal shell error cut it short)


class Unreadable(dict[str, str]):
    """What a probe returns when bcdrfix cannot use the host's data; ``reason`` is one line.

    A mapping, so that parsers keep their declared types; ``core.apply.evaluate`` turns a
    control whose probes returned one into an error finding before its check runs.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(bcdrfix_unreadable=reason)

    @property
    def reason(self) -> str:
        return self["bcdrfix_unreadable"]


@dataclass(frozen=True)
class Probe:
    name: str
    script: str
    parse: Callable[[list[str]], Any]


PROBES: dict[str, Probe] = {}


def probe(name: str, script: str) -> Callable[[Callable[[list[str]], Any]], Callable]:
    """Register a probe: ``@probe("name", "sh snippet")`` on its parser."""

    def wrap(parse: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
        if name in PROBES:
            raise ValueError(f"probe {name} defined twice")
        PROBES[name] = Probe(name, script.strip(), parse)
        return parse

    return wrap


PREAMBLE = r"""
export LC_ALL=C
BCDR_IFS=$IFS  # each probe starts with these (build_script)
BCDR_NL='
'
BCDR_HAS_SYSTEMD=0
[ -d /run/systemd/system ] && BCDR_HAS_SYSTEMD=1
# One `systemctl show` for every unit and property the probes read (bcdr_show, bcdr_get).
BCDR_SHOW_PROPS='-p Id -p LoadState -p ActiveState -p SubState -p UnitFileState -p Restart
 -p RestartUSec -p MainPID -p FragmentPath -p DropInPaths -p NRestarts -p Environment
 -p EnvironmentFiles'
BCDR_SHOW_UNITS='walinuxagent.service waagent.service systemd-networkd.service NetworkManager.service'
case " $BCDR_SHOW_UNITS " in
  *" ${BCDR_UNIT_OVERRIDE:-} "*) ;;
  *) BCDR_SHOW_UNITS="$BCDR_UNIT_OVERRIDE $BCDR_SHOW_UNITS" ;;
esac
BCDR_SHOW=
BCDR_SYSTEMCTL=0
command -v systemctl >/dev/null 2>&1 && BCDR_SYSTEMCTL=1
if [ "$BCDR_SYSTEMCTL" = 1 ]; then
  # shellcheck disable=SC2086  # word splitting of the property and unit lists is intended
  BCDR_SHOW=$(exec systemctl show $BCDR_SHOW_PROPS -- $BCDR_SHOW_UNITS 2>/dev/null)
fi
# bcdr_block UNIT: that unit's lines of BCDR_SHOW in bcdr_b (one block per unit, in order,
# blank-line separated); when the blocks do not add up, that unit's own `systemctl show`.
bcdr_block() {
  bcdr_r="$BCDR_SHOW$BCDR_NL$BCDR_NL"; bcdr_b=; bcdr_n=0
  for bcdr_u in $BCDR_SHOW_UNITS; do
    case "$bcdr_r" in *"$BCDR_NL$BCDR_NL"*) ;; *) bcdr_n=1; break ;; esac
    bcdr_b=${bcdr_r%%"$BCDR_NL$BCDR_NL"*}; bcdr_r=${bcdr_r#*"$BCDR_NL$BCDR_NL"}
    [ "$bcdr_u" = "$1" ] && break
    bcdr_b=
  done
  if [ "$BCDR_SYSTEMCTL" = 1 ] && { [ -z "$bcdr_b" ] || [ "$bcdr_n" = 1 ]; }; then
    # shellcheck disable=SC2086
    bcdr_b=$(exec systemctl show $BCDR_SHOW_PROPS -- "$1" 2>/dev/null)
  fi
}
# bcdr_show UNIT [PROPERTY...]: the unit's Key=Value lines (only these properties), no forks.
bcdr_show() {
  bcdr_block "$1"; shift
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  for bcdr_l in $bcdr_b; do
    [ $# -eq 0 ] && { printf '%s\n' "$bcdr_l"; continue; }
    for bcdr_p; do case "$bcdr_l" in "$bcdr_p="*) printf '%s\n' "$bcdr_l"; break ;; esac; done
  done
  IFS=$bcdr_ifs; set +f
}
# bcdr_get UNIT PROPERTY: its value in BCDR_V (empty when unknown), no forks.
bcdr_get() {
  bcdr_block "$1"; BCDR_V=
  case "$BCDR_NL$bcdr_b" in
    *"$BCDR_NL$2="*)
      BCDR_V=$BCDR_NL$bcdr_b; BCDR_V=${BCDR_V#*"$BCDR_NL$2="}; BCDR_V=${BCDR_V%%"$BCDR_NL"*} ;;
  esac
}
BCDR_UNIT=${BCDR_UNIT_OVERRIDE:-}
if [ -z "$BCDR_UNIT" ] && [ "$BCDR_HAS_SYSTEMD" = 1 ]; then
  for u in walinuxagent.service waagent.service; do
    bcdr_get "$u" LoadState
    if [ "$BCDR_V" = loaded ]; then bcdr_get "$u" Id; BCDR_UNIT=$BCDR_V; break; fi
  done
fi
# bcdr_procs: in BCDR_PROCS, "/proc/PID/cmdline:LINE" for every line of a command line that
# names the agent, NULs between the arguments turned into spaces (command substitution drops
# NULs): one grep over /proc for every probe that reads it (agent_processes, agent_version).
# Left out: the processes running this script (in BCDR_OBSERVER), whose command line is its text,
# which names the agent's options: this shell, its subshells, sudo and sudo's monitor (use_pty),
# each known by a line holding the section marker.
BCDR_PROCS_READ=0
bcdr_procs() {
  [ "$BCDR_PROCS_READ" = 1 ] && return
  BCDR_PROCS_READ=1; BCDR_OBSERVER=; bcdr_all=$(grep -a -E 'waagent|WALinuxAgent|@@bcdrfix-probe' \
    /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ')
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  for bcdr_l in $bcdr_all; do
    case "$bcdr_l" in *@@bcdrfix-probe*)
      bcdr_l=${bcdr_l#/proc/}; bcdr_l=${bcdr_l%%/*}
      case " $BCDR_OBSERVER " in *" $bcdr_l "*) ;; *) BCDR_OBSERVER="$BCDR_OBSERVER $bcdr_l" ;; esac
    esac
  done
  BCDR_PROCS=
  for bcdr_l in $bcdr_all; do
    bcdr_p=${bcdr_l#/proc/}; bcdr_p=${bcdr_p%%/*}
    case "$BCDR_OBSERVER " in *" $bcdr_p "*) ;; *) BCDR_PROCS="$BCDR_PROCS$bcdr_l$BCDR_NL" ;; esac
  done
  IFS=$bcdr_ifs; set +f; BCDR_PROCS=${BCDR_PROCS%"$BCDR_NL"}; BCDR_OBSERVER=${BCDR_OBSERVER# }
}
# bcdr_file PATH: "missing", or a line "@@bcdrfix-file PATH" that the controller replaces with
# the file as the observation's ONE tar read it at the end (bcdr_files, no process per file):
# "file MODE OWNER GROUP SIZE" and the content in base64, "toolarge SIZE LIMIT", or "notread
# REASON". Without tar (or for a path with a newline), the file's own stat, head and base64 now.
BCDR_FILES=
BCDR_TAR=0
command -v tar >/dev/null 2>&1 && BCDR_TAR=1
bcdr_file() {
  if [ ! -f "$1" ]; then printf 'missing\n'; return; fi
  case "$BCDR_TAR$1" in
    0*|*"$BCDR_NL"*) bcdr_file_now "$1"; return ;;
  esac
  printf '@@bcdrfix-file %s\n' "$1"
  case "$BCDR_NL$BCDR_FILES" in
    *"$BCDR_NL$1$BCDR_NL"*) ;;
    *) BCDR_FILES="$BCDR_FILES$1$BCDR_NL" ;;
  esac
}
# bcdr_files: the files of every bcdr_file, in one tar through one head (at most the limit per
# file, plus tar's headers and its last record) and one base64, as the "@files" section.
bcdr_files() {
  [ -n "$BCDR_FILES" ] || return 0
  bcdr_m=${BCDR_MAX_FILE_BYTES:-1048576}
  printf '%s@files\nlimit %s\n' '@@bcdrfix-probe ' "$bcdr_m"
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  # shellcheck disable=SC2086  # one word per line: the paths
  set -- $BCDR_FILES
  IFS=$bcdr_ifs; set +f
  tar -c -h -P -f - -- "$@" 2>/dev/null | head -c $(($# * (bcdr_m + 2048) + 10240)) | base64 -w 0
  printf '\n%s@files\n' '@@bcdrfix-probe-end '
}
# bcdr_file_now PATH: "file MODE OWNER GROUP SIZE" and the content in base64 (one stat, one head,
# one base64), or "toolarge SIZE LIMIT".
bcdr_file_now() {
  bcdr_f=$1
  # shellcheck disable=SC2046  # the four words of stat
  set -- $(stat -L -c '%s %a %U %G' "$bcdr_f")
  if [ "${1:-0}" -gt "${BCDR_MAX_FILE_BYTES:-1048576}" ]; then
    printf 'toolarge %s %s\n' "$1" "${BCDR_MAX_FILE_BYTES:-1048576}"
    return
  fi
  printf 'file %s %s %s %s\n' "$2" "$3" "$4" "$1"
  head -c "${BCDR_MAX_FILE_BYTES:-1048576}" < "$bcdr_f" | base64 -w 0; echo  # one line
}
"""


def build_script(
    probe_names: Iterable[str],
    unit_override: str | None = None,
    variables: Iterable[tuple[str, str]] = (),
) -> str:
    """The one script for these probes; ``variables`` are shell-quoted assignments for probes."""
    names = sorted(set(probe_names))
    parts = [f"{name}={shlex.quote(str(value))}" for name, value in variables]
    if unit_override:
        parts.append(f"BCDR_UNIT_OVERRIDE={shlex.quote(unit_override + '.service')}")
    parts.append(PREAMBLE.strip())
    parts.append(f"printf '{SECTION}%s\\n' preamble")
    parts.append('printf "unit=%s\\nsystemd=%s\\n" "$BCDR_UNIT" "$BCDR_HAS_SYSTEMD"')
    parts.append(f"printf 'probes=%s\\n' {shlex.quote(' '.join(names))}")
    # Each probe is a shell function, not a subshell (a fork each, a tenth of the observation's
    # cost): the probes return instead of exiting and restore IFS and `set -f` themselves. A
    # probe that ends the shell (a fatal error) cannot pass for an empty result: the probes
    # without their end marker are unreadable.
    probes = []
    for name in names:
        probes.append(f"printf '{SECTION}%s\\n' {name}")
        probes.append(
            f"bcdr_probe() {{ :\n{PROBES[name].script}\n}}\nbcdr_probe 2>/dev/null; IFS=$BCDR_IFS; set +f"
        )
        probes.append(f"printf '{END}%s\\n' {name}")
    # The probes' output is gathered and written at once: every echo of the shell is a write of
    # its own, which sshd sends as an SSH packet of its own, and the controller decrypts and
    # checks each packet in Python (a 30-host audit on the lab: 1,013 data packets became 112). Command
    # substitution drops NUL bytes (probes turn them into spaces) and nothing else: a probe cut
    # short still lacks its end marker.
    probes.append("bcdr_files")  # the files the probes named, read at once
    parts.append("bcdr_observe() { :\n" + "\n".join(probes) + "\n}")
    parts.append("bcdr_out=$(bcdr_observe); printf '%s\\n' \"$bcdr_out\"")
    return "\n".join(parts)


def parse_output(lines: list[str]) -> dict[str, Any]:
    sections: dict[str, list[str]] = {}
    ended: set[str] = set()
    current: list[str] | None = None
    for line in lines:
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION) :].strip(), [])
        elif line.startswith(END):
            ended.add(line[len(END) :].strip())
            current = None
        elif current is not None:
            current.append(line)
    preamble = dict(line.split("=", 1) for line in sections.pop("preamble", []) if "=" in line)
    files = read_files(sections.pop(FILES, []) if FILES in ended else [])
    for name, body in sections.items():
        if any(line.startswith(FILE) for line in body):
            sections[name] = [
                new
                for line in body
                for new in (
                    files.get(line[len(FILE) :], [f"notread {NOT_IN_TAR}"])
                    if line.startswith(FILE)
                    else [line]
                )
            ]
    result: dict[str, Any] = {
        "agent_unit": preamble.get("unit") or None,
        "has_systemd": preamble.get("systemd") == "1",
    }
    for name in {*preamble.get("probes", "").split(), *sections}:
        if name in PROBES and name not in ended:
            result[name] = Unreadable(
                f"probe {name}: its output stopped short (the observation script ended early)"
            )
    for name, body in sections.items():
        if name in PROBES and name in ended:
            try:
                result[name] = PROBES[name].parse(body)
            except (ValueError, IndexError, KeyError, TypeError) as exc:
                result[name] = Unreadable(f"probe {name}: unexpected output ({exc})")
    return result


FILES = "@files"  # the section of bcdr_files: the files the probes named, in one tar
FILE = "@@bcdrfix-file "  # bcdr_file's line for a file of that tar
NOT_IN_TAR = "the observation's tar did not carry it (unreadable, vanished, or cut short)"


def read_files(lines: list[str]) -> dict[str, list[str]]:
    """path -> what ``bcdr_file_now`` prints for it, from the ``@files`` section: its limit line
    and the tar (base64). A member larger than the limit is "toolarge" (its data is not read); a
    member the bounded read cut short, and every one after it, is missing (``NOT_IN_TAR``)."""
    limit = next((int(line.split()[1]) for line in lines[:1] if line.startswith("limit ")), 0)
    blob = "".join(line.strip() for line in lines[1:])
    result: dict[str, list[str]] = {}
    if not blob:
        return result
    try:
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(blob)), mode="r:") as archive:
            for member in archive:
                path = "/" + member.name.lstrip("/")
                if member.size > limit:
                    result[path] = [f"toolarge {member.size} {limit}"]
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()  # a hard link's header has size 0: the data's length
                owner = member.uname or str(member.uid)
                group = member.gname or str(member.gid)
                mode = format(member.mode & 0o7777, "o")
                encoded = base64.b64encode(data).decode()
                result[path] = [f"file {mode} {owner} {group} {len(data)}", encoded]
    except (tarfile.TarError, ValueError, EOFError):
        pass  # cut short by the bounded read: the files it did not carry are NOT_IN_TAR
    return result


def unreadable_probes(observation: dict[str, Any], probes: Iterable[str]) -> list[str]:
    """Reasons why some of these probes' data cannot be used (empty when all can)."""
    return [
        value.reason for name in probes if isinstance(value := observation.get(name), Unreadable)
    ]


class LinuxObservation(FactBase):
    """
    Everything the selected bcdrfix Linux probes report, gathered in one command.

    + probes: names of the probes to run
    + unit: force the agent unit name instead of detecting it
    + variables: ``(name, value)`` pairs the probes read (paths from settings)

    .. code:: python

        {"agent_unit": "walinuxagent.service", "has_systemd": True,
         "agent_service": {"ActiveState": "active", ...}, ...}
    """

    def command(self, probes=(), unit=None, variables=()):
        return build_script(probes, unit, variables)

    def process(self, output):
        return parse_output(list(output))


def observe_linux(host: Any, probes: Iterable[str], settings: Any) -> dict[str, Any]:
    harden_connection(host, settings.ssh_keepalive, settings.ssh_dead_after)
    return host.get_fact(
        LinuxObservation,
        probes=tuple(sorted(probes)),
        unit=settings.agent_unit,
        variables=linux_probe_variables(settings),
    )


def linux_probe_variables(settings: Any) -> tuple[tuple[str, str], ...]:
    """Shell variables probes read; each module that needs one adds it to PROBE_VARIABLES."""
    return tuple((var, str(getter(settings))) for var, getter in PROBE_VARIABLES.items())


PROBE_VARIABLES: dict[str, Callable[[Any], Any]] = {
    "BCDR_WAAGENT_CONF": lambda settings: settings.waagent_conf_path,
    "BCDR_MAX_FILE_BYTES": lambda settings: settings.max_file_bytes,
}

# --- shared parsers -----------------------------------------------------------------------


def parse_key_values(lines: list[str]) -> dict[str, str]:
    """``systemctl show`` style ``Key=Value`` lines."""
    return dict(line.split("=", 1) for line in lines if "=" in line)


def parse_file(lines: list[str]) -> dict[str, Any] | None:
    """Output of ``bcdr_file PATH``: None when missing, else mode/owner/group/size/text."""
    if lines and lines[0].startswith("toolarge "):
        size, limit = (lines[0].split() + ["?", "?"])[1:3]
        return Unreadable(
            f"the file is {size} bytes, more than bcdrfix reads ({limit} bytes, "
            "bcdrfix_max_file_bytes): check it by hand"
        )
    if lines and lines[0].startswith("notread "):
        return Unreadable(f"the file could not be read: {lines[0][len('notread ') :]}")
    if not lines or lines[0].strip() == "missing" or not lines[0].startswith("file "):
        return None
    mode, owner, group, size = lines[0].split()[1:5]
    data = base64.b64decode("".join(line.strip() for line in lines[1:]))
    return {
        "mode": mode,
        "owner": owner,
        "group": group,
        "size": int(size),
        "text": data.decode("utf-8", errors="surrogateescape"),
    }


def split_subsections(lines: list[str], marker: str = "@@ ") -> dict[str, list[str]]:
    """Split a probe's output at ``@@ name`` lines."""
    parts: dict[str, list[str]] = {}
    current: list[str] = parts.setdefault("", [])
    for line in lines:
        if line.startswith(marker):
            current = parts.setdefault(line[len(marker) :].strip(), [])
        else:
            current.append(line)
    return parts
