"""Property runs go deep into the shipped flows, not only around their first states.

Reaching a deep state needs every guard on the way satisfied by generated payloads (the hints
of the shipped rules) and the clock moved into the time windows the rules check. Each test is
one fixed (derandomized) run of the flow's state machine; a change to the hints or strategies
that loses the depth shows here as an unreached state.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

import aftersales_flow as af
from aftersales_flow.testing import flow_machine
from conftest import FLOWS


def reached(flows: af.FlowSet, name: str, *, examples: int, steps: int) -> set[str]:
    """The states of flow ``name`` that a fixed run of its state machine visits."""
    machine: Any = flow_machine(flows, name)
    seen: set[str] = set()

    class Recording(machine):  # type: ignore[misc]
        def teardown(self) -> None:
            seen.update(state for flow, state in self.visited if flow == name)
            super().teardown()

    fixed = settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True, database=None
    )
    run_state_machine_as_test(Recording, settings=fixed)
    return seen


@pytest.fixture(scope="module")
def shipped() -> af.FlowSet:
    return af.load_flows(FLOWS)


def test_an_appointment_run_reaches_the_customers_arrival(shipped: af.FlowSet) -> None:
    """Booked, confirmed in the workshop (parts labelled for the slot's day), then fulfilled."""
    seen = reached(shipped, "appointment", examples=20, steps=30)
    assert {"booked", "internally_confirmed", "fulfilled"} <= seen


def test_a_complaint_run_reaches_a_resolution_the_customer_confirms(shipped: af.FlowSet) -> None:
    """Levels with their participants, a proposal within the level's authority, carried out, confirmed."""
    seen = reached(shipped, "complaint", examples=10, steps=40)
    assert {"resolution_proposed", "resolution_in_progress", "awaiting_confirmation"} <= seen
    assert "closed_resolved" in seen
