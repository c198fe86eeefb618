"""Scenarios of new-car customer care (domain.md §2f), from the service advisor's point of view."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

SA = af.Actor("sa-017", roles={"service_advisor"})
TECH = af.Actor("tech-031", roles={"technician"})
CS = af.Actor("cs-004", roles={"cs_specialist"})
CALLBACK = af.Actor("cb-02", roles={"callback_agent"})
SYSTEM = af.Actor("scheduler", roles={"system"})

DOMAIN_STATES = {
    "handed_over",
    "first_month_call_done",
    "first_service_reminded",
    "first_visit_done",
    "three_day_call_done",
    "completed",
}

HANDOVER = {
    "customer": {"name": "Liu Yang", "phone": "137"},
    "vehicle": {"vin": "LFV0000000000003", "model": "Sagitar"},
    "sale_date": "2026-11-02",
    "sa_introduced": True,
    "wechat_added": True,
    "business_card_given": True,
    "sales_consultant": "Zhou Hui",
}
FIRST_CALL = {
    "vehicle_use_notes": "daily commute, about 40 km a day; happy with the car",
    "first_service_due_date": "2027-01-01",
    "first_service_due_km": 2000,
    "booking_line_explained": True,
    "vehicle_problems": [],
}
REMINDER = {
    "items_to_bring": ["maintenance booklet", "vehicle licence"],
    "booking_advised": True,
    "first_service_appointment_id": "AP-90",
}


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def signature(role: str, who: str, at: str, method: str = "e_sign", **extra: Any) -> dict[str, Any]:
    """A signature record."""
    return {"signer_role": role, "signer_name": who, "signed_at": at, "method": method, **extra}


def first_visit(clock: SimulatedClock, **changes: Any) -> dict[str, Any]:
    """What the first service visit records."""
    return {
        "repair_order_id": "RO-600",
        "process_explained": True,
        "care_points_explained": True,
        "technician_id": "tech-031",
        "inspection_data_sheet": {"sheet_id": "DS-600", "tyre_pressure_kpa": 240, "battery_v": 12.6},
        "inspection_data_sheet_signature": signature(
            "customer", "Liu Yang", clock.iso(), document_ref="DS-600"
        ),
        **changes,
    }


THREE_DAY_CALL = {
    "callback_issues": [],
    "service_score": 10,
    "suggestions": ["more parking for customers"],
    "follow_up_call_id": "FC-12",
}


def hand_over(engine: af.Engine, care: str = "NC-1", **changes: Any) -> af.Step:
    return engine.start(
        "new_car_care", care, event="car_handed_over", actor=SA, payload={**HANDOVER, **changes}
    )


def to_reminded(engine: af.Engine, clock: SimulatedClock, care: str = "NC-1") -> None:
    hand_over(engine, care)
    clock.advance("20d")
    engine.fire(care, "first_month_call", actor=SA, payload=FIRST_CALL)
    clock.advance("30d")
    engine.fire(care, "first_service_reminder", actor=CS, payload=REMINDER)
    clock.advance("8d")


def test_flow_has_every_state_of_the_brief(flows: af.FlowSet) -> None:
    """The five steps of §2f and completed are states, with a way out for customers who stop."""
    flow = flows["new_car_care"]
    assert set(flow.states) == DOMAIN_STATES | {"stopped"}
    assert flow.terminal_states == {"completed", "stopped"}
    for state in DOMAIN_STATES - {"completed"}:
        assert "stop_care" in flow.events_from(state), state


def test_parameters_hold_the_sources_deadlines(flows: af.FlowSet) -> None:
    """The first call is due within 30 days of handover and the post-visit call within 3 days (§3 #31, #32)."""
    params = flows["new_car_care"].params
    assert (params["new_car_first_call_days"], params["callback_due_days"]) == (30, 3)


def test_every_state_and_event_is_labelled_in_english_and_chinese(flows: af.FlowSet) -> None:
    """Each state and transition carries a non-empty English and Chinese label."""
    flow = flows["new_car_care"]
    assert flow.label.en.strip() and flow.label.zh.strip()
    for state in flow.states.values():
        assert state.label.en.strip() and state.label.zh.strip()
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None, transition.event
        assert transition.label.en.strip() and transition.label.zh.strip()


def test_happy_path_runs_from_handover_to_completed(engine: af.Engine, clock: SimulatedClock) -> None:
    """Handover, first-month call, reminder, first visit, 3-day call: completed, with each step's data kept."""
    start = clock.iso()
    assert hand_over(engine).target == "handed_over"
    clock.advance("20d")
    assert (
        engine.fire("NC-1", "first_month_call", actor=SA, payload=FIRST_CALL).target
        == "first_month_call_done"
    )
    clock.advance("30d")
    assert engine.fire("NC-1", "first_service_reminder", actor=CS, payload=REMINDER).target == (
        "first_service_reminded"
    )
    clock.advance("8d")
    assert (
        engine.fire("NC-1", "first_visit", actor=TECH, payload=first_visit(clock)).target
        == "first_visit_done"
    )
    clock.advance("2d")
    assert (
        engine.fire("NC-1", "three_day_call", actor=SA, payload=THREE_DAY_CALL).target
        == "three_day_call_done"
    )
    assert engine.fire("NC-1", "care_completed", actor=SYSTEM).target == "completed"
    data = engine.instance("NC-1").data
    assert data["handed_over_at"] == start
    assert (data["wechat_added"], data["business_card_given"], data["sa_introduced"]) == (True, True, True)
    assert (data["first_service_due_date"], data["first_service_due_km"]) == ("2027-01-01", 2000)
    assert data["items_to_bring"] == ["maintenance booklet", "vehicle licence"]
    assert data["inspection_data_sheet_signature"]["signer_role"] == "customer"
    assert (data["service_score"], data["suggestions"]) == (10, ["more parking for customers"])
    assert engine.replay("NC-1") == engine.instance("NC-1")
    assert engine.verify().ok


def test_customer_who_sold_the_car_stops_the_care(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer who sold the car (or opted out, or moved) ends the care: stopped."""
    to_reminded(engine, clock)
    with pytest.raises(af.PayloadRejected) as no_reason:
        engine.fire("NC-1", "stop_care", actor=SA)
    assert messages(no_reason.value) == ["'stop_care' must record 'stop_reason'"]
    step = engine.fire(
        "NC-1",
        "stop_care",
        actor=SA,
        payload={"stop_reason": "vehicle_sold", "stop_note": "sold to a friend"},
    )
    assert (step.source, step.target) == ("first_service_reminded", "stopped")
    with pytest.raises(af.IllegalTransition) as final:
        engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    assert messages(final.value) == [
        "the new_car_care is in its final state 'stopped' (Stopped: opted out, car sold or moved away) and "
        "accepts no more events"
    ]


def test_handover_needs_the_introduction_wechat_and_business_card(engine: af.Engine) -> None:
    """The advisor introduces their role, adds the customer on WeChat and gives a business card."""
    with pytest.raises(af.GuardRejected) as refused:
        hand_over(engine, sa_introduced=False, wechat_added=False, business_card_given=False)
    assert messages(refused.value) == [
        "the service advisor has not introduced their role to the customer",
        "the customer is not added on WeChat; add them, or record why not under 'wechat_override_reason'",
        "the service advisor's business card was not given",
    ]


def test_handover_without_wechat_needs_a_reason(engine: af.Engine) -> None:
    """A customer without WeChat is handed over when the reason is recorded (and audited)."""
    step = hand_over(engine, wechat_added=False, wechat_override_reason="customer does not use WeChat")
    assert step.target == "handed_over"
    assert engine.history("NC-1")[-1].payload["wechat_override_reason"] == "customer does not use WeChat"


def test_first_month_call_tells_the_first_service_and_booking_line(engine: af.Engine) -> None:
    """The call must tell a first-service date after the sale, a mileage, and how to book by phone."""
    hand_over(engine)
    wrong = {
        **FIRST_CALL,
        "first_service_due_date": "2026-10-01",
        "first_service_due_km": 0,
        "booking_line_explained": False,
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("NC-1", "first_month_call", actor=SA, payload=wrong)
    assert messages(refused.value) == [
        "the first-service date told to the customer must be after the sale date",
        "the first-service mileage told to the customer must be more than 0 km",
        "the customer was not told how to book by phone",
    ]
    with pytest.raises(af.PayloadRejected) as missing:
        engine.fire(
            "NC-1",
            "first_month_call",
            actor=SA,
            payload={"vehicle_use_notes": "fine", "vehicle_problems": []},
        )
    assert messages(missing.value)[:3] == [
        "'first_month_call' must record 'booking_line_explained'",
        "'first_month_call' must record 'first_service_due_date'",
        "'first_month_call' must record 'first_service_due_km'",
    ]


def test_a_vehicle_problem_needs_an_inspection_invitation(engine: af.Engine) -> None:
    """A problem mentioned in the first-month call must lead to an inspection invitation at once."""
    hand_over(engine)
    problem = {**FIRST_CALL, "vehicle_problems": ["rattle from the dashboard"]}
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("NC-1", "first_month_call", actor=SA, payload=problem)
    assert messages(refused.value) == [
        "the customer reported a vehicle problem; invite them for an inspection at once ('inspection_invited')"
    ]
    step = engine.fire(
        "NC-1",
        "first_month_call",
        actor=SA,
        payload={**problem, "inspection_invited": True, "inspection_appointment_id": "AP-88"},
    )
    assert step.target == "first_month_call_done"
    assert engine.instance("NC-1").data["inspection_appointment_id"] == "AP-88"


def test_first_service_reminder_says_what_to_bring_and_to_book(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The reminder names what to bring and asks the customer to book a time."""
    hand_over(engine)
    engine.fire("NC-1", "first_month_call", actor=SA, payload=FIRST_CALL)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "NC-1",
            "first_service_reminder",
            actor=CS,
            payload={"items_to_bring": [], "booking_advised": False},
        )
    assert messages(refused.value) == [
        "the customer was not told what to bring",
        "the customer was not asked to book a time (booking avoids queuing)",
    ]


def test_first_visit_is_refused_without_the_customers_signature(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The inspection data sheet must carry the customer's signature record before the first visit counts."""
    to_reminded(engine, clock)
    unsigned = first_visit(clock)
    del unsigned["inspection_data_sheet_signature"]
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("NC-1", "first_visit", actor=SA, payload=unsigned)
    assert messages(refused.value) == [
        "'first_visit' must record 'inspection_data_sheet_signature'",
        "the customer's signature on 'inspection_data_sheet_signature' is missing",
    ]
    assert engine.instance("NC-1").state == "first_service_reminded"


def test_first_visit_refuses_a_signature_that_is_not_the_customers(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A sheet signed by the technician, or in the name of the staff member entering it, is refused."""
    to_reminded(engine, clock)
    by_technician = first_visit(
        clock, inspection_data_sheet_signature=signature("technician", "Zhao Gang", clock.iso())
    )
    with pytest.raises(af.GuardRejected) as technician:
        engine.fire("NC-1", "first_visit", actor=TECH, payload=by_technician)
    assert messages(technician.value) == [
        "the customer's signature on 'inspection_data_sheet_signature' is signed by a technician, not by the customer"
    ]
    forged = {"signer_role": "customer", "signer_id": SA.id, "signed_at": clock.iso(), "method": "e_sign"}
    with pytest.raises(af.GuardRejected) as staff:
        engine.fire(
            "NC-1",
            "first_visit",
            actor=SA,
            payload=first_visit(clock, inspection_data_sheet_signature=forged),
        )
    assert messages(staff.value) == [
        "the customer's signature on 'inspection_data_sheet_signature' is signed by the staff member entering it, "
        "not by the customer"
    ]


def test_first_visit_refuses_a_phone_consent_for_the_sheet(engine: af.Engine, clock: SimulatedClock) -> None:
    """The sheet is signed on site: a recorded phone consent is not an accepted method."""
    to_reminded(engine, clock)
    phone = signature("customer", "Liu Yang", clock.iso(), "recorded_phone_consent", recording_ref="rec-1")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "NC-1", "first_visit", actor=SA, payload=first_visit(clock, inspection_data_sheet_signature=phone)
        )
    assert messages(refused.value) == [
        "the customer's signature on 'inspection_data_sheet_signature' is made by 'recorded_phone_consent', which "
        "this dealership does not accept (accepted: wet_ink_scan, e_sign, in_app)"
    ]


def test_first_visit_needs_the_tour_and_the_technicians_explanation(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The advisor shows the customer around and the technician explains the care points."""
    to_reminded(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "NC-1",
            "first_visit",
            actor=SA,
            payload=first_visit(clock, process_explained=False, care_points_explained=False),
        )
    assert messages(refused.value) == [
        "the service advisor has not shown the customer around and explained the process",
        "the technician has not explained the care points, key components, today's work and the free checks",
    ]


def test_customer_may_come_for_first_service_before_the_reminder(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A customer who books on their own comes straight after the first-month call."""
    hand_over(engine)
    engine.fire("NC-1", "first_month_call", actor=SA, payload=FIRST_CALL)
    step = engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    assert (step.source, step.target) == ("first_month_call_done", "first_visit_done")


def test_three_day_call_records_issues_score_and_suggestions(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The call after the visit must record the issues raised, the service score and suggestions."""
    to_reminded(engine, clock)
    engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("NC-1", "three_day_call", actor=CALLBACK, payload={"follow_up_call_id": "FC-12"})
    assert messages(refused.value) == [
        "'three_day_call' must record 'callback_issues'",
        "'three_day_call' must record 'service_score'",
        "'three_day_call' must record 'suggestions'",
        "the service score must be recorded as a number of 0 or more",
    ]
    step = engine.fire("NC-1", "three_day_call", actor=CALLBACK, payload=THREE_DAY_CALL)
    assert step.target == "three_day_call_done"


def test_issues_from_the_call_go_to_a_feedback_case_before_completion(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Issues raised in the 3-day call must be handed to a feedback case before the care is completed."""
    to_reminded(engine, clock)
    engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    engine.fire(
        "NC-1", "three_day_call", actor=SA, payload={**THREE_DAY_CALL, "callback_issues": ["car not washed"]}
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("NC-1", "care_completed", actor=SA)
    assert messages(refused.value) == [
        "the customer raised issues in the 3-day call; hand them to a feedback case ('feedback_case_id') first"
    ]
    step = engine.fire("NC-1", "care_completed", actor=SA, payload={"feedback_case_id": "FB-7"})
    assert step.target == "completed"


def test_a_technician_does_not_make_the_first_month_call(engine: af.Engine) -> None:
    """The first-month call is the service advisor's."""
    hand_over(engine)
    with pytest.raises(af.RoleDenied) as refused:
        engine.fire("NC-1", "first_month_call", actor=TECH, payload=FIRST_CALL)
    assert messages(refused.value) == [
        "'first_month_call' needs one of the roles service_advisor; tech-031 holds technician"
    ]


# --- deadlines: first-month call after new_car_first_call_days, 3-day call after callback_due_days ---


def ticked(engine: af.Engine) -> list[tuple[str, str | None, str | None, str, datetime]]:
    """What a tick at the clock's now fires: (event, from, to, actor, time) per accepted step."""
    return [(s.event, s.source, s.target, s.actor.id, s.at) for s in engine.tick()]


def test_the_first_month_call_is_due_30_days_after_handover(engine: af.Engine, clock: SimulatedClock) -> None:
    """No call 30 days after the handover records an SLA breach, once; the call is still accepted later."""
    handed = clock()
    hand_over(engine)
    clock.set(handed + timedelta(days=30) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(handed + timedelta(days=30))
    assert ticked(engine) == [("sla_breached", "handed_over", "handed_over", "system", clock())]
    assert engine.history("NC-1")[-1].payload == {
        "deadline": "first_month_call",
        "due_at": "2026-12-02T08:00:00+00:00",
    }
    assert ticked(engine) == []
    clock.advance("1d")
    assert (
        engine.fire("NC-1", "first_month_call", actor=SA, payload=FIRST_CALL).target
        == "first_month_call_done"
    )
    assert engine.store.pending_deadlines("NC-1") == []


def test_the_three_day_call_is_due_three_days_after_the_first_visit(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """No call 3 days after the first visit records an SLA breach, once."""
    to_reminded(engine, clock)
    visited = clock()
    engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    assert [(d.name, d.due_at) for d in engine.store.pending_deadlines("NC-1")] == [
        ("three_day_call", visited + timedelta(days=3))
    ]
    clock.set(visited + timedelta(days=3) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(visited + timedelta(days=3))
    assert ticked(engine) == [("sla_breached", "first_visit_done", "first_visit_done", "system", clock())]
    assert engine.history("NC-1")[-1].payload["deadline"] == "three_day_call"
    assert ticked(engine) == []


def test_calls_in_time_leave_nothing_to_fire(engine: af.Engine, clock: SimulatedClock) -> None:
    """Each call made in time clears its clock; nothing fires afterwards."""
    to_reminded(engine, clock)
    engine.fire("NC-1", "first_visit", actor=SA, payload=first_visit(clock))
    clock.advance("2d")
    engine.fire("NC-1", "three_day_call", actor=SA, payload=THREE_DAY_CALL)
    assert engine.store.pending_deadlines("NC-1") == []
    clock.advance("10d")
    assert ticked(engine) == []
