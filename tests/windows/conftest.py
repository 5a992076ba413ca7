"""Fixtures for the Windows tests."""

import pytest

from .helpers import observation_output


@pytest.fixture
def broken_observation():
    from bcdrfix.windows.facts import parse_observation

    return parse_observation(observation_output("broken"))


@pytest.fixture
def healthy_observation():
    from bcdrfix.windows.facts import parse_observation

    return parse_observation(observation_output("healthy"))
