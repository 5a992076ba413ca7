"""The bcdrfix process: its start-up (cli/start.py) and its exit, which skips the last garbage
collection (core/exit.py)."""

from __future__ import annotations

import socket
import subprocess
import sys

# An atexit callback registered BEFORE bcdrfix's runs AFTER it (last in, first out): it sees
# whether the objects were frozen, so that the interpreter's last collection passes over them.
PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0, flush=True))
{body}
"""


def a_new_process(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a new interpreter: its status, standard output and error."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def in_a_new_process(code: str) -> str:
    """The standard output of ``code`` run by a new interpreter, which must succeed."""
    out = a_new_process(code)
    assert out.returncode == 0, out.stderr
    return out.stdout


def run(body: str) -> str:
    return in_a_new_process(PROBE.format(body=body)).strip()


def test_the_command_line_freezes_its_objects_at_exit():
    body = "from bcdrfix.cli.main import run\nsys.argv = ['bcdrfix', 'codes']\nrun()"
    assert run(body).endswith("frozen True")


def test_registered_once_and_not_before_a_run():
    assert run("import bcdrfix.cli.main, bcdrfix.deploys") == "frozen False"  # imports alone
    body = (
        "from bcdrfix.core.exit import freeze_at_exit\n"
        "n = atexit._ncallbacks(); freeze_at_exit(); freeze_at_exit()\n"
        "print('callbacks', atexit._ncallbacks() - n)"
    )
    assert run(body).splitlines() == ["callbacks 1", "frozen True"]


def test_the_console_script_imports_the_commands_without_collecting_and_collects_after():
    """Start-up (cli/start.py): importing the commands set off about 130 collections that found
    nothing; now none (a command still collects: `codes` about 30 times, most of them while it
    imports yaml and reads the catalog), and the collector is on again when the process ends."""
    body = (
        "import gc\n"
        "counts = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and counts.append(1))\n"
        "from bcdrfix.cli.start import run\n"
        "sys.argv = ['bcdrfix', 'codes', '-q']\n"
        "atexit.register(lambda: print('collections', len(counts) < 50, gc.isenabled(), "
        "flush=True))\n"
        "run()"
    )
    assert "collections True True" in run(body).splitlines()  # 130 and more before


def audit_of_a_refusing_host(tmp_path, prelude: str) -> str:
    """The console script's audit of one host on a port of 127.0.0.1 that refuses connections
    (bound, not listening), with ``prelude`` run first in the process: its standard output."""
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    port = refusing.getsockname()[1]
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        f'linux = [("down-01", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}}})]\n'
    )
    code = (
        "import atexit, sys\n"
        f"{prelude}\n"
        "from bcdrfix.cli.start import run\n"
        f"sys.argv = ['bcdrfix', 'audit', {str(inventory)!r}, '-q']\n"
        "run()"
    )
    with refusing:
        out = a_new_process(code)
    assert out.returncode == 2, out.stdout + out.stderr  # not audited: the host refused
    return out.stdout


def test_the_console_script_patches_gevent_first_reading_installed_entry_points_once(tmp_path):
    """gevent's ``patch_all`` looks up its plugins' entry points at each of its 25 events, each
    lookup a read of every installed distribution's metadata: about 35 ms of an audit's start-up,
    before the first host was contacted. The console script patches gevent first, as pyinfra's
    own CLI does, with the entry points read once (cli/start.py). pyinfra's inventory reads its
    connectors' entry points twice per Inventory, and its loader builds two: read once too
    (inventory/load.py)."""
    out = audit_of_a_refusing_host(
        tmp_path,
        "from importlib import metadata\n"
        "reads = []\n"
        "every = metadata.distributions\n"
        "metadata.distributions = lambda **kw: reads.append(1) or every(**kw)\n"
        "from gevent import monkey\n"
        "atexit.register(lambda: print('socket patched', monkey.is_module_patched('socket'), "
        "'metadata reads', len(reads), flush=True))",
    )
    patched, reads = out.splitlines()[-1].removeprefix("socket patched ").split(" metadata reads ")
    assert patched == "True", out
    # 30 before (25 of them for gevent's patch_all), then 6 (4 of them for the inventory), 3 now
    assert int(reads) <= 3, out


def test_an_audit_imports_no_other_command(tmp_path):
    """The commands are imported when they run (cli/main.py's ``COMMANDS``): an audit no longer
    imports the fix engine, the catalog's explain command, the demo, the diagnosis and the lab
    (about 35 ms of its start-up, before the first host was contacted)."""
    out = audit_of_a_refusing_host(
        tmp_path,
        "atexit.register(lambda: print('imported', *sorted(sys.modules), flush=True))",
    )
    imported = set(out.splitlines()[-1].split()[1:])
    assert "bcdrfix.cli.audit" in imported, out
    others = {
        "bcdrfix.cli.fix",
        "bcdrfix.fix.by_code",
        "bcdrfix.cli.explain",
        "bcdrfix.cli.demo",
        "bcdrfix.cli.diagnose",
        "bcdrfix.audit.diagnose",
        "bcdrfix.cli.report",
        "bcdrfix.cli.settings",
        "bcdrfix.lab.cli",
        "bcdrfix.lab.lab",
    }
    assert not imported & others, sorted(imported & others)


def test_an_audit_imports_neither_invoke_nor_gssapi(tmp_path):
    """paramiko imports invoke (for ``Match exec`` in an ssh_config) and gssapi (GSS-API user
    authentication), which pyinfra's SSH connections never use: about 15 ms of an audit's
    start-up. The console script imports paramiko without them (cli/start.py)."""
    out = audit_of_a_refusing_host(
        tmp_path,
        "atexit.register(lambda: print('imported', *sorted(sys.modules), flush=True))",
    )
    imported = {name.split(".")[0] for name in out.splitlines()[-1].split()[1:]}
    assert "paramiko" in imported, out
    assert not imported & {"invoke", "gssapi"}, out


def test_an_audit_imports_neither_unittest_mock_nor_yaml_before_contacting_a_host(tmp_path):
    """typeguard (pyinfra's) imports unittest.mock, and with it asyncio and unittest, for two
    names; the catalog and the netplan parser imported yaml at start-up. Together about 11 ms
    before an audit contacted its first host. The console script imports typeguard without
    unittest.mock (cli/start.py), and yaml comes with the first catalog or netplan read."""
    out = audit_of_a_refusing_host(
        tmp_path,
        "seen = []\n"
        "late = ('asyncio', 'typeguard', 'unittest', 'unittest.mock', 'yaml')\n"
        "sys.addaudithook(lambda event, args: event == 'socket.connect' and not seen and "
        "seen.append([name for name in late if name in sys.modules]))\n"
        "atexit.register(lambda: print('at the first connect', *seen[0], flush=True))",
    )
    assert out.splitlines()[-1] == "at the first connect typeguard", out


def test_typeguard_without_unittest_mock_still_passes_mocks_and_checks_the_rest():
    """The stand-in's ``Mock`` answers as the real class: a mock made after unittest.mock is
    imported passes typeguard's checks unchecked, anything else is checked; ``patch`` (for
    typeguard's import hook) is the real one; ``import unittest.mock`` imports the real module."""
    seen = in_a_new_process(
        "import sys\n"
        "from bcdrfix.cli.start import import_typeguard\n"
        "import_typeguard()\n"
        "from typeguard import TypeCheckError, check_type\n"
        "from typeguard._importhook import patch\n"
        "print('mock imported', 'unittest.mock' in sys.modules)\n"
        "from unittest.mock import MagicMock, Mock\n"
        "check_type(Mock(), int); check_type(MagicMock(), str)\n"
        "try:\n"
        "    check_type('text', int)\n"
        "except TypeCheckError:\n"
        "    print('str is not int')\n"
        "import os\n"
        "with patch('os.sep', '#'):\n"
        "    print('patched', os.sep)\n"
        "print('after', os.sep, sys.modules['unittest.mock'].__file__.endswith('mock.py'))"
    ).splitlines()
    assert seen == ["mock imported False", "str is not int", "patched #", "after / True"]


def test_a_typeguard_asking_unittest_mock_for_another_name_is_imported_as_it_is(tmp_path):
    """If typeguard one day imports another name from unittest.mock, the console script still
    starts: that typeguard is imported with the real module."""
    package = tmp_path / "typeguard"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from unittest.mock import Mock, NonCallableMock\n"
        "print('typeguard sees', Mock.__module__, NonCallableMock.__module__)\n"
    )
    seen = in_a_new_process(
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from bcdrfix.cli.start import import_typeguard\n"
        "import_typeguard()\n"
        "import unittest.mock\n"
        "print('real', hasattr(unittest.mock, 'MagicMock'))"
    ).splitlines()
    assert seen == ["typeguard sees unittest.mock unittest.mock", "real True"]


def test_an_ssh_config_match_exec_still_runs_its_command(tmp_path):
    """invoke is imported when paramiko evaluates a ``Match exec`` line, which then works as
    before: the block of a command that succeeds applies, that of a command that fails not."""
    config = tmp_path / "ssh_config"
    config.write_text(
        'Match exec "test -e %s"\n  User found\n' % (tmp_path / "present")
        + 'Match exec "test -e %s"\n  Port 2222\n' % (tmp_path / "absent")
    )
    (tmp_path / "present").touch()
    seen = in_a_new_process(
        "import sys\n"
        "from bcdrfix.cli.start import import_paramiko\n"
        "import_paramiko()\n"
        "import paramiko\n"
        "print('before', 'invoke' in sys.modules)\n"
        f"found = paramiko.SSHConfig.from_path({str(config)!r}).lookup('vm-01')\n"
        "print('user', found.get('user'), 'port', found.get('port'), 'after', 'invoke' in sys.modules)"
    ).split()
    assert seen == ["before", "False", "user", "found", "port", "None", "after", "True"]


def test_gssapi_stays_importable_for_the_winrm_connector():
    """Only paramiko's GSS-API support is off (pyinfra never asks for it); Kerberos for WinRM
    (pyspnego imports gssapi) still finds the module."""
    seen = in_a_new_process(
        "from bcdrfix.cli.start import import_paramiko\n"
        "import_paramiko()\n"
        "import paramiko.ssh_gss, gssapi\n"
        "print(paramiko.ssh_gss.GSS_AUTH_AVAILABLE, gssapi.__name__)"
    ).split()
    assert seen == ["False", "gssapi"]


def test_the_console_script_ends_with_its_output_status_and_atexit_callbacks(tmp_path):
    """After its command the console script runs the atexit callbacks, flushes its output and
    ends without the interpreter's teardown (core/exit.py ``leave``: about 15 ms after a
    30-host audit): the status (2: not audited), the summary line and the callbacks are kept."""
    out = audit_of_a_refusing_host(
        tmp_path, "atexit.register(lambda: print('atexit ran', flush=True))"
    )
    lines = out.splitlines()
    assert lines[-1] == "atexit ran", out
    assert "not audited" in lines[-2], out  # the summary line, flushed before the end


def test_leave_exits_as_sys_exit_would():
    for code, status, stderr in ((None, 0, ""), (3, 3, ""), ("bad input", 1, "bad input\n")):
        out = a_new_process(f"from bcdrfix.core.exit import leave\nleave({code!r})")
        assert (out.returncode, out.stderr) == (status, stderr)
