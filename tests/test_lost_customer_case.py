"""Scenarios of lost-customer recovery (domain.md §2e), from the service advisor's point of view."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

SA = af.Actor("sa-017", roles={"service_advisor"})
CS = af.Actor("cs-004", roles={"cs_specialist"})
TECH = af.Actor("tech-031", roles={"technician"})
CALLBACK = af.Actor("cb-02", roles={"callback_agent"})
SYSTEM = af.Actor("lost-customer-scan", roles={"system"})

DOMAIN_STATES = {"identified", "contacted", "invited", "returned", "recovered", "not_recovered"}
DOMAIN_EVENTS = {
    "contact_made",
    "invite",
    "appointment_booked",
    "customer_visited",
    "callback_done",
    "give_up",
}

FOUND = {
    "customer": {"name": "Zhang Min", "phone": "139"},
    "vehicle": {"vin": "LFV0000000000002", "plate": "粤A12345"},
    "last_visit_on": "2026-04-16",  # 200 days before the clock's 2026-11-02
    "churn_tier": "at_risk",
}
CONTACT = {
    "churn_reason": "price",
    "current_service_provider": "Quick Fix Garage, Tianhe",
    "price_paid_elsewhere": 380,
    "contact_channel": "phone",
    "wechat_added": True,
    "business_card_given": True,
}
FAILED = {"attempt_channel": "phone", "attempt_outcome": "no_answer"}


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def identify(engine: af.Engine, case: str = "LC-1", **changes: Any) -> af.Step:
    """The lost-customer scan opens a case."""
    return engine.start(
        "lost_customer_case", case, event="customer_identified", actor=SYSTEM, payload={**FOUND, **changes}
    )


def booking(clock: SimulatedClock, **changes: Any) -> dict[str, Any]:
    """What the service advisor records when the customer books the visit."""
    return {
        "appointment_id": "AP-77",
        "expected_arrival_at": clock.iso("2d"),
        "customer_needs": "free inspection; brakes squeak",
        "parts_prepared": "none_needed",
        "documents_prepared": True,
        "technician_informed": True,
        **changes,
    }


def to_invited(engine: af.Engine, clock: SimulatedClock, case: str = "LC-1") -> None:
    identify(engine, case)
    engine.fire(case, "contact_made", actor=SA, payload=CONTACT)
    engine.fire(case, "invite", actor=SA, payload={"offer_type": "free_inspection"})


def to_returned(engine: af.Engine, clock: SimulatedClock, case: str = "LC-1") -> None:
    to_invited(engine, clock, case)
    engine.fire(case, "appointment_booked", actor=SA, payload=booking(clock))
    clock.advance("2d")
    engine.fire(case, "customer_visited", actor=SA, payload={"repair_order_id": "RO-501"})


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The flow holds the six states and six transitions of §2e, with recovered and not_recovered terminal."""
    flow = flows["lost_customer_case"]
    assert set(flow.states) == DOMAIN_STATES
    assert set(flow.events) >= DOMAIN_EVENTS
    assert flow.terminal_states == {"recovered", "not_recovered"}


def test_parameters_hold_the_generic_preset(flows: af.FlowSet) -> None:
    """The generic preset: a case after 180 days, at risk from 180, lost from 365, 3 attempts, 3-day callback."""
    params = flows["lost_customer_case"].params
    assert (
        params["lost_customer_days"],
        params["at_risk_after_days"],
        params["lost_after_days"],
        params["lost_customer_max_attempts"],
        params["callback_due_days"],
    ) == (180, 180, 365, 3, 3)
    assert list(params["offer_types"]) == ["free_inspection", "voucher", "mobile_service", "campaign"]


def test_every_state_and_event_is_labelled_in_english_and_chinese(flows: af.FlowSet) -> None:
    """Each state and transition carries a non-empty English and Chinese label."""
    flow = flows["lost_customer_case"]
    assert flow.label.en.strip() and flow.label.zh.strip()
    for state in flow.states.values():
        assert state.label.en.strip() and state.label.zh.strip()
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None, transition.event
        assert transition.label.en.strip() and transition.label.zh.strip()


def test_happy_path_recovers_the_customer(engine: af.Engine, clock: SimulatedClock) -> None:
    """Identified, contacted, invited, booked, visited, called back within 3 days: recovered."""
    to_returned(engine, clock)
    clock.advance("2d")
    step = engine.fire(
        "LC-1",
        "callback_done",
        actor=SA,
        payload={
            "follow_up_call_id": "FC-9",
            "callback_result": "completed_ok",
            "service_score": 9,
            "callback_issues": [],
            "suggestions": ["send the voucher by WeChat"],
        },
    )
    assert step.target == "recovered"
    data = engine.instance("LC-1").data
    assert (data["churn_reason"], data["current_service_provider"], data["price_paid_elsewhere"]) == (
        "price",
        "Quick Fix Garage, Tianhe",
        380,
    )
    assert (data["appointment_id"], data["repair_order_id"], data["follow_up_call_id"]) == (
        "AP-77",
        "RO-501",
        "FC-9",
    )
    assert data["wechat_added"] is True and data["business_card_given"] is True
    assert engine.replay("LC-1") == engine.instance("LC-1")
    assert engine.verify().ok


def test_callback_agent_may_record_the_callback(engine: af.Engine, clock: SimulatedClock) -> None:
    """The post-visit callback may be made by customer service as well as by the service advisor (§2d)."""
    to_returned(engine, clock)
    step = engine.fire(
        "LC-1",
        "callback_done",
        actor=CALLBACK,
        payload={"follow_up_call_id": "FC-9", "callback_result": "completed_ok"},
    )
    assert step.target == "recovered"


def test_give_up_is_refused_before_the_attempt_limit(engine: af.Engine, clock: SimulatedClock) -> None:
    """With 2 failed attempts of 3 the case cannot be given up, and the message says so."""
    identify(engine)
    with pytest.raises(af.GuardRejected) as none_yet:
        engine.fire("LC-1", "give_up", actor=SA)
    assert messages(none_yet.value) == [
        "no failed contact attempt is recorded; the case may be given up after 3"
    ]
    engine.fire("LC-1", "contact_attempt_failed", actor=CS, payload=FAILED)
    engine.fire(
        "LC-1", "contact_attempt_failed", actor=CS, payload={**FAILED, "attempt_outcome": "wrong_number"}
    )
    with pytest.raises(af.GuardRejected) as two:
        engine.fire("LC-1", "give_up", actor=SYSTEM)
    assert messages(two.value) == [
        "only 2 failed contact attempts are recorded; the case may be given up after 3"
    ]
    assert engine.instance("LC-1").state == "identified"


def test_give_up_is_accepted_at_the_attempt_limit(engine: af.Engine, clock: SimulatedClock) -> None:
    """The third failed attempt, across states, allows giving up: not recovered."""
    identify(engine)
    engine.fire("LC-1", "contact_attempt_failed", actor=CS, payload=FAILED)
    engine.fire("LC-1", "contact_made", actor=SA, payload=CONTACT)
    engine.fire("LC-1", "contact_attempt_failed", actor=SA, payload={**FAILED, "attempt_outcome": "declined"})
    engine.fire("LC-1", "invite", actor=SA, payload={"offer_type": "voucher"})
    engine.fire(
        "LC-1",
        "contact_attempt_failed",
        actor=SA,
        payload={"attempt_channel": "home_visit", "attempt_outcome": "not_home"},
    )
    assert engine.instance("LC-1").data["attempts"] == 3
    step = engine.fire("LC-1", "give_up", actor=SYSTEM, payload={"give_up_note": "moved to another city"})
    assert step.target == "not_recovered"
    assert engine.instance("LC-1").data["closed_at"] == clock.iso()


def test_failed_attempts_do_not_change_the_state(engine: af.Engine, clock: SimulatedClock) -> None:
    """A failed attempt is counted where the case stands; it needs the channel and the outcome."""
    to_invited(engine, clock)
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("LC-1", "contact_attempt_failed", actor=SA, payload={"attempt_channel": "phone"})
    assert messages(refused.value) == ["'contact_attempt_failed' must record 'attempt_outcome'"]
    step = engine.fire(
        "LC-1", "contact_attempt_failed", actor=SA, payload={**FAILED, "attempt_outcome": "no_show"}
    )
    assert (step.source, step.target, engine.instance("LC-1").data["attempts"]) == ("invited", "invited", 1)


def test_a_recent_visit_opens_no_case(engine: af.Engine) -> None:
    """A vehicle seen 179 days ago is not a lost customer (lost_customer_days = 180)."""
    with pytest.raises(af.GuardRejected) as refused:
        identify(engine, last_visit_on="2026-05-07")
    assert messages(refused.value) == [
        "the last workshop visit was 179 days ago (on 2026-05-07); a customer counts as lost after 180 days "
        "without a visit",
        "the last workshop visit was 179 days ago, which is no churn tier yet "
        "(at risk from 180 days, lost from 365 days)",
    ]


def test_the_tier_must_match_the_days_without_a_visit(engine: af.Engine) -> None:
    """Gone 200 days is 'at_risk' (callback), not 'lost' (win-back campaign); gone 365 days is 'lost'."""
    with pytest.raises(af.GuardRejected) as refused:
        identify(engine, churn_tier="lost")
    assert messages(refused.value) == [
        "the last workshop visit was 200 days ago, so 'churn_tier' must be 'at_risk' "
        "(at risk from 180 days, lost from 365 days); it is 'lost'"
    ]
    assert identify(engine, "LC-2", last_visit_on="2025-11-02", churn_tier="lost").target == "identified"


def test_contact_must_record_the_lost_customer_intelligence(engine: af.Engine) -> None:
    """Reaching the customer records why they left, where they service now and what they paid there."""
    identify(engine)
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire(
            "LC-1", "contact_made", actor=SA, payload={"churn_reason": "distance", "wechat_added": True}
        )
    assert messages(refused.value) == [
        "'contact_made' must record 'current_service_provider'",
        "'contact_made' must record 'price_paid_elsewhere'",
        "the price paid elsewhere is not recorded as an amount of 0 or more",
    ]
    assert engine.instance("LC-1").state == "identified"


def test_other_churn_reason_needs_a_note(engine: af.Engine) -> None:
    """A churn reason of 'other' must say what it is."""
    identify(engine)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("LC-1", "contact_made", actor=SA, payload={**CONTACT, "churn_reason": "other"})
    assert messages(refused.value) == ["the churn reason is 'other'; say what it is under 'churn_notes'"]
    step = engine.fire(
        "LC-1",
        "contact_made",
        actor=SA,
        payload={**CONTACT, "churn_reason": "other", "churn_notes": "bad parking"},
    )
    assert step.target == "contacted"


def test_invitation_offers_one_of_the_brands_offer_types(engine: af.Engine) -> None:
    """An offer outside the brand's list is refused; a campaign invitation must name the campaign."""
    identify(engine)
    engine.fire("LC-1", "contact_made", actor=SA, payload=CONTACT)
    with pytest.raises(af.GuardRejected) as unknown:
        engine.fire("LC-1", "invite", actor=SA, payload={"offer_type": "free_car_wash"})
    assert messages(unknown.value) == [
        "'offer_type' must be one of 'free_inspection', 'voucher', 'mobile_service', 'campaign' "
        "(it is 'free_car_wash')"
    ]
    with pytest.raises(af.GuardRejected) as campaign:
        engine.fire("LC-1", "invite", actor=CS, payload={"offer_type": "campaign"})
    assert messages(campaign.value) == ["a campaign invitation must name the campaign under 'campaign_id'"]
    step = engine.fire(
        "LC-1", "invite", actor=CS, payload={"offer_type": "campaign", "campaign_id": "WINTER-26"}
    )
    assert step.target == "invited"


def test_a_new_offer_may_follow_a_declined_one(engine: af.Engine, clock: SimulatedClock) -> None:
    """After a declined invitation the advisor may invite again with another offer."""
    to_invited(engine, clock)
    engine.fire("LC-1", "contact_attempt_failed", actor=SA, payload={**FAILED, "attempt_outcome": "declined"})
    step = engine.fire("LC-1", "invite", actor=SA, payload={"offer_type": "mobile_service"})
    assert (step.source, step.target, engine.instance("LC-1").data["offer_type"]) == (
        "invited",
        "invited",
        "mobile_service",
    )


def test_booking_links_the_appointment_and_records_the_preparation(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The booked visit links the appointment and records arrival time, needs, parts, documents, technician told."""
    to_invited(engine, clock)
    step = engine.fire(
        "LC-1", "appointment_booked", actor=SA, payload=booking(clock, parts_prepared="reserved")
    )
    assert (step.source, step.target) == ("invited", "invited")
    data = engine.instance("LC-1").data
    assert (data["appointment_id"], data["parts_prepared"], data["technician_informed"]) == (
        "AP-77",
        "reserved",
        True,
    )


def test_booking_is_refused_until_the_visit_is_prepared(engine: af.Engine, clock: SimulatedClock) -> None:
    """Documents not prepared, technician not told, an arrival time in the past: each is named."""
    to_invited(engine, clock)
    unprepared = booking(
        clock, expected_arrival_at=clock.iso(-3600), documents_prepared=False, technician_informed=False
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("LC-1", "appointment_booked", actor=SA, payload=unprepared)
    assert messages(refused.value) == [
        "the expected arrival time must be in the future",
        "the documents for the visit are not prepared",
        "the technician has not been told about the visit",
    ]
    with pytest.raises(af.PayloadRejected) as parts:
        engine.fire("LC-1", "appointment_booked", actor=SA, payload=booking(clock, parts_prepared="maybe"))
    assert messages(parts.value) == ["'parts_prepared' must be one of reserved, none_needed (got 'maybe')"]
    with pytest.raises(af.RoleDenied) as by_cs:
        engine.fire("LC-1", "appointment_booked", actor=CS, payload=booking(clock))
    assert messages(by_cs.value) == [
        "'appointment_booked' needs one of the roles service_advisor; cs-004 holds cs_specialist"
    ]


def test_visit_needs_the_linked_repair_order(engine: af.Engine, clock: SimulatedClock) -> None:
    """The customer counts as returned only with the repair order of the visit."""
    to_invited(engine, clock)
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("LC-1", "customer_visited", actor=SA, payload={"appointment_id": "AP-77"})
    assert messages(refused.value) == [
        "'customer_visited' must record 'repair_order_id'",
        "'repair_order_id' is not recorded",
    ]
    step = engine.fire("LC-1", "customer_visited", actor=SA, payload={"repair_order_id": "RO-501"})
    assert step.target == "returned"
    assert engine.instance("LC-1").data["visited_at"] == clock.iso()


def test_recovery_needs_a_completed_callback(engine: af.Engine, clock: SimulatedClock) -> None:
    """An unreachable callback does not recover the customer; an issue raised needs its feedback case."""
    to_returned(engine, clock)
    with pytest.raises(af.GuardRejected) as unreachable:
        engine.fire(
            "LC-1",
            "callback_done",
            actor=SA,
            payload={"follow_up_call_id": "FC-9", "callback_result": "unreachable"},
        )
    assert messages(unreachable.value) == [
        "the post-visit callback is not completed; the customer counts as recovered only after it"
    ]
    feedback = {
        "follow_up_call_id": "FC-9",
        "callback_result": "completed_with_feedback",
        "service_score": 6,
        "callback_issues": ["waited 40 minutes"],
    }
    with pytest.raises(af.GuardRejected) as unlinked:
        engine.fire("LC-1", "callback_done", actor=SA, payload=feedback)
    assert messages(unlinked.value) == [
        "the customer raised an issue in the callback; link its feedback case under 'feedback_case_id'"
    ]
    step = engine.fire("LC-1", "callback_done", actor=SA, payload={**feedback, "feedback_case_id": "FB-3"})
    assert step.target == "recovered"


def test_a_returned_customer_cannot_be_given_up(engine: af.Engine, clock: SimulatedClock) -> None:
    """Once the customer came back, only the callback closes the case."""
    to_returned(engine, clock)
    with pytest.raises(af.IllegalTransition) as refused:
        engine.fire("LC-1", "give_up", actor=SA)
    assert messages(refused.value) == [
        "'give_up' is not possible in state 'returned'; possible now: callback_done, home_visit_recorded, "
        "technician_inspection_recorded"
    ]


def test_home_visits_and_inspections_are_recorded_on_the_case(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Home visits and technician inspections are events on the case that leave its state as it is."""
    identify(engine)
    visit = {
        "visit_id": "V1",
        "visited_on": "2026-11-02",
        "visited_by": "sa-017",
        "outcome": "customer at home, talked",
    }
    step = engine.fire("LC-1", "home_visit_recorded", actor=SA, payload={"home_visits": [visit]})
    assert (step.source, step.target) == ("identified", "identified")
    engine.fire("LC-1", "contact_made", actor=SA, payload=CONTACT)
    inspection = {
        "inspection_id": "I1",
        "inspected_on": "2026-11-02",
        "technician_id": "tech-031",
        "findings": ["rear brake pads at 3 mm"],
    }
    step = engine.fire(
        "LC-1", "technician_inspection_recorded", actor=TECH, payload={"technician_inspections": [inspection]}
    )
    assert (step.source, step.target) == ("contacted", "contacted")
    data = engine.instance("LC-1").data
    assert (data["home_visits"], data["technician_inspections"]) == ([visit], [inspection])


def test_an_incomplete_activity_is_refused(engine: af.Engine) -> None:
    """A home visit without its outcome, or an inspection without findings, is refused naming what is missing."""
    identify(engine)
    with pytest.raises(af.GuardRejected) as visit:
        engine.fire(
            "LC-1",
            "home_visit_recorded",
            actor=SA,
            payload={"home_visits": [{"visit_id": "V1", "visited_on": "2026-11-02", "visited_by": "sa-017"}]},
        )
    assert messages(visit.value) == ["'home_visits' entry 'V1' does not record: outcome"]
    with pytest.raises(af.GuardRejected) as inspection:
        engine.fire(
            "LC-1",
            "technician_inspection_recorded",
            actor=TECH,
            payload={
                "technician_inspections": [
                    {"inspection_id": "I1", "inspected_on": "2026-11-02", "technician_id": "tech-031"}
                ]
            },
        )
    assert messages(inspection.value) == ["'technician_inspections' entry 'I1' does not record: findings"]


def test_a_technician_does_not_make_the_contact(engine: af.Engine) -> None:
    """Contacting the customer is for the service advisor or the customer-service specialist."""
    identify(engine)
    with pytest.raises(af.RoleDenied) as refused:
        engine.fire("LC-1", "contact_made", actor=TECH, payload=CONTACT)
    assert messages(refused.value) == [
        "'contact_made' needs one of the roles cs_specialist, service_advisor; tech-031 holds technician"
    ]


def test_a_recovered_case_accepts_nothing(engine: af.Engine, clock: SimulatedClock) -> None:
    """A recovered case is final."""
    to_returned(engine, clock)
    engine.fire(
        "LC-1",
        "callback_done",
        actor=SA,
        payload={"follow_up_call_id": "FC-9", "callback_result": "completed_ok"},
    )
    with pytest.raises(af.IllegalTransition) as refused:
        engine.fire("LC-1", "give_up", actor=SA)
    assert messages(refused.value) == [
        "the lost_customer_case is in its final state 'recovered' (Recovered, post-visit callback done) and "
        "accepts no more events"
    ]


# --- deadline: the post-visit callback is due callback_due_days after the visit -------------------


def ticked(engine: af.Engine) -> list[tuple[str, str | None, str | None, str, datetime]]:
    """What a tick at the clock's now fires: (event, from, to, actor, time) per accepted step."""
    return [(s.event, s.source, s.target, s.actor.id, s.at) for s in engine.tick()]


def test_the_post_visit_callback_is_due_three_days_after_the_visit(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Visited 2026-11-04 08:00 UTC: no callback by 2026-11-07 08:00 records an SLA breach, once."""
    to_returned(engine, clock)
    visited = clock()
    assert engine.instance("LC-1").data["visited_at"] == visited.isoformat()
    clock.set(visited + timedelta(days=3) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(visited + timedelta(days=3))
    assert ticked(engine) == [("sla_breached", "returned", "returned", "system", clock())]
    assert engine.history("LC-1")[-1].payload == {
        "deadline": "post_visit_callback",
        "due_at": "2026-11-07T08:00:00+00:00",
    }
    assert ticked(engine) == []
    assert engine.instance("LC-1").state == "returned"


def test_activities_after_the_visit_keep_the_callback_clock(engine: af.Engine, clock: SimulatedClock) -> None:
    """A home visit recorded after the return does not restart the 3-day clock; the callback clears it."""
    to_returned(engine, clock)
    visited = clock()
    clock.advance("1d")
    visit = {"visit_id": "V2", "visited_on": "2026-11-05", "visited_by": "sa-017", "outcome": "thanked"}
    engine.fire("LC-1", "home_visit_recorded", actor=SA, payload={"home_visits": [visit]})
    assert [(d.name, d.due_at) for d in engine.store.pending_deadlines("LC-1")] == [
        ("post_visit_callback", visited + timedelta(days=3))
    ]
    engine.fire(
        "LC-1",
        "callback_done",
        actor=SA,
        payload={"follow_up_call_id": "FC-9", "callback_result": "completed_ok", "service_score": 9},
    )
    assert engine.store.pending_deadlines("LC-1") == []
    clock.advance("5d")
    assert ticked(engine) == []
