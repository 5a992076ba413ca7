"""Shared test configuration."""

import os
from pathlib import Path

# pyinfra_cli patches the standard library for gevent when it is first imported. A test that
# imports it first (through bcdrfix's inventory loading) while a module lock is held fails with
# "cannot release un-acquired lock", depending on the order the modules run in: import it once
# here, before any test, as bcdrfix's command line does before its work.
import pyinfra_cli.inventory  # noqa: F401
import pytest

# The test suite's labs have their own ids (50-99), so that `make test` never tears down a lab a
# user started with `make demo` / `bcdrfix lab up` (ids 0-49, default 0). BCDRFIX_TEST_LAB_ID
# picks one; otherwise it is BCDRFIX_LAB_ID + 50, so parallel sessions stay apart. Set before
# bcdrfix.lab is imported (it reads the id once) and inherited by every command the tests run.
TEST_LAB_ID = int(
    os.environ.get("BCDRFIX_TEST_LAB_ID") or 50 + int(os.environ.get("BCDRFIX_LAB_ID", "0")) % 50
)
os.environ["BCDRFIX_LAB_ID"] = str(TEST_LAB_ID)
os.environ.pop("BCDRFIX_LAB_DIR", None)


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def repo() -> Path:
    return REPO
