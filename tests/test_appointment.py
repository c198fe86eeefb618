"""Scenarios of the shipped service appointment (domain.md §2b), from the booking desk's point of view.

The simulated clock starts on Monday 2026-11-02 08:00 UTC, 16:00 at a dealer in Asia/Shanghai;
times in payloads are written in the dealer's local time (+08:00).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS

SA = af.Actor("sa-017", roles={"service_advisor"})
CS = af.Actor("cs-04", roles={"cs_specialist"})
PARTS = af.Actor("parts-mgr-1", roles={"parts_manager"})
FOREMAN = af.Actor("foreman-02", roles={"foreman"})
SYSTEM = af.Actor("scheduler", roles={"system"})
CUSTOMER = af.Actor("cust-88", roles={"customer"})

DOMAIN_STATES = {
    "outreach_pending",
    "outreach_declined",
    "booked",
    "reschedule_pending",
    "internally_confirmed",
    "day_before_reminded",
    "arrival_confirmed",
    "fulfilled",
    "no_show",
    "closed_no_show",
    "cancelled_pending_fix",
    "cancelled",
}
NON_TERMINAL = [
    "outreach_pending",
    "booked",
    "reschedule_pending",
    "internally_confirmed",
    "day_before_reminded",
    "arrival_confirmed",
    "no_show",
]
# Every event of §2b's transition table with the roles its R column names.
DOMAIN_ROLES = {
    "create_outreach": {"system", "cs_specialist", "service_advisor"},
    "customer_agrees": {"cs_specialist", "service_advisor"},
    "customer_refuses": {"cs_specialist", "service_advisor"},
    "inbound_request": {"cs_specialist", "service_advisor", "service_assistant"},
    "internal_confirmation_done": {"service_advisor", "parts_manager"},
    "internal_check_failed": {"service_advisor", "parts_manager"},
    "new_time_agreed": {"service_advisor"},
    "no_known_fix": {"service_advisor"},
    "day_before_reminder": {"service_advisor", "cs_specialist", "system"},
    "hour_before_confirmation": {"service_advisor"},
    "readiness_check": {"service_advisor", "foreman"},
    "dealer_cannot_honour": {"service_advisor"},
    "customer_arrived": {"service_advisor"},
    "slot_missed": {"system"},
    "schedule_retry": {"system", "service_advisor"},
    "close_no_show": {"service_advisor", "system"},
    "customer_cancels": {"customer", "service_advisor", "cs_specialist"},
}

SLOT = "2026-11-05T09:00:00+08:00"
"""Thursday 09:00, three days after Monday's booking call."""

INBOUND: dict[str, Any] = {
    "customer": {"name": "Li Wei", "phone": "13800000000"},
    "vehicle": {"plate": "粤A12345", "model": "Accord"},
    "service_need": "10,000 km service",
    "slot_at": SLOT,
    "slot_in_peak": False,
    "slot_not_overlapping": True,
    "documents_reminder_given": True,
}
OUTREACH: dict[str, Any] = {
    "origin": "service_campaign",
    "customer": {"name": "Li Wei", "phone": "13800000000"},
    "vehicle": {"plate": "粤A12345"},
}
AGREED: dict[str, Any] = {
    "slot_at": SLOT,
    "slot_in_peak": False,
    "slot_not_overlapping": True,
    "documents_reminder_given": True,
    "mileage": 9800,
    "service_due_confirmed": True,
}
CONFIRMATION: dict[str, Any] = {
    "service_items": ["oil and filter", "brake check"],
    "reserved_parts": [
        {"part_no": "15400-RTA", "label": {"customer_name": "Li Wei", "appointment_date": "2026-11-05"}}
    ],
    "capacity_ok": True,
    "technician_id": "tech-031",
    "bay_id": "B2",
    "results_entered_in_register": True,
}
READY = {"technician_ok": True, "parts_ok": True, "special_tools_ok": True, "tech_docs_ok": True}


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def at(clock: SimulatedClock, local: str) -> None:
    """Set the clock to a dealer-local time such as ``'2026-11-05T08:15:00+08:00'``."""
    clock.set(datetime.fromisoformat(local))


def book(engine: af.Engine, appointment: str = "AP-1", **changes: Any) -> af.Step:
    """An inbound booking, with ``changes`` to the default request."""
    return engine.start(
        "appointment", appointment, event="inbound_request", actor=CS, payload={**INBOUND, **changes}
    )


def confirm(engine: af.Engine, appointment: str = "AP-1", **changes: Any) -> af.Step:
    """The internal confirmation with every fact in place."""
    return engine.fire(
        appointment, "internal_confirmation_done", actor=SA, payload={**CONFIRMATION, **changes}
    )


def reminded(engine: af.Engine, clock: SimulatedClock, appointment: str = "AP-1") -> None:
    """Book for Thursday 09:00, confirm, and make the day-before reminder on Wednesday."""
    book(engine, appointment)
    confirm(engine, appointment)
    at(clock, "2026-11-04T10:00:00+08:00")
    engine.fire(appointment, "day_before_reminder", actor=CS, payload={"customer_reached": True})


def arrival_confirmed(engine: af.Engine, clock: SimulatedClock, appointment: str = "AP-1") -> None:
    """Everything up to the hour-before confirmation on Thursday 08:15."""
    reminded(engine, clock, appointment)
    at(clock, "2026-11-05T08:15:00+08:00")
    engine.fire(
        appointment,
        "hour_before_confirmation",
        actor=SA,
        payload={"expected_arrival_time": "2026-11-05T08:55:00+08:00", "board_updated": True},
    )


def to_state(engine: af.Engine, clock: SimulatedClock, state: str, appointment: str = "AP-1") -> af.Instance:
    """An appointment brought to ``state`` along the shortest ordinary path."""
    if state == "outreach_pending":
        engine.start("appointment", appointment, event="create_outreach", actor=SYSTEM, payload=OUTREACH)
    elif state == "booked":
        book(engine, appointment)
    elif state == "reschedule_pending":
        book(engine, appointment)
        engine.fire(
            appointment, "internal_check_failed", actor=PARTS, payload={"failed_checks": ["parts_stock"]}
        )
    elif state == "internally_confirmed":
        book(engine, appointment)
        confirm(engine, appointment)
    elif state == "day_before_reminded":
        reminded(engine, clock, appointment)
    elif state == "arrival_confirmed":
        arrival_confirmed(engine, clock, appointment)
    elif state == "no_show":
        book(engine, appointment)
        confirm(engine, appointment)
        at(clock, "2026-11-05T09:31:00+08:00")
        engine.fire(appointment, "slot_missed", actor=SYSTEM)
    instance = engine.instance(appointment)
    assert instance.state == state
    return instance


def overlay_flows(tmp_path: Path, params: Mapping[str, Any]) -> af.FlowSet:
    """The shipped appointment flow with a brand overlay that changes ``params``."""
    for flow in FLOWS.glob("*.yaml"):  # every base flow: the appointment links to the others
        shutil.copy(flow, tmp_path / flow.name)
    brand = tmp_path / "brands" / "acme"
    brand.mkdir(parents=True)
    lines = "".join(f"  {name}: {value}\n" for name, value in params.items())
    (brand / "appointment.yaml").write_text(f"extends: appointment\nbrand: acme\nparams:\n{lines}", "utf-8")
    return af.load_flows(tmp_path, brand="acme")


def brand_engine(tmp_path: Path, clock: SimulatedClock, **params: Any) -> af.Engine:
    return af.Engine(overlay_flows(tmp_path, params), af.SQLiteStore(":memory:"), clock=clock)


# --- the definition -------------------------------------------------------------------------


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The shipped appointment holds the 12 states and 17 events of §2b, terminal states included."""
    flow = flows["appointment"]
    assert set(flow.states) == DOMAIN_STATES
    assert set(flow.events) >= set(DOMAIN_ROLES)
    assert flow.terminal_states == {
        "outreach_declined",
        "fulfilled",
        "closed_no_show",
        "cancelled_pending_fix",
        "cancelled",
    }
    assert {t.event for t in flow.starts} == {"create_outreach", "inbound_request"}


def test_every_event_has_the_roles_of_the_brief(flows: af.FlowSet) -> None:
    """Each event of §2b may be fired by exactly the roles the brief's R column names."""
    flow = flows["appointment"]
    for transition in (*flow.starts, *flow.transitions):
        if transition.event in DOMAIN_ROLES:
            assert transition.roles == DOMAIN_ROLES[transition.event], transition.event


def test_any_non_terminal_state_may_cancel_or_be_given_up_by_the_dealer(flows: af.FlowSet) -> None:
    """customer_cancels and dealer_cannot_honour leave every non-terminal state."""
    flow = flows["appointment"]
    for event in ("customer_cancels", "dealer_cannot_honour"):
        assert {t.source for t in flow.transitions if t.event == event} == set(NON_TERMINAL)


def test_every_state_and_event_is_labelled_in_english_and_chinese(flows: af.FlowSet) -> None:
    """Each state and transition carries a non-empty English and Chinese label."""
    flow = flows["appointment"]
    assert flow.label.en and flow.label.zh
    for state in flow.states.values():
        assert state.label.en.strip() and state.label.zh.strip() and state.label.zh != state.name
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None, transition.event
        assert transition.label.en.strip() and transition.label.zh.strip()


def test_numbers_of_the_brief_are_parameters(flows: af.FlowSet) -> None:
    """The §3 numbers of the appointment and the reminder scans are per-brand parameters with their defaults."""
    params = flows["appointment"].params
    assert params["timezone"] == "Asia/Shanghai"
    assert dict(params["first_service"]) == {"days": 60, "km": 2000}
    assert dict(params["regular_service"]) == {"km": 5000, "months": 6}
    assert list(params["reminder_lead_days"]) == [7, 10]
    assert params["phone_answer_max_rings"] == 3
    assert params["peak_min_alternatives"] == 2
    assert params["allow_same_day"] is False
    assert params["internal_confirmation_max"] == "1h"
    assert list(params["parts_label_fields"]) == ["customer_name", "appointment_date"]
    assert (params["reminder_min_lead_days"], params["reminder_min_lead_inclusive"]) == (3, True)
    assert (params["day_before_reminder_offset"], params["arrival_confirmation_offset"]) == ("1d", "1h")
    assert params["board_posting_time"] == "17:30"
    assert params["readiness_check_offset"] == "1d"
    assert params["no_show_grace"] == "30m"
    assert list(params["no_show_retry_window_days"]) == [3, 10]
    assert params["max_appointment_attempts"] == 3
    assert params["business_calendar"] is None


# --- happy paths to each terminal state -----------------------------------------------------


def test_inbound_booking_runs_to_fulfilled(engine: af.Engine, clock: SimulatedClock) -> None:
    """Booked 3 days ahead: confirmed, ready, reminded the day before, confirmed an hour before, arrived."""
    step = book(engine)
    assert (step.target, engine.instance("AP-1").data["origin"]) == ("booked", "inbound")
    clock.advance("40m")
    engine.fire(
        "AP-1",
        "record_confirmation_result",
        actor=PARTS,
        payload={"reserved_parts": CONFIRMATION["reserved_parts"]},
    )
    engine.fire(
        "AP-1",
        "internal_confirmation_done",
        actor=SA,
        payload={k: v for k, v in CONFIRMATION.items() if k != "reserved_parts"},
    )
    at(clock, "2026-11-04T09:30:00+08:00")
    engine.fire("AP-1", "readiness_check", actor=FOREMAN, payload=READY)
    engine.fire("AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True})
    at(clock, "2026-11-05T08:10:00+08:00")
    engine.fire(
        "AP-1",
        "hour_before_confirmation",
        actor=SA,
        payload={"expected_arrival_time": "2026-11-05T08:50:00+08:00", "board_updated": True},
    )
    at(clock, "2026-11-05T08:52:00+08:00")
    step = engine.fire("AP-1", "customer_arrived", actor=SA, payload={"repair_order_id": "RO-77"})
    instance = engine.instance("AP-1")
    assert (step.target, instance.data["repair_order_id"]) == ("fulfilled", "RO-77")
    assert [e.event for e in engine.history("AP-1")] == [
        "inbound_request",
        "record_confirmation_result",
        "internal_confirmation_done",
        "readiness_check",
        "day_before_reminder",
        "hour_before_confirmation",
        "customer_arrived",
    ]
    assert engine.replay("AP-1") == instance
    assert engine.verify().ok


def test_proactive_outreach_runs_to_fulfilled(engine: af.Engine, clock: SimulatedClock) -> None:
    """A campaign call the customer agrees to books the slot, and the customer arrives without reminders due."""
    engine.start("appointment", "AP-1", event="create_outreach", actor=SYSTEM, payload=OUTREACH)
    step = engine.fire(
        "AP-1", "customer_agrees", actor=CS, payload={**AGREED, "slot_at": "2026-11-04T09:00:00+08:00"}
    )
    assert step.target == "booked"
    confirm(engine, reserved_parts=[], no_parts_needed=True)
    at(clock, "2026-11-04T08:20:00+08:00")
    engine.fire(
        "AP-1",
        "hour_before_confirmation",
        actor=SA,
        payload={"expected_arrival_time": "2026-11-04T09:00:00+08:00", "board_updated": True},
    )
    assert engine.fire("AP-1", "customer_arrived", actor=SA).target == "fulfilled"


def test_customer_refusing_the_outreach_ends_declined_with_the_reason(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A refusal needs its reason; with it the outreach ends in outreach_declined."""
    to_state(engine, clock, "outreach_pending")
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("AP-1", "customer_refuses", actor=CS)
    assert messages(refused.value) == [
        "'customer_refuses' must record 'refusal_reason'",
        "ask the customer why and record the reason",
    ]
    step = engine.fire("AP-1", "customer_refuses", actor=CS, payload={"refusal_reason": "services elsewhere"})
    assert (step.target, engine.instance("AP-1").data["refusal_reason"]) == (
        "outreach_declined",
        "services elsewhere",
    )


def test_no_known_fix_cancels_pending_a_fix(engine: af.Engine, clock: SimulatedClock) -> None:
    """A fault without a published fix, not safety-affecting, told to the customer: cancelled pending the fix."""
    to_state(engine, clock, "booked")
    payload = {
        "fault_description": "infotainment freezes",
        "no_published_fix": True,
        "safety_affecting": False,
        "customer_notified": True,
        "watch_item_id": "W-12",
    }
    assert engine.fire("AP-1", "no_known_fix", actor=SA, payload=payload).target == "cancelled_pending_fix"


def test_safety_affecting_fault_cannot_wait_for_a_fix(engine: af.Engine, clock: SimulatedClock) -> None:
    """A safety-affecting fault is not cancelled to wait for the OEM; each missing fact is named."""
    to_state(engine, clock, "reschedule_pending")
    payload = {
        "fault_description": "brake judder",
        "no_published_fix": False,
        "safety_affecting": True,
        "customer_notified": False,
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "no_known_fix", actor=SA, payload=payload)
    assert messages(refused.value) == [
        "the OEM has published a fix for this fault; keep the appointment",
        "the fault affects safety: it cannot wait for an OEM fix; keep the appointment",
        "the customer has not been told",
    ]


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_customer_cancels_from_any_open_state(engine: af.Engine, clock: SimulatedClock, state: str) -> None:
    """The customer may cancel from every non-terminal state, with a reason."""
    to_state(engine, clock, state)
    step = engine.fire("AP-1", "customer_cancels", actor=CUSTOMER, payload={"cancel_reason": "sold the car"})
    assert step.target == "cancelled"


def test_cancelling_needs_a_reason(engine: af.Engine, clock: SimulatedClock) -> None:
    """A cancellation without the customer's reason is refused."""
    to_state(engine, clock, "booked")
    with pytest.raises(af.TransitionRefused) as refused:
        engine.fire("AP-1", "customer_cancels", actor=SA, payload={"cancel_reason": ""})
    assert "the customer's reason is not recorded" in messages(refused.value)


def test_a_finished_appointment_accepts_no_more_events(engine: af.Engine, clock: SimulatedClock) -> None:
    """After the customer cancels, nothing moves the appointment again."""
    to_state(engine, clock, "booked")
    engine.fire("AP-1", "customer_cancels", actor=SA, payload={"cancel_reason": "sold the car"})
    with pytest.raises(af.IllegalTransition):
        engine.fire("AP-1", "customer_arrived", actor=SA)


# --- slot rules -----------------------------------------------------------------------------


def test_same_day_booking_is_refused(engine: af.Engine) -> None:
    """Booking 16:00 for 18:00 the same local day is refused with the same-day rule's words."""
    with pytest.raises(af.GuardRejected) as refused:
        book(engine, slot_at="2026-11-02T18:00:00+08:00")
    assert messages(refused.value) == [
        "same-day appointments are not recommended: book another day, or record why under 'same_day_override_reason'"
    ]
    assert engine.history("AP-1")[-1].accepted is False


def test_same_day_booking_with_an_override_reason_is_accepted_and_audited(engine: af.Engine) -> None:
    """A same-day booking with an override reason is accepted; the reason is in the audited payload."""
    reason = "safety comeback: brake noise after last week's repair"
    step = book(engine, slot_at="2026-11-02T18:00:00+08:00", same_day_override_reason=reason)
    assert step.target == "booked"
    event = engine.history("AP-1")[-1]
    assert event.payload["same_day_override_reason"] == reason
    assert event.guards["slot_not_same_day(allowed=params.allow_same_day, timezone=params.timezone)"] is False
    assert event.guards["payload_has(field='same_day_override_reason')"] is True


def test_same_day_is_judged_on_the_dealers_local_date(engine: af.Engine, clock: SimulatedClock) -> None:
    """Tomorrow 01:00 in Shanghai is not same-day even on the same UTC date; 10:00 after midnight local is."""
    assert book(engine, "AP-1", slot_at="2026-11-03T01:00:00+08:00").target == "booked"
    at(clock, "2026-11-03T01:00:00+08:00")  # Monday 17:00 UTC
    with pytest.raises(af.GuardRejected):
        book(engine, "AP-2", slot_at="2026-11-03T10:00:00+08:00")


def test_a_brand_may_allow_same_day_bookings(tmp_path: Path, clock: SimulatedClock) -> None:
    """With allow_same_day true, a same-day booking needs no override reason."""
    engine = brand_engine(tmp_path, clock, allow_same_day="true")
    assert book(engine, slot_at="2026-11-02T18:00:00+08:00").target == "booked"


def test_peak_time_booking_without_two_alternatives_is_refused(engine: af.Engine) -> None:
    """At peak time, offering one alternative slot is refused; two are accepted."""
    peak = {"slot_in_peak": True, "alternatives_offered": ["2026-11-05T14:00:00+08:00"]}
    with pytest.raises(af.GuardRejected) as refused:
        book(engine, "AP-1", **peak)
    assert messages(refused.value) == [
        "the time asked for is at peak time: explain, and offer the customer at least 2 alternative slots (1 offered)"
    ]
    offered = ["2026-11-05T14:00:00+08:00", "2026-11-06T10:00:00+08:00"]
    assert book(engine, "AP-2", slot_in_peak=True, alternatives_offered=offered).target == "booked"


def test_peak_rule_also_binds_the_outreach_booking(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer agreeing to a peak slot on an outreach call also needs two alternatives offered."""
    to_state(engine, clock, "outreach_pending")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "customer_agrees", actor=CS, payload={**AGREED, "slot_in_peak": True})
    assert messages(refused.value) == [
        "the time asked for is at peak time: explain, and offer the customer at least 2 alternative slots (0 offered)"
    ]


def test_overlapping_or_past_slots_are_refused(engine: af.Engine) -> None:
    """A slot the scheduler reports overlapping, or one already past, is refused in plain words."""
    with pytest.raises(af.GuardRejected) as refused:
        book(engine, slot_at="2026-11-01T09:00:00+08:00", slot_not_overlapping=False)
    assert messages(refused.value) == [
        "the slot 2026-11-01 09:00 (Asia/Shanghai) has already passed",
        "the slot overlaps another appointment: space appointments apart and choose another time",
    ]


def test_inbound_request_records_who_and_the_documents_reminder(engine: af.Engine) -> None:
    """An inbound booking names the customer and phone and reminds them of the documents."""
    with pytest.raises(af.GuardRejected) as refused:
        book(engine, customer={"name": "Li Wei"}, documents_reminder_given=False)
    assert messages(refused.value) == [
        "the customer's phone number is not recorded",
        "the customer was not reminded to bring the vehicle papers and service records",
    ]


def test_outreach_cannot_be_an_inbound_request(engine: af.Engine) -> None:
    """create_outreach is for proactive origins; an inbound origin is refused."""
    with pytest.raises(af.GuardRejected) as refused:
        engine.start(
            "appointment",
            "AP-1",
            event="create_outreach",
            actor=CS,
            payload={**OUTREACH, "origin": "inbound"},
        )
    assert messages(refused.value) == [
        "a customer's own request starts with 'inbound_request', not with an outreach call"
    ]


# --- internal confirmation and rescheduling -------------------------------------------------


def test_internal_confirmation_names_every_missing_fact(engine: af.Engine, clock: SimulatedClock) -> None:
    """Without items, a full parts label, capacity and the register entry, the confirmation is refused."""
    to_state(engine, clock, "booked")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1",
            "internal_confirmation_done",
            actor=PARTS,
            payload={
                "reserved_parts": [{"part_no": "15400-RTA", "label": {"appointment_date": "2026-11-05"}}]
            },
        )
    assert messages(refused.value) == [
        "the service items are not determined by the service advisor",
        "reserved part 15400-RTA's label lacks customer_name",
        "workshop capacity (technician and bay) is not confirmed for the slot",
        "the confirmation results are not entered in the appointment register",
    ]


def test_back_ordered_parts_confirm_when_reported_with_an_eta(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A back-order counts as checked once its ETA is reported to the service advisor."""
    to_state(engine, clock, "booked")
    backorder = {"reserved_parts": [], "backorders": [{"part_no": "04465-BRK", "eta": "2026-11-04"}]}
    with pytest.raises(af.GuardRejected) as refused:
        confirm(engine, **backorder)
    assert messages(refused.value) == ["the back-order and its ETA are not reported to the service advisor"]
    assert confirm(engine, **backorder, backorder_reported_to_sa=True).target == "internally_confirmed"


def test_failed_check_leads_to_a_new_time_agreed_with_the_customer(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A failed internal check needs a new time the customer was told of; the booking clock restarts."""
    to_state(engine, clock, "booked")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "internal_check_failed", actor=PARTS, payload={"failed_checks": []})
    assert messages(refused.value) == [
        "name what cannot be met: repair solution, parts stock or reception capacity"
    ]
    engine.fire("AP-1", "internal_check_failed", actor=PARTS, payload={"failed_checks": ["parts_stock"]})
    clock.advance("30m")
    new_slot = {"slot_at": "2026-11-06T09:00:00+08:00", "slot_in_peak": False, "slot_not_overlapping": True}
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "new_time_agreed", actor=SA, payload={**new_slot, "customer_notified": False})
    assert messages(refused.value) == ["the customer has not been told about the change"]
    step = engine.fire("AP-1", "new_time_agreed", actor=SA, payload={**new_slot, "customer_notified": True})
    assert (step.target, engine.instance("AP-1").data["booked_at"]) == ("booked", clock.iso())


def test_parts_labelled_for_the_old_slot_must_be_relabelled(engine: af.Engine, clock: SimulatedClock) -> None:
    """After the dealer moves the appointment, labels dated for the old slot and old capacity no longer count."""
    to_state(engine, clock, "internally_confirmed")
    engine.fire(
        "AP-1",
        "dealer_cannot_honour",
        actor=SA,
        payload={"cannot_honour_reason": "lift out of order", "customer_notified_asap": True},
    )
    new_slot = {"slot_at": "2026-11-06T09:00:00+08:00", "slot_in_peak": False, "slot_not_overlapping": True}
    engine.fire("AP-1", "new_time_agreed", actor=SA, payload={**new_slot, "customer_notified": True})
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "internal_confirmation_done", actor=SA)
    assert messages(refused.value) == [
        "reserved part 15400-RTA's label is dated 2026-11-05, not the appointment date 2026-11-06",
        "workshop capacity (technician and bay) is not confirmed for the slot",
        "the confirmation results are not entered in the appointment register",
    ]
    relabelled = [
        {"part_no": "15400-RTA", "label": {"customer_name": "Li Wei", "appointment_date": "2026-11-06"}}
    ]
    assert confirm(engine, reserved_parts=relabelled).target == "internally_confirmed"


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_dealer_cannot_honour_from_any_open_state(
    engine: af.Engine, clock: SimulatedClock, state: str
) -> None:
    """The dealer may give up any open appointment once the customer is told, which sends it to rescheduling."""
    to_state(engine, clock, state)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1",
            "dealer_cannot_honour",
            actor=SA,
            payload={"cannot_honour_reason": "technician ill", "customer_notified_asap": False},
        )
    assert messages(refused.value) == ["tell the customer as soon as possible first"]
    step = engine.fire(
        "AP-1",
        "dealer_cannot_honour",
        actor=SA,
        payload={"cannot_honour_reason": "technician ill", "customer_notified_asap": True},
    )
    assert step.target == "reschedule_pending"


# --- reminders, confirmation, readiness -----------------------------------------------------


def test_day_before_reminder_is_refused_before_its_time(engine: af.Engine, clock: SimulatedClock) -> None:
    """The day-before reminder opens one day before the slot; earlier it is refused, saying when."""
    to_state(engine, clock, "internally_confirmed")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True})
    assert messages(refused.value) == [
        "too early: this is due from 2026-11-04 09:00, 1d before the slot 2026-11-05 09:00 (Asia/Shanghai)"
    ]


def test_unreached_customer_is_not_a_reminder(engine: af.Engine, clock: SimulatedClock) -> None:
    """A reminder call that did not reach the customer is refused and stays on record."""
    to_state(engine, clock, "internally_confirmed")
    at(clock, "2026-11-04T10:00:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "day_before_reminder", actor=SYSTEM, payload={"customer_reached": False})
    assert messages(refused.value) == ["the customer was not reached; try again"]
    assert engine.history("AP-1")[-1].payload == {"customer_reached": False}


def test_booked_three_days_ahead_needs_the_day_before_reminder_first(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Booked 3 days ahead (inclusive reading of 3天以上), the hour-before call must wait for the reminder."""
    to_state(engine, clock, "internally_confirmed")
    at(clock, "2026-11-05T08:15:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1",
            "hour_before_confirmation",
            actor=SA,
            payload={"expected_arrival_time": "2026-11-05T09:00:00+08:00", "board_updated": True},
        )
    assert messages(refused.value) == [
        "the appointment was booked far enough ahead to need the day-before reminder first"
    ]


def test_booked_two_days_ahead_skips_the_day_before_reminder(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Booked 2 days ahead, there is no day-before reminder; the hour-before call comes straight after confirming."""
    book(engine, slot_at="2026-11-04T09:00:00+08:00")
    confirm(engine, reserved_parts=[], no_parts_needed=True)
    at(clock, "2026-11-03T10:00:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True})
    assert messages(refused.value) == [
        "the appointment was booked 2 days ahead; a day-before reminder is for appointments booked 3 or more days ahead"
    ]
    at(clock, "2026-11-04T08:05:00+08:00")
    step = engine.fire(
        "AP-1",
        "hour_before_confirmation",
        actor=SA,
        payload={"expected_arrival_time": "2026-11-04T09:00:00+08:00", "board_updated": True},
    )
    assert step.target == "arrival_confirmed"


def test_exclusive_reading_skips_the_reminder_at_exactly_three_days(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    """With reminder_min_lead_inclusive false, a booking exactly 3 days ahead gets no day-before reminder."""
    engine = brand_engine(tmp_path, clock, reminder_min_lead_inclusive="false")
    book(engine)
    confirm(engine)
    at(clock, "2026-11-04T10:00:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True})
    assert messages(refused.value) == [
        "the appointment was booked 3 days ahead; a day-before reminder is for appointments booked more than 3 days ahead"
    ]


def test_hour_before_confirmation_opens_an_hour_before_and_updates_the_board(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The arrival confirmation is refused earlier than an hour before, and without the board updated."""
    to_state(engine, clock, "day_before_reminded")
    at(clock, "2026-11-05T07:30:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1",
            "hour_before_confirmation",
            actor=SA,
            payload={"expected_arrival_time": "2026-11-05T09:00:00+08:00", "board_updated": False},
        )
    assert messages(refused.value) == [
        "too early: this is due from 2026-11-05 08:00, 1h before the slot 2026-11-05 09:00 (Asia/Shanghai)",
        "the appointment board is not updated",
    ]


@pytest.mark.parametrize("state", ["internally_confirmed", "day_before_reminded", "arrival_confirmed"])
def test_readiness_check_keeps_the_state(engine: af.Engine, clock: SimulatedClock, state: str) -> None:
    """A passed readiness check is recorded without changing the appointment's state."""
    to_state(engine, clock, state)
    step = engine.fire("AP-1", "readiness_check", actor=FOREMAN, payload=READY)
    assert (step.source, step.target) == (state, state)
    assert engine.instance("AP-1").data["readiness_checked_at"] == clock.iso()


def test_failed_readiness_check_names_what_is_missing(engine: af.Engine, clock: SimulatedClock) -> None:
    """A readiness check with tools and documents missing is refused naming both."""
    to_state(engine, clock, "day_before_reminded")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1",
            "readiness_check",
            actor=SA,
            payload={**READY, "special_tools_ok": False, "tech_docs_ok": False},
        )
    assert messages(refused.value) == [
        "the special tools are not ready",
        "the technical documents are not ready",
    ]


# --- no-shows -------------------------------------------------------------------------------


def test_slot_missed_waits_for_the_grace_period(engine: af.Engine, clock: SimulatedClock) -> None:
    """The scheduler may mark a no-show only 30 minutes after the slot; staff may not fire it."""
    to_state(engine, clock, "arrival_confirmed")
    at(clock, "2026-11-05T09:20:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "slot_missed", actor=SYSTEM)
    assert messages(refused.value) == [
        "the customer still has until 2026-11-05 09:30 (Asia/Shanghai), 30m after the slot, to arrive"
    ]
    at(clock, "2026-11-05T09:31:00+08:00")
    with pytest.raises(af.RoleDenied):
        engine.fire("AP-1", "slot_missed", actor=SA)
    assert engine.fire("AP-1", "slot_missed", actor=SYSTEM).target == "no_show"


def test_retry_is_arranged_within_three_to_ten_days(engine: af.Engine, clock: SimulatedClock) -> None:
    """A retry call 2 days after the missed date is refused; 4 days after closes the no-show with a retry."""
    to_state(engine, clock, "no_show")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-1", "schedule_retry", actor=SYSTEM, payload={"retry_contact_at": "2026-11-07T10:00:00+08:00"}
        )
    assert messages(refused.value) == [
        "the retry call on 2026-11-07 must fall 3-10 days after the missed appointment of 2026-11-05: between 2026-11-08 and 2026-11-15"
    ]
    step = engine.fire(
        "AP-1",
        "schedule_retry",
        actor=SYSTEM,
        payload={"retry_contact_at": "2026-11-09T10:00:00+08:00", "retry_appointment_id": "AP-2"},
    )
    assert step.target == "closed_no_show"
    assert engine.instance("AP-1").data["retry_spawned"] is True


def test_no_show_is_closed_without_retry_only_with_a_reason(engine: af.Engine, clock: SimulatedClock) -> None:
    """On the first attempt, closing a no-show without a retry needs the waiver reason."""
    to_state(engine, clock, "no_show")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "close_no_show", actor=SA)
    assert messages(refused.value) == [
        "a retry appointment is still possible: schedule it, or record why it is waived under 'retry_waiver_reason'"
    ]
    step = engine.fire(
        "AP-1", "close_no_show", actor=SA, payload={"retry_waiver_reason": "customer moved away"}
    )
    assert step.target == "closed_no_show"
    assert engine.instance("AP-1").data["retry_spawned"] is False


def _retry_outreach(
    engine: af.Engine, clock: SimulatedClock, appointment: str, attempt: int, previous: str, slot: str
) -> None:
    """A retry outreach the customer agrees to, confirmed, and then missed."""
    engine.start(
        "appointment",
        appointment,
        event="create_outreach",
        actor=SYSTEM,
        payload={
            **OUTREACH,
            "origin": "no_show_retry",
            "attempt_no": attempt,
            "previous_appointment_id": previous,
        },
    )
    engine.fire(appointment, "customer_agrees", actor=CS, payload={**AGREED, "slot_at": slot})
    confirm(engine, appointment, reserved_parts=[], no_parts_needed=True)
    clock.set(datetime.fromisoformat(slot))
    clock.advance("31m")
    engine.fire(appointment, "slot_missed", actor=SYSTEM)


def test_no_show_retries_stop_after_the_third_attempt(engine: af.Engine, clock: SimulatedClock) -> None:
    """Three missed appointments: the third may not be retried, only closed."""
    to_state(engine, clock, "no_show", "AP-1")
    engine.fire(
        "AP-1",
        "schedule_retry",
        actor=SYSTEM,
        payload={"retry_contact_at": "2026-11-09T10:00:00+08:00", "retry_appointment_id": "AP-2"},
    )
    at(clock, "2026-11-09T10:00:00+08:00")
    _retry_outreach(engine, clock, "AP-2", 2, "AP-1", "2026-11-12T09:00:00+08:00")
    engine.fire(
        "AP-2",
        "schedule_retry",
        actor=SA,
        payload={"retry_contact_at": "2026-11-16T10:00:00+08:00", "retry_appointment_id": "AP-3"},
    )
    at(clock, "2026-11-16T10:00:00+08:00")
    _retry_outreach(engine, clock, "AP-3", 3, "AP-2", "2026-11-19T09:00:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "AP-3", "schedule_retry", actor=SYSTEM, payload={"retry_contact_at": "2026-11-23T10:00:00+08:00"}
        )
    assert messages(refused.value) == [
        "this was appointment attempt 3 of at most 3: no further appointment may be arranged; close the no-show instead"
    ]
    step = engine.fire("AP-3", "close_no_show", actor=SYSTEM)
    assert step.target == "closed_no_show"
    assert engine.instance("AP-3").data["retry_spawned"] is False


def test_a_fourth_attempt_cannot_be_opened(engine: af.Engine) -> None:
    """A retry outreach beyond the maximum attempts, or without its missed appointment, is refused."""
    with pytest.raises(af.GuardRejected) as refused:
        engine.start(
            "appointment",
            "AP-4",
            event="create_outreach",
            actor=SYSTEM,
            payload={**OUTREACH, "origin": "no_show_retry", "attempt_no": 4},
        )
    assert messages(refused.value) == [
        "a no-show retry must name the missed appointment ('previous_appointment_id')",
        "a no-show retry may be attempt 3 at most (this would be attempt 4)",
    ]


# --- maintenance-reminder outreach ----------------------------------------------------------


FIRST_SERVICE = {
    **OUTREACH,
    "origin": "first_service_reminder",
    "sale_date": "2026-09-20",
    "service_due_date": "2026-11-11",
    "mileage": 1200,
}


def test_first_service_reminder_is_made_seven_to_ten_days_before_due(engine: af.Engine) -> None:
    """Nine days before a first service due by 60 days from the sale, the reminder outreach opens."""
    step = engine.start("appointment", "AP-1", event="create_outreach", actor=SYSTEM, payload=FIRST_SERVICE)
    assert step.target == "outreach_pending"


def test_reminder_due_date_respects_whichever_comes_first(engine: af.Engine) -> None:
    """A due date past 60 days after the sale, or past the 2000 km already run, is refused."""
    with pytest.raises(af.GuardRejected) as refused:
        engine.start(
            "appointment",
            "AP-1",
            event="create_outreach",
            actor=SYSTEM,
            payload={
                **FIRST_SERVICE,
                "service_due_date": "2026-11-25",
                "lead_time_override_reason": "late scan",
            },
        )
    assert messages(refused.value) == [
        "the service due date 2026-11-25 is later than 2026-11-19, 60 days after the sale on 2026-09-20 (first service: 60 days or 2000 km, whichever comes first)"
    ]
    with pytest.raises(af.GuardRejected) as refused:
        engine.start(
            "appointment",
            "AP-2",
            event="create_outreach",
            actor=SYSTEM,
            payload={**FIRST_SERVICE, "mileage": 2150},
        )
    assert messages(refused.value) == [
        "the service due date 2026-11-11 is later than 2026-11-02, today, as the car has already run 2150 km (first service: 60 days or 2000 km, whichever comes first)"
    ]


def test_reminder_outside_the_lead_time_needs_a_reason(engine: af.Engine) -> None:
    """A regular-service reminder 20 days before due is refused, unless a reason is recorded."""
    payload = {
        **OUTREACH,
        "origin": "regular_service_reminder",
        "last_service_date": "2026-05-22",
        "service_due_date": "2026-11-22",
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.start("appointment", "AP-1", event="create_outreach", actor=CS, payload=payload)
    assert messages(refused.value) == [
        "reminder calls are made within the reminder lead time before the service is due; call then, or record why not under 'lead_time_override_reason'"
    ]
    step = engine.start(
        "appointment",
        "AP-2",
        event="create_outreach",
        actor=CS,
        payload={**payload, "lead_time_override_reason": "customer leaves for a month"},
    )
    assert step.target == "outreach_pending"


def test_a_brands_unusable_parameters_fail_when_the_flow_loads(tmp_path: Path) -> None:
    """A brand's malformed grace, window or time zone is refused at load, not by every later event."""
    with pytest.raises(af.FlowDefinitionError) as failed:
        overlay_flows(
            tmp_path,
            {
                "no_show_grace": "30 minutes",
                "no_show_retry_window_days": "[10, 3]",
                "timezone": "Asia/Shangai",
            },
        )
    text = str(failed.value)
    assert "parameter 'grace' (from parameter 'no_show_grace'): not a duration: '30 minutes'" in text
    assert (
        "parameter 'window_days' (from parameter 'no_show_retry_window_days'): must be [fewest, most] days, "
        "whole numbers with fewest <= most, e.g. [3, 10] (got [10, 3])"
    ) in text
    assert "unknown time zone 'Asia/Shangai'; use an IANA name like 'Asia/Shanghai'" in text


# --- deadlines (§2b, §3 #9, #11-13, #15, §4 #16-17) ------------------------------------------

ONE_SECOND = timedelta(seconds=1)


def local(text: str) -> datetime:
    """A dealer-local time such as ``'2026-11-05T09:00:00+08:00'``."""
    return datetime.fromisoformat(text)


def pending(engine: af.Engine, appointment: str = "AP-1") -> dict[str, datetime]:
    """The instance's deadlines not fired yet, by name."""
    return {d.name: d.due_at for d in engine.store.pending_deadlines(appointment) if d.status == "pending"}


def fires(
    engine: af.Engine, clock: SimulatedClock, due: datetime
) -> list[tuple[str, str, str | None, str | None]]:
    """Tick a second before ``due`` (nothing fires), at ``due`` and again: what fired, as the system, at ``due``."""
    clock.set(due - ONE_SECOND)
    assert engine.tick() == []
    clock.set(due)
    steps = engine.tick()
    assert engine.tick() == []
    assert all((s.actor.id, s.at) == ("system", due) for s in steps)
    return [(s.instance_id, s.event, s.source, s.target) for s in steps]


def breach(engine: af.Engine, appointment: str = "AP-1") -> dict[str, Any]:
    """The payload of the instance's last event, an sla_breached record."""
    event = engine.history(appointment)[-1]
    assert (event.event, event.accepted) == ("sla_breached", True)
    return dict(event.payload)


def short_lead(engine: af.Engine) -> datetime:
    """Booked on Monday for Wednesday 09:00 (2 days ahead, no day-before reminder), confirmed: the slot."""
    book(engine, slot_at="2026-11-04T09:00:00+08:00")
    confirm(engine, reserved_parts=[], no_parts_needed=True)
    return local("2026-11-04T09:00:00+08:00")


def test_the_timers_of_the_brief_are_deadlines(flows: af.FlowSet) -> None:
    """Each timer of §2b hangs on the state it times, firing its event or recording sla_breached."""
    flow = flows["appointment"]
    declared = {
        state.name: [(d.name, d.event) for d in state.deadlines]
        for state in flow.states.values()
        if state.deadlines
    }
    assert declared == {
        "booked": [("internal_confirmation", "sla_breached")],
        "internally_confirmed": [
            ("day_before_reminder", "day_before_reminder"),
            ("arrival_confirmation", "sla_breached"),
            ("slot_missed", "slot_missed"),
        ],
        "day_before_reminded": [("arrival_confirmation", "sla_breached"), ("slot_missed", "slot_missed")],
        "arrival_confirmed": [("slot_missed", "slot_missed")],
        "no_show": [("schedule_retry", "schedule_retry"), ("close_no_show", "close_no_show")],
    }


def test_internal_confirmation_not_done_within_the_hour_is_a_breach(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """An hour after the booking call, still booked: sla_breached, once; a result entered meanwhile keeps the clock."""
    book(engine)
    due = clock() + timedelta(hours=1)
    clock.advance("40m")
    engine.fire(
        "AP-1",
        "record_confirmation_result",
        actor=PARTS,
        payload={"reserved_parts": CONFIRMATION["reserved_parts"]},
    )
    assert pending(engine) == {"internal_confirmation": due}
    assert fires(engine, clock, due) == [("AP-1", "sla_breached", "booked", "booked")]
    assert breach(engine) == {"deadline": "internal_confirmation", "due_at": "2026-11-02T09:00:00+00:00"}
    assert confirm(engine).target == "internally_confirmed"  # late is logged, not blocked


def test_internal_confirmation_in_time_clears_its_deadline(engine: af.Engine, clock: SimulatedClock) -> None:
    """Confirmed within the hour, nothing is recorded when the hour is up."""
    book(engine)
    due = clock() + timedelta(hours=1)
    clock.advance("50m")
    confirm(engine)
    assert "internal_confirmation" not in pending(engine)
    assert engine.tick(due + timedelta(hours=2)) == []


def test_a_new_time_agreed_restarts_the_confirmation_hour(engine: af.Engine, clock: SimulatedClock) -> None:
    """After a failed check, re-entering 'booked' with the new time starts a new hour from that call."""
    book(engine)
    clock.advance("20m")
    engine.fire("AP-1", "internal_check_failed", actor=PARTS, payload={"failed_checks": ["parts_stock"]})
    assert pending(engine) == {}
    clock.advance("3h")
    engine.fire(
        "AP-1",
        "new_time_agreed",
        actor=SA,
        payload={
            "customer_notified": True,
            "slot_at": "2026-11-06T10:00:00+08:00",
            "slot_in_peak": False,
            "slot_not_overlapping": True,
        },
    )
    due = clock() + timedelta(hours=1)
    assert pending(engine) == {"internal_confirmation": due}
    assert fires(engine, clock, due) == [("AP-1", "sla_breached", "booked", "booked")]
    assert breach(engine)["due_at"] == "2026-11-02T12:20:00+00:00"


def test_system_sends_the_day_before_reminder_a_day_before_the_slot(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Booked 3 days ahead: at Wednesday 09:00, a day before the slot, the system reminds the customer."""
    to_state(engine, clock, "internally_confirmed")
    due = local("2026-11-04T09:00:00+08:00")
    assert pending(engine)["day_before_reminder"] == due
    at(clock, "2026-11-04T08:30:00+08:00")
    engine.fire("AP-1", "readiness_check", actor=FOREMAN, payload=READY)  # staying keeps the deadline
    assert fires(engine, clock, due) == [
        ("AP-1", "day_before_reminder", "internally_confirmed", "day_before_reminded")
    ]
    data = engine.instance("AP-1").data
    assert (data["customer_reached"], data["day_before_reminded_at"]) == (True, "2026-11-04T01:00:00+00:00")


def test_a_booking_less_than_three_days_ahead_gets_no_day_before_reminder(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Booked 2 days ahead, confirming sets no reminder deadline, and a day before the slot nothing fires."""
    short_lead(engine)
    assert set(pending(engine)) == {"arrival_confirmation", "slot_missed"}
    assert engine.tick(local("2026-11-03T09:00:00+08:00")) == []


def test_exclusive_reading_sets_no_reminder_at_exactly_three_days(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    """With reminder_min_lead_inclusive false, a booking 3 days ahead gets no reminder, 4 days ahead does."""
    engine = brand_engine(tmp_path, clock, reminder_min_lead_inclusive="false")
    book(engine, "AP-3")
    confirm(engine, "AP-3")
    book(engine, "AP-4", slot_at="2026-11-06T09:00:00+08:00")
    confirm(engine, "AP-4", reserved_parts=[], no_parts_needed=True)
    assert "day_before_reminder" not in pending(engine, "AP-3")
    assert pending(engine, "AP-4")["day_before_reminder"] == local("2026-11-05T09:00:00+08:00")


def test_hour_before_confirmation_not_made_by_the_slot_is_a_breach(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Reminded but not confirmed an hour before: at the slot, when it can no longer be made, sla_breached."""
    to_state(engine, clock, "day_before_reminded")
    slot = local(SLOT)
    assert pending(engine)["arrival_confirmation"] == slot
    assert fires(engine, clock, slot) == [
        ("AP-1", "sla_breached", "day_before_reminded", "day_before_reminded")
    ]
    assert breach(engine) == {"deadline": "arrival_confirmation", "due_at": "2026-11-05T01:00:00+00:00"}


def test_a_short_lead_booking_not_confirmed_by_the_slot_is_a_breach(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Booked 2 days ahead and never confirmed an hour before: the breach is recorded at the slot."""
    slot = short_lead(engine)
    assert fires(engine, clock, slot) == [
        ("AP-1", "sla_breached", "internally_confirmed", "internally_confirmed")
    ]
    assert breach(engine)["deadline"] == "arrival_confirmation"


def test_a_confirmed_arrival_has_no_confirmation_deadline(engine: af.Engine, clock: SimulatedClock) -> None:
    """Once the hour-before confirmation is made, only the no-show deadline is left."""
    to_state(engine, clock, "arrival_confirmed")
    assert pending(engine) == {"slot_missed": local("2026-11-05T09:30:00+08:00")}


@pytest.mark.parametrize("state", ["internally_confirmed", "day_before_reminded", "arrival_confirmed"])
def test_system_marks_the_no_show_when_the_grace_is_over(
    engine: af.Engine, clock: SimulatedClock, state: str
) -> None:
    """From each state awaiting the customer, slot_missed is fired at slot + 30 minutes, stamping missed_at."""
    slot = short_lead(engine) if state == "internally_confirmed" else local(SLOT)
    if state != "internally_confirmed":
        to_state(engine, clock, state)
    assert engine.instance("AP-1").state == state
    clock.set(slot)
    engine.tick()  # the arrival-confirmation breach, where still due
    missed = slot + timedelta(minutes=30)
    assert pending(engine) == {"slot_missed": missed}
    assert fires(engine, clock, missed) == [("AP-1", "slot_missed", state, "no_show")]
    assert datetime.fromisoformat(engine.instance("AP-1").data["missed_at"]) == missed


def test_an_arrival_within_the_grace_clears_the_no_show(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer arriving late but within the grace leaves nothing to fire."""
    to_state(engine, clock, "arrival_confirmed")
    at(clock, "2026-11-05T09:20:00+08:00")
    engine.fire("AP-1", "customer_arrived", actor=SA)
    assert engine.tick(local("2026-11-20T09:00:00+08:00")) == []


def test_system_arranges_the_retry_on_the_first_day_of_the_window(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A first-attempt no-show: on Sunday, the missed Thursday + 3 days, the retry is arranged with the call time."""
    to_state(engine, clock, "arrival_confirmed")
    at(clock, "2026-11-05T09:30:00+08:00")
    assert [s.event for s in engine.tick()] == ["slot_missed"]
    due = local("2026-11-08T09:00:00+08:00")
    assert pending(engine) == {"schedule_retry": due}
    assert fires(engine, clock, due) == [("AP-1", "schedule_retry", "no_show", "closed_no_show")]
    data = engine.instance("AP-1").data
    assert (data["retry_contact_at"], data["retry_spawned"]) == ("2026-11-08T01:00:00+00:00", True)


def test_the_last_attempts_no_show_is_closed_at_once(engine: af.Engine, clock: SimulatedClock) -> None:
    """The third attempt missed: no retry deadline; close_no_show is due the moment the no-show is recorded."""
    _retry_outreach(engine, clock, "AP-3", 3, "AP-2", SLOT)
    entered = clock()
    assert pending(engine, "AP-3") == {"close_no_show": entered}
    assert fires(engine, clock, entered) == [("AP-3", "close_no_show", "no_show", "closed_no_show")]
    assert engine.instance("AP-3").data["retry_spawned"] is False


def test_a_waived_retry_clears_the_retry_deadline(engine: af.Engine, clock: SimulatedClock) -> None:
    """The service advisor closing the no-show with a waiver leaves nothing for the system to fire."""
    to_state(engine, clock, "no_show")
    engine.fire("AP-1", "close_no_show", actor=SA, payload={"retry_waiver_reason": "customer moved away"})
    assert engine.tick(local("2026-11-20T09:00:00+08:00")) == []


@pytest.mark.parametrize("brand", [None, "baoya", "faw"])
def test_the_retry_delay_is_the_first_day_of_the_retry_window(brand: str | None) -> None:
    """A deadline cannot take an item of a list parameter: the delay repeats the window's first day."""
    params = af.load_flows(FLOWS, brand=brand)["appointment"].params
    assert params["no_show_retry_delay_days"] == min(params["no_show_retry_window_days"])


def test_a_brands_parameters_move_the_deadlines(tmp_path: Path, clock: SimulatedClock) -> None:
    """A brand with a 2-hour confirmation, a 2-day reminder, 15 minutes' grace and a retry after 5 days."""
    engine = brand_engine(
        tmp_path,
        clock,
        internal_confirmation_max="2h",
        day_before_reminder_offset="2d",
        no_show_grace="15m",
        no_show_retry_window_days="[5, 10]",
        no_show_retry_delay_days=5,
    )
    book(engine)
    assert fires(engine, clock, clock() + timedelta(hours=2)) == [
        ("AP-1", "sla_breached", "booked", "booked")
    ]
    confirm(engine)
    assert fires(engine, clock, local("2026-11-03T09:00:00+08:00")) == [
        ("AP-1", "day_before_reminder", "internally_confirmed", "day_before_reminded")
    ]
    assert fires(engine, clock, local(SLOT)) == [
        ("AP-1", "sla_breached", "day_before_reminded", "day_before_reminded")
    ]
    assert fires(engine, clock, local("2026-11-05T09:15:00+08:00")) == [
        ("AP-1", "slot_missed", "day_before_reminded", "no_show")
    ]
    assert fires(engine, clock, local("2026-11-10T09:00:00+08:00")) == [
        ("AP-1", "schedule_retry", "no_show", "closed_no_show")
    ]


def test_baoya_system_reminder_waits_for_the_prepared_history(clock: SimulatedClock) -> None:
    """Baoya: the system's reminder goes out where the history was prepared; elsewhere it is refused, on record."""
    engine = af.Engine(af.load_flows(FLOWS, brand="baoya"), af.SQLiteStore(":memory:"), clock=clock)
    for appointment in ("AP-1", "AP-2"):
        book(engine, appointment)
        confirm(engine, appointment)
    engine.fire("AP-1", "reminder_prepared", actor=SA, payload={"service_history_prepared": True})
    assert fires(engine, clock, local("2026-11-04T09:00:00+08:00")) == [
        ("AP-1", "day_before_reminder", "internally_confirmed", "day_before_reminded")
    ]
    refused = [e for e in engine.history("AP-2") if not e.accepted]
    assert [(e.event, e.actor.id, [r.message for r in e.reasons]) for e in refused] == [
        (
            "day_before_reminder",
            "system",
            ["prepare the register data and the service history before the day-before call (Baoya manual)"],
        )
    ]
    step = engine.fire(
        "AP-2",
        "day_before_reminder",
        actor=CS,
        payload={"customer_reached": True, "service_history_prepared": True},
    )
    assert step.target == "day_before_reminded"


def test_arrival_drafts_and_checks_in_the_repair_order(engine: af.Engine, clock: SimulatedClock) -> None:
    """The customer's arrival starts repair order '<id>-RO' from the appointment's data, checked in at once."""
    to_state(engine, clock, "arrival_confirmed")
    engine.fire("AP-1", "customer_arrived", actor=SA)
    assert engine.children("AP-1") == ["AP-1-RO"]
    assert engine.parent("AP-1-RO") == "AP-1"
    order = engine.instance("AP-1-RO")
    assert (order.flow, order.state) == ("repair_order", "checking_in")
    assert order.data["appointment_id"] == "AP-1"
    assert order.data["customer"] == INBOUND["customer"]
    assert [e.event for e in engine.history("AP-1-RO")] == ["draft_from_appointment", "customer_arrived"]
    assert engine.verify().ok
