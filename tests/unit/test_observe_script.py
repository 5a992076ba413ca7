"""The batched observation script: probes run as shell functions (no fork each), and a probe that
ends the shell cannot pass for an empty result."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import bcdrfix.controls  # noqa: F401  (registers the Linux probes)
from bcdrfix.core import observe
from bcdrfix.core.observe import Probe, Unreadable, build_script, parse_output


@pytest.fixture
def probes(monkeypatch):
    def add(name: str, script: str) -> None:
        monkeypatch.setitem(observe.PROBES, name, Probe(name, script, lambda lines: lines))

    return add


def run(names: list[str]) -> dict:
    out = subprocess.run(
        ["sh", "-c", build_script(names)], capture_output=True, text=True, timeout=30
    )
    return parse_output(out.stdout.splitlines())


def test_a_probe_that_ends_the_shell_leaves_itself_and_the_rest_unreadable(probes):
    probes("t_a_first", "echo one")
    probes("t_b_fatal", "echo partial; exit 3")
    probes("t_c_after", "echo never")
    result = run(["t_a_first", "t_b_fatal", "t_c_after"])
    assert result["t_a_first"] == ["one"]
    for name in ("t_b_fatal", "t_c_after"):  # not "no output", which a control could trust
        assert isinstance(result[name], Unreadable), name
        assert "stopped short" in result[name].reason


def test_probes_keep_their_positional_parameters_and_returning_early_is_fine(probes):
    probes("t_a_set", "set -- x y z; echo $#; return 0; echo unreachable")
    probes("t_b_count", "echo $#")
    result = run(["t_a_set", "t_b_count"])
    assert result == {**result, "t_a_set": ["3"], "t_b_count": ["0"]}


def test_the_observation_creates_no_process_per_probe(probes):
    """Ten probes made of shell builtins only: the script forks nothing for them."""
    for i in range(10):
        probes(f"t_{i}", f"x{i}=$((1 + {i})); printf '%s\\n' \"$x{i}\"")
    script = build_script([f"t_{i}" for i in range(10)])
    # every probe's output, and no `(` subshell wrapper in the script
    result = parse_output(
        subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout.splitlines()
    )
    assert [result[f"t_{i}"] for i in range(10)] == [[str(1 + i)] for i in range(10)]
    assert "\n( " not in script


def test_a_probe_that_leaves_ifs_or_globbing_changed_does_not_change_the_next(probes, tmp_path):
    (tmp_path / "a b").write_text("")
    probes("t_a_leaves", "IFS=:; set -f; x=1")
    probes("t_b_reads", f'v="p q"; set -- $v; echo $#; for f in {tmp_path}/a*; do echo "$f"; done')
    result = run(["t_a_leaves", "t_b_reads"])
    assert result["t_b_reads"] == ["2", f"{tmp_path}/a b"]


def agent_processes_alone(script: str, before: str = "") -> dict:
    """The agent_processes probe's findings for ``before`` + ``script`` run in a PID namespace
    of its own, where no agent runs (lab hosts share this machine's /proc)."""
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", before + script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode and "unshare" in out.stderr:
        pytest.skip(f"no PID namespace here: {out.stderr.strip()}")
    return parse_output(out.stdout.splitlines())["agent_processes"]


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_the_observing_shell_is_not_taken_for_the_agent():
    """The audit's script names the agent's options (-run-exthandlers) in its own text, and the
    shell running it has that text as its command line: it is not an agent process."""
    script = build_script(["agent_processes", "agent_version"])
    assert " -run-exthandlers" in script and " -daemon" not in script
    found = agent_processes_alone(script)
    assert (found["daemon"], found["exthandlers"]) == (False, False)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_a_grandparent_running_the_script_is_not_taken_for_the_agent():
    """sudo with use_pty (Debian's default) runs the command under a monitor process: the
    script's text is then the command line of the shell's parent AND grandparent. A script
    line naming -run-exthandlers is not an extension handler, whichever process holds it."""
    script = build_script(["agent_processes", "agent_version"])
    wrapped = "sh -c '(env sh -c \"$1\"; true); true' monitor " + shlex.quote(script)
    found = agent_processes_alone(wrapped)
    assert (found["daemon"], found["exthandlers"]) == (False, False)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_an_agent_process_is_found_through_the_gathered_output():
    """The observation gathers its output by command substitution, which drops NUL bytes: the
    arguments of a command line still arrive apart."""
    daemon = "python3 -c 'import time; time.sleep(30)' /usr/sbin/waagent -daemon & sleep 0.3; "
    found = agent_processes_alone(build_script(["agent_processes"]), before=daemon)
    assert found["daemon"] and not found["exthandlers"]


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_the_goal_state_agent_comes_from_the_running_extension_handler(tmp_path):
    """agent_version reads the goal-state agent from the extension handler's command line (the
    grep it shares with agent_processes), never from the observing shell's own text."""
    (tmp_path / "waagent").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "waagent").chmod(0o755)
    site = "/usr/local/lib/python3.99/dist-packages/azurelinuxagent/common"
    handler = (
        "python3 -c 'import time; time.sleep(30)' bin/WALinuxAgent-9.8.7.6-py3.11.egg"
        " -run-exthandlers & sleep 0.3; "
    )
    setup = (
        f"mount -t tmpfs tmpfs /usr/local/lib && mkdir -p {site} && "
        f"echo \"AGENT_VERSION = '2.7.3.0'\" > {site}/version.py || exit 1; PATH={tmp_path}:$PATH; "
    )
    script = build_script(["agent_processes", "agent_version"])
    wrapped = "sh -c '(env sh -c \"$1\"; true); true' monitor " + shlex.quote(script)
    for before, goal in ((setup, "2.7.3.0"), (setup + handler, "9.8.7.6")):
        out = subprocess.run(
            ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", before + wrapped],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode and ("unshare" in out.stderr or "mount" in out.stderr):
            pytest.skip(f"no mount and PID namespace here: {out.stderr.strip()}")
        found = parse_output(out.stdout.splitlines())
        assert found["agent_version"]["installed"] == "2.7.3.0"
        assert found["agent_version"]["goal_state"] == goal
        assert found["agent_processes"]["exthandlers"] is (goal == "9.8.7.6")


def test_agent_processes_are_found_by_their_command_line():
    lines = [
        "@@ units",
        "walinuxagent.service loaded",
        "@@ self",
        "40 39",
        "@@ processes",
        "/proc/40/cmdline:sh -c echo waagent -run-exthandlers -daemon",
        "/proc/39/cmdline:sudo -H -n sh -c echo waagent -daemon",
        "/proc/7/cmdline:/usr/bin/python3\0-u\0/usr/sbin/waagent\0-daemon\0",
        "/proc/9/cmdline:python3\0-u\0bin/WALinuxAgent-2.9.1.1-py3.8.egg\0-run-exthandlers\0",
    ]
    found = observe.PROBES["agent_processes"].parse(lines)
    assert (found["daemon"], found["exthandlers"]) == (True, True)
    found = observe.PROBES["agent_processes"].parse(lines[:-2])
    assert (found["daemon"], found["exthandlers"]) == (False, False)


def test_an_observation_without_probes_still_runs():
    """The gathering function needs a command even when no probe is selected."""
    out = subprocess.run(["sh", "-c", build_script([])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert set(parse_output(out.stdout.splitlines())) == {"agent_unit", "has_systemd"}


def file_probes(probes, tmp_path, limit: int = 1_048_576) -> tuple[str, list[Path]]:
    """Two probes naming four files (one twice, one through a symlink, one missing) through
    bcdr_file; a third prints each file's own stat, head and base64 (bcdr_file_now)."""
    small = tmp_path / "small.conf"
    small.write_text("a=1\n")
    private = tmp_path / "private.conf"
    private.write_bytes(b"k=v\n\xff\x00 bytes\n")
    private.chmod(0o640)
    link = tmp_path / "link.conf"
    link.symlink_to(small)
    paths = [small, private, link, tmp_path / "missing.conf"]
    probes("t_a_files", "".join(f'echo "@@ {p}"; bcdr_file "{p}"\n' for p in paths[:2]))
    probes(
        "t_b_files", "".join(f'echo "@@ {p}"; bcdr_file "{p}"\n' for p in [paths[0], *paths[2:]])
    )
    probes("t_c_now", "".join(f'echo "@@ {p}"; bcdr_file_now "{p}"\n' for p in paths[:3]))
    script = build_script(
        ["t_a_files", "t_b_files", "t_c_now"], variables=[("BCDR_MAX_FILE_BYTES", str(limit))]
    )
    return script, paths


def sections(lines: list[str]) -> dict[str, list[str]]:
    return observe.split_subsections(lines)


def test_files_of_every_probe_come_from_one_tar_as_each_files_own_read(probes, tmp_path):
    """bcdr_file names the file; the one tar at the end carries it; the controller puts back
    what the file's own stat, head and base64 print (mode, owner, group, size, bytes)."""
    script, (small, private, link, missing) = file_probes(probes, tmp_path)
    assert script.count("tar -c") == 1
    result = run_script(script)
    now = sections(result["t_c_now"])
    a, b = sections(result["t_a_files"]), sections(result["t_b_files"])
    for path in (small, private, link):
        expected = observe.parse_file(now[str(path)])
        assert expected and expected["text"]
        got = a.get(str(path)) or b[str(path)]
        assert observe.parse_file(got) == expected, path
    assert observe.parse_file(b[str(small)]) == observe.parse_file(now[str(small)])  # twice
    assert observe.parse_file(b[str(missing)]) is None


def test_a_file_over_the_limit_is_too_large_and_the_others_still_arrive(probes, tmp_path):
    script, (small, private, _, _) = file_probes(probes, tmp_path, limit=100)
    private.write_bytes(b"x" * 5000)  # over the limit, yet within the read's bound
    found = run_script(script)
    big = observe.parse_file(sections(found["t_a_files"])[str(private)])
    assert isinstance(big, Unreadable) and "5000 bytes" in big.reason
    assert observe.parse_file(sections(found["t_a_files"])[str(small)])["text"] == "a=1\n"


def test_a_read_cut_short_by_its_bound_leaves_files_unreadable_not_empty(probes, tmp_path):
    """The tar goes through one bounded head: a file far over the limit eats the bound and the
    files after it are unreadable (an error finding), never an empty or partial text."""
    big, small = tmp_path / "big.conf", tmp_path / "small.conf"
    big.write_bytes(b"x" * 200_000)
    small.write_text("b=2\n")
    for order, small_after in (([small, big], False), ([big, small], True)):
        probes("t_files", "".join(f'echo "@@ {p}"; bcdr_file "{p}"\n' for p in order))
        found = sections(
            run_script(build_script(["t_files"], variables=[("BCDR_MAX_FILE_BYTES", "100")]))[
                "t_files"
            ]
        )
        too_large = observe.parse_file(found[str(big)])
        assert isinstance(too_large, Unreadable) and "200000 bytes" in too_large.reason
        after = observe.parse_file(found[str(small)])
        if small_after:
            assert isinstance(after, Unreadable) and "did not carry it" in after.reason
        else:
            assert after["text"] == "b=2\n"


def test_without_tar_each_file_is_read_on_its_own(probes, tmp_path):
    script, (small, private, link, _) = file_probes(probes, tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("stat", "head", "base64", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    out = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, env={"PATH": str(bin_dir)}
    )
    result = parse_output(out.stdout.splitlines())
    assert "@@bcdrfix-probe @files" not in out.stdout
    now = sections(result["t_c_now"])
    for path in (small, private):
        assert observe.parse_file(sections(result["t_a_files"])[str(path)]) == observe.parse_file(
            now[str(path)]
        )


def run_script(script: str) -> dict:
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return parse_output(out.stdout.splitlines())


def test_a_hard_link_to_a_large_file_is_too_large_and_paths_match_as_tar_writes_them(
    probes, tmp_path
):
    """tar stores a second name of the same file as a hard link (no data, size 0): it is judged
    on the data it stands for. A path named with '//' or '/./' still finds its member."""
    big, second, small = tmp_path / "big.conf", tmp_path / "second.conf", tmp_path / "s.conf"
    big.write_bytes(b"x" * 500)
    os.link(big, second)
    small.write_text("k=v\n")
    odd = str(small).replace(str(tmp_path), f"{tmp_path}/.//")
    named = [str(big), str(second), odd]
    probes("t_files", "".join(f'echo "@@ {p}"; bcdr_file "{p}"\n' for p in named))
    script = build_script(["t_files"], variables=[("BCDR_MAX_FILE_BYTES", "100")])
    found = sections(run_script(script)["t_files"])
    for path in named[:2]:
        reason = observe.parse_file(found[path])
        assert isinstance(reason, Unreadable) and "500 bytes" in reason.reason, path
    assert observe.parse_file(found[odd])["text"] == "k=v\n"


# The units the preamble's one `systemctl show` asks about, in its order.
UNITS = (
    "walinuxagent.service",
    "waagent.service",
    "systemd-networkd.service",
    "NetworkManager.service",
)


def unit_values(tmp_path: Path, blocks: int) -> tuple[list[str], int]:
    """bcdr_get of every unit the preamble asks about, with a `systemctl show` that answers the
    batched call with only ``blocks`` blocks; and how many times systemctl ran."""
    calls = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{calls}"\n'
        "n=0; first=1\n"
        'for a; do case "$a" in *.service) ;; *) continue ;; esac\n'
        f'  n=$((n + 1)); [ $n -gt {blocks} ] && [ "$first" = 0 ] && break\n'
        '  [ "$first" = 1 ] || echo; first=0\n'
        '  echo "Id=$a"; echo "MainPID=$n"\n'
        "done\n"
    )
    fake.chmod(0o755)
    script = build_script([]) + (
        f'\nfor u in {" ".join(UNITS)}; do bcdr_get "$u" Id; printf "%s=" "$BCDR_V"; '
        'bcdr_get "$u" MainPID; echo "$BCDR_V"; done\n'
    )
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=True)
    got = [line for line in out.stdout.splitlines() if line.endswith(tuple("0123456789"))]
    return got[-4:], len(calls.read_text().split())


def test_each_unit_has_its_own_block_of_the_one_systemctl_show(tmp_path):
    values, calls = unit_values(tmp_path, blocks=4)
    assert values == [f"{unit}={n}" for unit, n in zip(UNITS, (1, 2, 3, 4))]
    assert calls == 1


def test_units_past_a_short_answer_ask_systemctl_on_their_own(tmp_path):
    """When the batched answer has fewer blocks than units, the units it covers keep theirs and
    every later unit gets its own `systemctl show` (never another unit's block)."""
    values, calls = unit_values(tmp_path, blocks=2)
    assert values == [f"{unit}={n}" for unit, n in zip(UNITS, (1, 2, 1, 1))]
    assert calls == 1 + 2 * 2  # Id and MainPID of each of the two later units


DPKG_STATUS = """\
Package: bash
Status: install ok installed
Version: 5.2.15-2+b2

Package: waagent
Status: deinstall ok config-files
Priority: optional
Version: 2.2.45-4

Package: walinuxagent
Status: install ok installed
Priority: optional
Section: admin
Architecture: all
Version: 1:2.9.1.1-0ubuntu1
Description: Windows Azure Linux Agent
 Continuation line. Version: 0
Conffiles:
 /etc/waagent.conf 0123456789abcdef

Package: walinuxagent-extra
Status: install ok installed
Version: 7.7.7
"""


def dpkg_probe(tmp_path: Path, journal: bool, status: str = DPKG_STATUS) -> tuple[tuple, bool]:
    """The agent_version probe on a dpkg database under tmp_path, with a dpkg-query on PATH that
    notes that it ran and answers for dpkg's journal; ((package, version, held), whether it ran)."""
    admin = tmp_path / "dpkg"
    (admin / "updates").mkdir(parents=True)
    (admin / "status").write_text(status)
    if journal:  # an interrupted dpkg run left a change that is not in the status file yet
        (admin / "updates" / "0000").write_text("Package: walinuxagent\n")
    ran = tmp_path / "dpkg-query-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text(
        f"#!/bin/sh\ntouch {shlex.quote(str(ran))}\necho 'walinuxagent 9.9.9-1 ii '\n"
    )
    (bin_dir / "dpkg-query").chmod(0o755)
    script = build_script(["agent_version"], variables=[("BCDR_DPKG_DIR", str(admin))])
    out = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    info = parse_output(out.stdout.splitlines())["agent_version"]
    return tuple(info[k] for k in ("package", "package_version", "package_held")), ran.exists()


def test_the_agent_package_comes_from_dpkgs_status_file_without_dpkg_query(tmp_path):
    """Issue 14: dpkg-query parses every package of dpkg's database (about 5 ms of a host's CPU
    for a 750 kB status file); the probe reads the agent's stanza from the status file with one
    awk: installed packages only, the whole version (epoch included), no prefix matches."""
    info, ran = dpkg_probe(tmp_path, journal=False)
    assert info == ("walinuxagent", "1:2.9.1.1-0ubuntu1", False)
    assert not ran


def test_a_held_agent_package_is_installed_and_held(tmp_path):
    """`apt-mark hold walinuxagent` (dpkg's Status "hold ok installed", "hi"): the package is
    installed all the same; it was reported as no package at all."""
    status = DPKG_STATUS.replace(
        "Package: walinuxagent\nStatus: install ok installed",
        "Package: walinuxagent\nStatus: hold ok installed",
    )
    info, ran = dpkg_probe(tmp_path, journal=False, status=status)
    assert info == ("walinuxagent", "1:2.9.1.1-0ubuntu1", True)
    assert not ran


def test_dpkg_query_answers_while_dpkgs_journal_holds_changes(tmp_path):
    """dpkg-query applies dpkg's journal (updates/) to the status file; so does the probe, by
    asking dpkg-query, while the journal holds an entry."""
    info, ran = dpkg_probe(tmp_path, journal=True)
    assert info == ("walinuxagent", "9.9.9-1", False)
    assert ran
