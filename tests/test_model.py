"""The frozen flow model: flows, transitions, field specs, flow sets."""

from __future__ import annotations

import pytest

import aftersales_flow as af
from aftersales_flow.model import freeze, thaw


def test_flows_are_frozen_values(flows: af.FlowSet) -> None:
    """A loaded flow and its parts cannot be changed."""
    flow = flows["repair_order"]
    with pytest.raises(AttributeError):
        flow.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        flow.params["qc_rework_escalation_count"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        flow.states["closed"] = flow.states["draft"]  # type: ignore[index]


def test_branches_and_events_from_a_state(flows: af.FlowSet) -> None:
    """branches() returns an event's transitions from a state in order; events_from() each event once."""
    flow = flows["repair_order"]
    assert [t.target for t in flow.branches("final_inspection", "qc_passed")] == [
        "washing",
        "ready_for_delivery",
    ]
    assert flow.branches("closed", "cancel") == ()
    assert flow.events_from("final_inspection") == ["qc_passed", "qc_failed"]
    assert flow.events_from(None) == ["draft_from_appointment", "open_for_complaint", "open_walk_in"]


def test_the_content_hash_follows_the_definition(flows: af.FlowSet) -> None:
    """The same definition gives the same hash; a brand's change gives another."""
    base = flows["repair_order"]
    assert af.load_flows("flows")["repair_order"].content_hash == base.content_hash
    assert af.load_flows("flows", brand="faw")["repair_order"].content_hash != base.content_hash


def test_flow_set_lookup_names_the_known_flows(flows: af.FlowSet) -> None:
    """An unknown flow name is an UnknownFlowError listing the loaded flows."""
    with pytest.raises(
        af.UnknownFlowError, match="unknown flow 'repair'; loaded flows: appointment, complaint"
    ):
        flows["repair"]
    assert "repair_order" in flows
    assert len(flows) == len(flows.names)


def test_freeze_and_thaw_round_trip() -> None:
    """freeze makes read-only copies; thaw gives plain lists and dicts back."""
    value = {"a": [1, {"b": 2}], "c": "x"}
    frozen = freeze(value)
    assert thaw(frozen) == value
    with pytest.raises(TypeError):
        frozen["a"][1]["b"] = 3
