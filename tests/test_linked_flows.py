"""The shipped flows start each other: callback objection -> feedback case -> complaint -> rework order."""

from __future__ import annotations

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from test_complaint import accept_and_carry_out, assign, investigate, propose
from test_feedback_case import AGENT as FB_AGENT
from test_feedback_case import DEPARTMENT, DIRECTOR, DISTRIBUTION, at
from test_follow_up_call import AGENT, SCRIPT, schedule

OBJECTION = {
    "objection": "the brake noise is back",
    "customer_consents_to_contact": True,
    "recording_ref": "rec-2026-1103-0042",
    "recording_exported": True,
    "feedback_form_ref": "FORM-88",
    "feedback_form_filled": True,
    "summary_sheet_row_added": True,
    **SCRIPT,
}


def test_a_callback_objection_opens_a_feedback_case(engine: af.Engine, clock: SimulatedClock) -> None:
    """With the form filled at the call, the objection opens feedback case '<call>-FB' at once."""
    schedule(engine, clock, "FC-1", customer={"name": "Li Wei"}, vehicle={"vin": "LFV1"})
    engine.fire("FC-1", "call_completed_with_objection", actor=AGENT, payload=OBJECTION)
    assert engine.children("FC-1") == ["FC-1-FB"]
    case = engine.instance("FC-1-FB")
    assert (case.flow, case.state) == ("feedback_case", "opened")
    assert (case.data["follow_up_call_id"], case.data["objection"], case.data["repair_order_id"]) == (
        "FC-1",
        "the brake noise is back",
        "RO-1",
    )


def test_without_the_form_no_case_opens_yet(engine: af.Engine, clock: SimulatedClock) -> None:
    """An objection recorded without the form leaves opening the case to the agent."""
    schedule(engine, clock, "FC-1")
    payload = {
        k: v
        for k, v in OBJECTION.items()
        if k
        not in ("feedback_form_ref", "recording_exported", "feedback_form_filled", "summary_sheet_row_added")
    }
    engine.fire("FC-1", "call_completed_with_objection", actor=AGENT, payload=payload)
    assert engine.children("FC-1") == []


def test_an_unresolved_feedback_case_opens_a_complaint(engine: af.Engine, clock: SimulatedClock) -> None:
    """Escalating the case registers complaint '<case>-CP' on the callback channel with the objection."""
    schedule(engine, clock, "FC-1", customer={"name": "Li Wei"}, vehicle={"vin": "LFV1"})
    engine.fire("FC-1", "call_completed_with_objection", actor=AGENT, payload=OBJECTION)
    case = "FC-1-FB"
    original = engine.instance(case).data
    assert original["customer"] == {"name": "Li Wei"}
    _handle(engine, clock, case)
    engine.fire(
        case,
        "second_callback",
        actor=FB_AGENT,
        payload={
            "second_callback_result": "still noisy",
            "summary_sheet_updated": True,
            "customer_satisfied": False,
        },
    )
    engine.fire(case, "escalate", actor=DIRECTOR)
    assert engine.children(case) == ["FC-1-FB-CP"]
    complaint = engine.instance("FC-1-FB-CP")
    assert (complaint.state, complaint.data["channel"], complaint.data["complaint_text"]) == (
        "registered",
        "callback",
        "the brake noise is back",
    )
    assert (engine.parent("FC-1-FB-CP"), engine.parent("FC-1-FB")) == ("FC-1-FB", "FC-1")
    assert engine.verify().ok


def _handle(engine: af.Engine, clock: SimulatedClock, case: str) -> None:
    """handled() of tests/test_feedback_case.py, on the spawned case's id."""
    at(clock, "2026-11-03T11:30")
    engine.fire(case, "distribute", actor=FB_AGENT, payload=DISTRIBUTION)
    at(clock, "2026-11-03T14:00")
    engine.fire(case, "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})
    at(clock, "2026-11-04T09:00")
    engine.fire(
        case, "department_completes", actor=DEPARTMENT, payload={"department_actions": "re-seated pads"}
    )


def test_a_complaints_rework_opens_a_repair_order(engine: af.Engine, clock: SimulatedClock) -> None:
    """Accepting a rework drafts repair order '<case>-RO<version>' for the agreed time, as the case's child."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    [order_id] = engine.children("C-1")
    order = engine.instance(order_id)
    assert (order.flow, order.state, order.data["complaint_id"]) == ("repair_order", "draft", "C-1")
    assert order.data["customer_concern_verbatim"] == "the brake noise is back two days after the repair"
    assert engine.parent(order_id) == "C-1"
