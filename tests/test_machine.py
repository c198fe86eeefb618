"""The transitions adapter: one static Machine per flow version, branches by precomputed verdicts."""

from __future__ import annotations

import aftersales_flow as af
from aftersales_flow._machine import CompiledFlow


def test_the_first_passing_branch_is_taken(flows: af.FlowSet) -> None:
    """With verdicts (False, True) the second branch of qc_passed is taken; with none passing, no branch."""
    compiled = CompiledFlow(flows["repair_order"])
    assert compiled.resolve("final_inspection", "qc_passed", [False, True]).target == "ready_for_delivery"  # type: ignore[union-attr]
    assert compiled.resolve("final_inspection", "qc_passed", [True, True]).target == "washing"  # type: ignore[union-attr]
    assert compiled.resolve("final_inspection", "qc_passed", [False, False]) is None


def test_start_events_leave_a_pseudo_state(flows: af.FlowSet) -> None:
    """Start events resolve from the machine's start pseudo-state."""
    compiled = CompiledFlow(flows["repair_order"])
    assert compiled.resolve(None, "open_walk_in", [True]).target == "checking_in"  # type: ignore[union-attr]


def test_the_machine_holds_no_model(flows: af.FlowSet) -> None:
    """The shared machine has no model attached and no auto transitions."""
    compiled = CompiledFlow(flows["repair_order"])
    assert compiled.machine.models == []
    assert "to_closed" not in compiled.machine.events
