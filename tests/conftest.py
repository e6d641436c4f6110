"""Shared fixtures: one simulator per test session on loopback, reset before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# No test may reach outside loopback, and nothing phones home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "REPLICATE_MODEL"):
    os.environ.pop(_var, None)

TOKEN = "r8_testtokenalpha0123456789"
OTHER_TOKEN = "r8_testtokenbravo9876543210"


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[object]:
    from neurolink_ui.simulator.runner import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture
def simulator(simulator_session):  # type: ignore[no-untyped-def]
    simulator_session.reset()
    yield simulator_session
    simulator_session.reset()


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def other_token() -> str:
    return OTHER_TOKEN
