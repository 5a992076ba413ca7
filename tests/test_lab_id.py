"""The test suite never touches a lab a user started (`make demo`, `bcdrfix lab up`: ids 0-49)."""

from bcdrfix.lab import lab as labmod


def test_the_test_suite_uses_its_own_lab_id():
    assert 50 <= labmod.LAB_ID <= 99
    assert labmod.LAB_DIR.name == f"bcdrfix-lab{labmod.LAB_ID}"
    assert labmod.LAB_TAG != "bcdrlab0"
