"""Real lab hosts for integration tests.

A test module declares the hosts it needs in a module-level ``LAB`` dict::

    LAB = {"hosts": 4, "faults": {"lab-debian-01": ["agent-stopped"]}}

(``"standins": False`` when the module runs its own endpoint listeners) and uses the
module-scoped ``lab`` fixture (a ``bcdrfix.lab.lab.LabState``). The lab is torn down
after the module, leaving no mounts, namespaces, veths, cgroups or processes. Set
``BCDRFIX_LAB_ID`` to run several test sessions side by side.
"""

from __future__ import annotations

import os

import pytest

from bcdrfix.lab import lab as labmod


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="module")
def lab(request):
    if os.geteuid() != 0:
        pytest.fail(
            "lab tests need root (systemd-nspawn, network namespaces): run `make test` as root"
        )
    spec = getattr(request.module, "LAB", {"hosts": 2})
    labmod.down(log=lambda *_: None)  # a lab left over by an interrupted run
    state = labmod.up(
        spec.get("hosts", 2),
        spec.get("flavors", labmod.FLAVORS),
        spec.get("faults", {}),
        log=lambda *_: None,
        standins=spec.get("standins", True),
    )
    try:
        yield state
    finally:
        labmod.down(log=lambda *_: None)
