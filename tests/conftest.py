"""Shared fixtures: the shipped flows, a simulated clock, an engine on an in-memory store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "flows"

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "nightly", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def flows() -> af.FlowSet:
    """The shipped base flows."""
    return af.load_flows(FLOWS)


@pytest.fixture
def clock() -> SimulatedClock:
    """A simulated clock at Monday 2026-11-02 08:00 UTC."""
    return SimulatedClock()


@pytest.fixture
def store() -> Iterator[af.SQLiteStore]:
    """An in-memory audit store."""
    with af.SQLiteStore(":memory:") as opened:
        yield opened


@pytest.fixture
def engine(flows: af.FlowSet, store: af.SQLiteStore, clock: SimulatedClock) -> af.Engine:
    """An engine on the shipped flows, an in-memory store and the simulated clock."""
    return af.Engine(flows, store, clock=clock)


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from the repository root, so that relative paths in messages are always the same."""
    monkeypatch.chdir(ROOT)
