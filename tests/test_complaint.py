"""Scenarios of the shipped customer complaint (domain.md §2c), from the customer-service desk's view."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

SA = af.Actor("sa-017", roles={"service_advisor"})
AGENT = af.Actor("cb-02", roles={"callback_agent"})
DIRECTOR = af.Actor("csd-01", roles={"cs_director"})
DEPARTMENT = af.Actor("dm-03", roles={"department_manager"})
TECH_DIRECTOR = af.Actor("td-04", roles={"technical_director"})
GM = af.Actor("gm-01", roles={"general_manager"})
CASHIER = af.Actor("cashier-01", roles={"cashier"})

DOMAIN_STATES = {
    "registered",
    "investigating",
    "level_1_handling",
    "level_2_handling",
    "level_3_handling",
    "resolution_proposed",
    "resolution_in_progress",
    "awaiting_confirmation",
    "closed_resolved",
    "closed_unresolved",
    "withdrawn",
}
DOMAIN_EVENTS = {
    "register",
    "notify_director",
    "start_investigation",
    "assign_level",
    "determine_responsibility",
    "propose_resolution",
    "customer_accepts",
    "customer_rejects",
    "escalate",
    "customer_rejects_final",
    "resolution_done",
    "customer_confirms_satisfied",
    "customer_not_satisfied",
    "withdraw",
}
PARTICIPANTS = {
    1: [("cs_director", "csd-01"), ("service_advisor", "sa-017"), ("callback_agent", "cb-02")],
    2: [("cs_director", "csd-01"), ("department_manager", "dm-03"), ("technical_director", "td-04")],
    3: [("cs_director", "csd-01"), ("general_manager", "gm-01")],
}
APPROVER = {1: ("cs_director", "csd-01"), 2: ("department_manager", "dm-03"), 3: ("general_manager", "gm-01")}
REWORK = {"option_id": "A", "resolution_type": "rework_at_dealer_cost", "description": "redo the brake job"}
HANDLER = {1: DIRECTOR, 2: DEPARTMENT, 3: GM}


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def participants(level: int, *, without: str | None = None) -> list[dict[str, Any]]:
    """The level's participants as a level change records them, optionally leaving one role out."""
    members = [{"role": role, "person_id": who} for role, who in PARTICIPANTS[level] if role != without]
    return [{"level": level, "members": members}]


def signature(role: str, who: str, at: str) -> dict[str, Any]:
    return {"signer_role": role, "signer_id": who, "signed_at": at}


def register(
    engine: af.Engine, clock: SimulatedClock, case: str = "C-1", channel: str = "on_site"
) -> af.Step:
    """Log a complaint received through ``channel``."""
    return engine.start(
        "complaint",
        case,
        event="register",
        actor=SA,
        payload={
            "channel": channel,
            "customer": {"name": "Li Wei", "phone": "138"},
            "vehicle": {"vin": "LFV0000000000001"},
            "complaint_text": "the brake noise is back two days after the repair",
            "received_at": clock.iso(),
            "related_repair_order_ids": ["RO-1"],
        },
    )


def investigate(
    engine: af.Engine, clock: SimulatedClock, case: str = "C-1", channel: str = "on_site"
) -> None:
    """Log the complaint, tell the director, and start the investigation."""
    register(engine, clock, case, channel)
    engine.fire(case, "notify_director", actor=SA, payload={"director_notified_to": "csd-01"})
    engine.fire(case, "start_investigation", actor=DIRECTOR, payload={"investigation_notes": "met in room 2"})


def assign(engine: af.Engine, case: str = "C-1", level: int = 1) -> af.Step:
    """The director assigns the entry level after the job history was studied."""
    return engine.fire(
        case,
        "assign_level",
        actor=DIRECTOR,
        payload={"job_history_reviewed": True, "level_participants": participants(level)},
    )


def propose(
    engine: af.Engine, clock: SimulatedClock, case: str, level: int, *options: dict[str, Any]
) -> af.Step:
    """The level's handler finds the dealer responsible and offers ``options`` (default: a rework)."""
    actor = HANDLER[level]
    engine.fire(
        case,
        "determine_responsibility",
        actor=actor,
        payload={"responsibility": "dealer", "responsibility_evidence": ["RO-1 job card"]},
    )
    return engine.fire(case, "propose_resolution", actor=actor, payload=proposal(clock, level, *options))


def proposal(clock: SimulatedClock, level: int, *options: dict[str, Any], **bottom: Any) -> dict[str, Any]:
    role, who = APPROVER[level]
    return {
        "resolution_options": list(options or [REWORK]),
        "bottom_line": {"description": "rework free of charge, nothing more", **bottom},
        "bottom_line_approval": signature(role, who, clock.iso()),
        "cost_bearer": "dealer",
    }


def to_level_3_proposal(engine: af.Engine, clock: SimulatedClock, case: str = "C-1") -> None:
    """A complaint rejected at levels 1 and 2, with a level-3 proposal waiting for the customer."""
    investigate(engine, clock, case)
    assign(engine, case)
    propose(engine, clock, case, 1)
    engine.fire(
        case,
        "customer_rejects",
        actor=DIRECTOR,
        payload={"rejection_reason": "wants a refund", "level_participants": participants(2)},
    )
    propose(engine, clock, case, 2)
    engine.fire(
        case,
        "customer_rejects",
        actor=DIRECTOR,
        payload={"rejection_reason": "still wants a refund", "level_participants": participants(3)},
    )
    propose(engine, clock, case, 3)


def accept_and_carry_out(engine: af.Engine, clock: SimulatedClock, case: str = "C-1") -> None:
    """The customer takes the rework; its repair order is delivered."""
    engine.fire(
        case,
        "customer_accepts",
        actor=SA,
        payload={
            "chosen_option": "A",
            "customer_acceptance": {"words": "all right, Saturday morning", "method": "in_person"},
            "resolution_scheduled_for": clock.iso("4d"),
            "repair_order_id": "RO-77",
        },
    )
    engine.fire(case, "resolution_done", actor=SA, payload={"repair_order_status": "delivered"})


# --- the flow as the brief lists it ------------------------------------------------------------


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The shipped complaint holds the 11 states and 14 events of domain.md §2c and its three terminals."""
    flow = flows["complaint"]
    assert set(flow.states) == DOMAIN_STATES
    assert set(flow.events) == DOMAIN_EVENTS
    assert flow.terminal_states == {"closed_resolved", "closed_unresolved", "withdrawn"}
    assert flow.fields["channel"].values == (
        "on_site",
        "callback",
        "inbound_phone",
        "letter",
        "authority",
        "online",
    )


def test_every_state_and_event_is_labelled_in_english_and_chinese(flows: af.FlowSet) -> None:
    """Each state and transition carries a non-empty English and Chinese label."""
    flow = flows["complaint"]
    for state in flow.states.values():
        assert state.label.en.strip() and state.label.zh.strip() and state.label.zh != state.name
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None, transition.event
        assert transition.label.en.strip() and transition.label.zh.strip()


def test_the_brief_numbers_are_parameters(flows: af.FlowSet) -> None:
    """Levels, entry level, discount authority and the 24 h first response are brand parameters."""
    params = flows["complaint"].params
    assert params["complaint_levels"]["level_3"] == ("cs_director", "general_manager")
    assert params["complaint_entry_levels"]["authority"] == 3
    assert params["discount_authority"]["level_1"] == 0
    assert params["discount_authority"]["level_3"] is None
    assert params["complaint_first_response_max"] == "24h"


# --- happy paths ---------------------------------------------------------------------------------


def test_on_site_complaint_is_resolved_at_level_1_and_replays(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """An on-site complaint runs to closed_resolved at level 1 with the customer's own words; replay equals head."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    step = engine.fire(
        "C-1",
        "customer_confirms_satisfied",
        actor=AGENT,
        payload={"satisfaction": {"words": "quiet now, thank you", "method": "phone", "anything_else": "no"}},
    )
    assert step.target == "closed_resolved"
    instance = engine.instance("C-1")
    assert instance.data["current_level"] == 1
    assert instance.data["director_notified"] is True
    assert engine.replay("C-1") == instance
    assert engine.verify().ok


def test_letter_complaint_needs_no_director_notification_and_accepts_a_rating(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A complaint by letter starts its investigation directly; a rating confirms satisfaction."""
    register(engine, clock, channel="letter")
    engine.fire("C-1", "start_investigation", actor=DIRECTOR)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    step = engine.fire(
        "C-1",
        "customer_confirms_satisfied",
        actor=DIRECTOR,
        payload={"satisfaction": {"rating": 5, "method": "in_person", "anything_else": "no"}},
    )
    assert step.target == "closed_resolved"


def test_rejected_level_3_proposal_closes_unresolved_with_the_gm_sign_off(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Rejected at levels 1 and 2, the case reaches level 3 and closes unresolved with the GM's signature."""
    to_level_3_proposal(engine, clock)
    assert engine.instance("C-1").data["current_level"] == 3
    step = engine.fire(
        "C-1",
        "customer_rejects_final",
        actor=GM,
        payload={
            "rejection_reason": "wants a new car",
            "gm_sign_off": signature("general_manager", "gm-01", clock.iso()),
        },
    )
    assert step.target == "closed_unresolved"
    assert engine.instance("C-1").data["closed_at"] == clock.iso()


def test_not_satisfied_after_level_3_rework_closes_unresolved(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A customer still unhappy after the level-3 resolution closes the case unresolved with the GM's signature."""
    to_level_3_proposal(engine, clock)
    accept_and_carry_out(engine, clock)
    step = engine.fire(
        "C-1",
        "customer_not_satisfied",
        actor=DIRECTOR,
        payload={
            "dissatisfaction_reason": "noise remains",
            "gm_sign_off": signature("general_manager", "gm-01", clock.iso()),
        },
    )
    assert step.target == "closed_unresolved"


def test_not_satisfied_at_level_1_goes_to_level_2(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer unhappy with the level-1 rework moves the case to level 2 with its participants."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    step = engine.fire(
        "C-1",
        "customer_not_satisfied",
        actor=DIRECTOR,
        payload={"dissatisfaction_reason": "noise remains", "level_participants": participants(2)},
    )
    assert step.target == "level_2_handling"
    assert engine.instance("C-1").data["current_level"] == 2


def test_a_new_acceptance_needs_its_own_finished_repair_order(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """After an escalation, the earlier delivered rework order does not count for the new resolution."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    engine.fire(
        "C-1",
        "customer_not_satisfied",
        actor=DIRECTOR,
        payload={"dissatisfaction_reason": "noise remains", "level_participants": participants(2)},
    )
    propose(engine, clock, "C-1", 2)
    engine.fire(
        "C-1",
        "customer_accepts",
        actor=SA,
        payload={
            "chosen_option": "A",
            "customer_acceptance": {"words": "once more"},
            "resolution_scheduled_for": clock.iso("2d"),
        },
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "resolution_done", actor=SA)
    assert messages(refused.value) == [
        "the linked repair order RO-77 is not delivered or closed yet (its status is not recorded)"
    ]


def test_complaint_through_an_authority_starts_at_level_3(engine: af.Engine, clock: SimulatedClock) -> None:
    """A complaint through a government authority enters at level 3, not level 1."""
    register(engine, clock, channel="authority")
    engine.fire("C-1", "start_investigation", actor=DIRECTOR)
    with pytest.raises(af.GuardRejected) as refused:
        assign(engine, level=1)
    assert messages(refused.value) == [
        "a complaint received through 'authority' starts at level 3, not level 1"
    ]
    step = assign(engine, level=3)
    assert (step.target, engine.instance("C-1").data["current_level"]) == ("level_3_handling", 3)


def test_withdrawn_complaint_ends_with_the_customer_statement(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The customer may withdraw at any open stage; the statement is recorded."""
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("C-1", "withdraw", actor=DIRECTOR)
    assert messages(refused.value) == ["'withdraw' must record 'withdrawal_statement'"]
    step = engine.fire(
        "C-1", "withdraw", actor=DIRECTOR, payload={"withdrawal_statement": "the noise was a stone, sorry"}
    )
    assert step.target == "withdrawn"


def test_escalate_records_the_new_level_and_who_joined(engine: af.Engine, clock: SimulatedClock) -> None:
    """Escalating from level 1 needs a reason and every level-2 participant recorded."""
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "escalate",
            actor=SA,
            payload={
                "escalation_reason": "needs a technical ruling",
                "level_participants": participants(2, without="technical_director"),
            },
        )
    assert messages(refused.value) == [
        "the participants of level 2 are not all recorded on the case: the technical director is missing"
    ]
    step = engine.fire(
        "C-1",
        "escalate",
        actor=SA,
        payload={"escalation_reason": "needs a technical ruling", "level_participants": participants(2)},
    )
    assert step.target == "level_2_handling"
    data = engine.instance("C-1").data
    assert data["current_level"] == 2
    assert [entry["level"] for entry in data["level_participants"]] == [1, 2]


# --- the refusals the brief demands --------------------------------------------------------------


def test_on_site_complaint_cannot_proceed_before_the_director_is_notified(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """An on-site complaint is refused any further step until the customer-service director is notified."""
    register(engine, clock)
    reason = (
        "an on-site complaint cannot proceed before the customer-service director is notified; "
        "record 'notify_director' first"
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "start_investigation", actor=DIRECTOR)
    assert messages(refused.value) == [reason]
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "withdraw", actor=DIRECTOR, payload={"withdrawal_statement": "never mind"})
    assert messages(refused.value) == [reason]
    assert engine.instance("C-1").state == "registered"
    engine.fire("C-1", "notify_director", actor=CASHIER, payload={"director_notified_to": "csd-01"})
    assert engine.instance("C-1").data["director_notified_at"] == clock.iso()
    assert engine.fire("C-1", "start_investigation", actor=DIRECTOR).target == "investigating"


def test_complaint_escalates_no_further_than_level_3(engine: af.Engine, clock: SimulatedClock) -> None:
    """At level 3 a rejection cannot escalate: customer_rejects is refused and there is no escalate event."""
    to_level_3_proposal(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "customer_rejects",
            actor=DIRECTOR,
            payload={"rejection_reason": "no", "level_participants": participants(3)},
        )
    assert messages(refused.value) == [
        "the complaint is already at level 3, the highest; it cannot be escalated further"
    ]
    options = {option.event: option for option in engine.options("C-1", DIRECTOR)}
    assert not options["customer_rejects"].allowed
    assert engine.instance("C-1").state == "resolution_proposed"
    assert "escalate" not in engine.flows["complaint"].events_from("level_3_handling")


def test_complaint_closes_unresolved_only_with_the_gm_sign_off(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Closing unresolved at level 3 is refused without the general manager's own signature."""
    to_level_3_proposal(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "customer_rejects_final", actor=DIRECTOR, payload={"rejection_reason": "no"})
    assert messages(refused.value) == ["the general manager's signature on 'gm_sign_off' is missing"]
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "customer_rejects_final",
            actor=DIRECTOR,
            payload={
                "rejection_reason": "no",
                "gm_sign_off": signature("cs_director", "csd-01", clock.iso()),
            },
        )
    assert messages(refused.value) == [
        "the general manager's signature on 'gm_sign_off' is signed by a cs director, not by the general manager"
    ]
    assert engine.instance("C-1").state == "resolution_proposed"


def test_not_satisfied_at_level_3_needs_the_gm_sign_off(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer unhappy after level 3 cannot escalate; closing needs the general manager's signature."""
    to_level_3_proposal(engine, clock)
    accept_and_carry_out(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "customer_not_satisfied", actor=DIRECTOR, payload={"dissatisfaction_reason": "no"})
    assert messages(refused.value) == ["the general manager's signature on 'gm_sign_off' is missing"]


def test_closing_unresolved_below_level_3_is_refused(engine: af.Engine, clock: SimulatedClock) -> None:
    """A level-1 rejection escalates; it cannot close the case unresolved even with the GM's signature."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "customer_rejects_final",
            actor=GM,
            payload={
                "rejection_reason": "no",
                "gm_sign_off": signature("general_manager", "gm-01", clock.iso()),
            },
        )
    assert messages(refused.value) == [
        "only a level-3 complaint closes unresolved; escalate it with 'customer_rejects'"
    ]


def test_discount_above_the_level_authority_is_refused(engine: af.Engine, clock: SimulatedClock) -> None:
    """Level 1 may offer no discount and level 2 at most 2,000; level 3 has no limit."""
    discount = {"option_id": "B", "resolution_type": "labour_discount", "discount_amount": 300}
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.GuardRejected) as refused:
        propose(engine, clock, "C-1", 1, REWORK, discount)
    assert messages(refused.value) == [
        "option B offers a discount of 300.00, above the discount authority of level 1 (0.00); escalate or lower it"
    ]
    engine.fire(
        "C-1",
        "escalate",
        actor=DIRECTOR,
        payload={"escalation_reason": "discount needed", "level_participants": participants(2)},
    )
    big = {**discount, "discount_amount": 2500}
    with pytest.raises(af.GuardRejected) as refused:
        propose(engine, clock, "C-1", 2, big)
    assert messages(refused.value) == [
        "option B offers a discount of 2,500.00, above the discount authority of level 2 (2,000.00); escalate or lower it"
    ]
    assert propose(engine, clock, "C-1", 2, discount).target == "resolution_proposed"
    engine.fire(
        "C-1",
        "customer_rejects",
        actor=DIRECTOR,
        payload={"rejection_reason": "not enough", "level_participants": participants(3)},
    )
    assert propose(engine, clock, "C-1", 3, big).target == "resolution_proposed"


def test_job_history_is_studied_before_a_level_is_assigned(engine: af.Engine, clock: SimulatedClock) -> None:
    """Assigning a level is refused until the staff record that they studied the job history."""
    investigate(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "assign_level", actor=DIRECTOR, payload={"level_participants": participants(1)})
    assert messages(refused.value) == [
        "staff must study the job history before meeting the customer; record 'job_history_reviewed'"
    ]


def test_level_participants_are_recorded_when_the_level_is_entered(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Entering level 1 without the callback agent recorded is refused, naming who is missing."""
    investigate(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "assign_level",
            actor=DIRECTOR,
            payload={
                "job_history_reviewed": True,
                "level_participants": participants(1, without="callback_agent"),
            },
        )
    assert messages(refused.value) == [
        "the participants of level 1 are not all recorded on the case: the callback agent is missing"
    ]


def test_only_a_participant_of_the_level_handles_it(engine: af.Engine, clock: SimulatedClock) -> None:
    """The general manager does not determine responsibility at level 1; a level-1 participant does."""
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "determine_responsibility",
            actor=GM,
            payload={"responsibility": "dealer", "responsibility_evidence": ["RO-1 job card"]},
        )
    assert messages(refused.value) == [
        "at level 1 this is done by a participant of the level: the customer-service director, "
        "the service advisor or the callback agent"
    ]


def test_resolution_must_fit_the_responsibility(engine: af.Engine, clock: SimulatedClock) -> None:
    """No proposal before the responsibility is determined; a not-dealer case gets no dealer-cost rework."""
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "propose_resolution", actor=SA, payload=proposal(clock, 1))
    assert messages(refused.value) == [
        "the responsibility must be determined before a resolution is proposed (it is not recorded)"
    ]
    engine.fire(
        "C-1",
        "determine_responsibility",
        actor=SA,
        payload={"responsibility": "not_dealer", "responsibility_evidence": ["photo of the tyre"]},
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "propose_resolution", actor=SA, payload=proposal(clock, 1))
    assert messages(refused.value) == [
        "option A offers 'rework_at_dealer_cost', which is not a resolution when the responsibility is "
        "'not_dealer' (allowed: explanation, free_inspection, labour_discount, charge_discount)"
    ]
    inspection = {"option_id": "F", "resolution_type": "free_inspection"}
    assert engine.fire(
        "C-1", "propose_resolution", actor=SA, payload=proposal(clock, 1, inspection)
    ).target == ("resolution_proposed")


def test_bottom_line_needs_the_approver_of_the_level(engine: af.Engine, clock: SimulatedClock) -> None:
    """At level 2 a bottom line signed by the service advisor is refused; the department manager signs it."""
    investigate(engine, clock)
    assign(engine)
    engine.fire(
        "C-1",
        "escalate",
        actor=DIRECTOR,
        payload={"escalation_reason": "customer asks for the manager", "level_participants": participants(2)},
    )
    engine.fire(
        "C-1",
        "determine_responsibility",
        actor=TECH_DIRECTOR,
        payload={"responsibility": "shared", "responsibility_evidence": ["diagnosis report"]},
    )
    payload = {
        **proposal(clock, 2),
        "bottom_line_approval": signature("service_advisor", "sa-017", clock.iso()),
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "propose_resolution", actor=DEPARTMENT, payload=payload)
    assert messages(refused.value) == [
        "at level 2 the bottom line is approved by the department manager, not by a service advisor"
    ]


def test_rework_is_booked_at_a_time_that_suits_the_customer(engine: af.Engine, clock: SimulatedClock) -> None:
    """Accepting a rework without the agreed time, or an option never offered, is refused."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "customer_accepts",
            actor=SA,
            payload={"chosen_option": "A", "customer_acceptance": {"words": "ok"}},
        )
    assert messages(refused.value) == [
        "the rework at dealer cost needs a time that suits the customer ('resolution_scheduled_for')"
    ]
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "customer_accepts",
            actor=SA,
            payload={"chosen_option": "Z", "customer_acceptance": {"words": "ok"}},
        )
    assert messages(refused.value) == ["the customer chose option Z, which was not offered (offered: A)"]


def test_resolution_is_done_only_when_its_order_is_delivered(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The rework counts as done only once its linked repair order is delivered or closed."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    engine.fire(
        "C-1",
        "customer_accepts",
        actor=SA,
        payload={
            "chosen_option": "A",
            "customer_acceptance": {"words": "ok"},
            "resolution_scheduled_for": clock.iso("1d"),
        },
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "resolution_done", actor=SA)
    assert messages(refused.value) == [
        "the rework at dealer cost needs its linked repair order ('repair_order_id')"
    ]
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1",
            "resolution_done",
            actor=SA,
            payload={"repair_order_id": "RO-77", "repair_order_status": "in_repair"},
        )
    assert messages(refused.value) == [
        "the linked repair order RO-77 is not delivered or closed yet (its status is 'in_repair')"
    ]
    step = engine.fire(
        "C-1",
        "resolution_done",
        actor=SA,
        payload={"repair_order_id": "RO-77", "repair_order_status": "closed"},
    )
    assert step.target == "awaiting_confirmation"


def test_satisfaction_needs_the_customer_words_or_a_rating(engine: af.Engine, clock: SimulatedClock) -> None:
    """Closing as resolved needs the customer's words or a rating, how it was given, and 'anything else?'."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    accept_and_carry_out(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "C-1", "customer_confirms_satisfied", actor=AGENT, payload={"satisfaction": {"method": "phone"}}
        )
    assert messages(refused.value) == [
        "the customer's satisfaction needs their own words or a rating",
        "ask whether there is anything else and record the answer ('anything_else')",
    ]


# --- deadlines: first response within 24 h of logging, 24 h per level; a breach escalates ---------


def ticked(engine: af.Engine) -> list[tuple[str, str | None, str | None, str, datetime]]:
    """What a tick at the clock's now fires: (event, from, to, actor, time) per accepted step."""
    return [(s.event, s.source, s.target, s.actor.id, s.at) for s in engine.tick()]


FIRST_RESPONSE_REASON = "no resolution was proposed at level 1 within the first-response time limit (complaint_first_response_max)"
LEVEL_2_REASON = (
    "no resolution was proposed at level 2 within the level's time limit (complaint_level_response_max)"
)


def test_a_complaint_still_logged_after_24_hours_records_a_breach(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """No level yet to escalate from: 24 h after logging, 'registered' records sla_breached once."""
    logged = clock()
    register(engine, clock)
    assert engine.instance("C-1").data["registered_at"] == logged.isoformat()
    clock.set(logged + timedelta(hours=24) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(logged + timedelta(hours=24))
    assert ticked(engine) == [("sla_breached", "registered", "registered", "system", clock())]
    assert engine.history("C-1")[-1].payload == {
        "deadline": "first_response",
        "due_at": "2026-11-03T08:00:00+00:00",
    }
    assert ticked(engine) == []


def test_an_investigation_past_24_hours_records_a_breach(engine: af.Engine, clock: SimulatedClock) -> None:
    """The first-response clock keeps running from registration while the case is investigated."""
    logged = clock()
    investigate(engine, clock)
    assert engine.instance("C-1").data["investigation_started_at"] == logged.isoformat()
    clock.set(logged + timedelta(hours=23, minutes=59))
    assert ticked(engine) == []
    clock.set(logged + timedelta(hours=24))
    assert ticked(engine) == [("sla_breached", "investigating", "investigating", "system", clock())]
    assert ticked(engine) == []


def test_a_breach_is_recorded_once_then_the_late_level_escalates(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Breached while logged: starting the investigation late records nothing more; the level assigned
    after the limit is escalated at the next tick."""
    logged = clock()
    register(engine, clock)
    engine.fire("C-1", "notify_director", actor=SA, payload={"director_notified_to": "csd-01"})
    clock.set(logged + timedelta(hours=24))
    assert [s.event for s in engine.tick()] == ["sla_breached"]
    clock.set(logged + timedelta(hours=30))
    engine.fire("C-1", "start_investigation", actor=DIRECTOR)
    assert engine.store.pending_deadlines("C-1") == []
    assert ticked(engine) == []
    clock.set(logged + timedelta(hours=31))
    assign(engine)
    assert ticked(engine) == [("escalate", "level_1_handling", "level_2_handling", "system", clock())]
    assert [e.source for e in engine.history("C-1") if e.event == "sla_breached"] == ["registered"]


def test_no_proposal_at_level_1_within_24_hours_escalates_to_level_2(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """24 h after logging, a complaint still handled at level 1 is escalated by the system, with its reason."""
    logged = clock()
    investigate(engine, clock)
    clock.advance("2h")
    assign(engine)
    clock.set(logged + timedelta(hours=24) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(logged + timedelta(hours=24))
    assert ticked(engine) == [("escalate", "level_1_handling", "level_2_handling", "system", clock())]
    event = engine.history("C-1")[-1]
    assert event.payload == {"escalation_reason": FIRST_RESPONSE_REASON}
    data = engine.instance("C-1").data
    assert (data["current_level"], data["level_entered_at"]) == (2, clock().isoformat())
    assert ticked(engine) == []
    assert [(d.name, d.due_at) for d in engine.store.pending_deadlines("C-1")] == [
        ("level_response", clock() + timedelta(hours=24))
    ]


def test_level_2_records_its_participants_after_an_escalation_by_time(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The system names no one: level 2's handlers record who joined on their first event there."""
    logged = clock()
    investigate(engine, clock)
    assign(engine)
    clock.set(logged + timedelta(hours=24))
    engine.tick()
    finding = {"responsibility": "dealer", "responsibility_evidence": ["RO-1 job card"]}
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "determine_responsibility", actor=DEPARTMENT, payload=finding)
    assert messages(refused.value) == [
        "the participants of level 2 are not all recorded on the case: the customer-service director, "
        "the department manager and the technical director are missing"
    ]
    step = engine.fire(
        "C-1",
        "determine_responsibility",
        actor=DEPARTMENT,
        payload={**finding, "level_participants": participants(2)},
    )
    assert step.target == "level_2_handling"
    engine.fire("C-1", "propose_resolution", actor=DEPARTMENT, payload=proposal(clock, 2))
    assert engine.store.pending_deadlines("C-1") == []


def test_no_proposal_at_level_2_within_24_hours_escalates_to_level_3(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """24 h after entering level 2 (here by the level-1 timer), the system escalates to level 3."""
    logged = clock()
    investigate(engine, clock)
    assign(engine)
    clock.set(logged + timedelta(hours=24))
    engine.tick()
    clock.set(logged + timedelta(hours=48) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(logged + timedelta(hours=48))
    assert ticked(engine) == [("escalate", "level_2_handling", "level_3_handling", "system", clock())]
    assert engine.history("C-1")[-1].payload == {"escalation_reason": LEVEL_2_REASON}
    assert engine.instance("C-1").data["current_level"] == 3
    assert ticked(engine) == []


def test_level_3_past_24_hours_records_a_breach(engine: af.Engine, clock: SimulatedClock) -> None:
    """Nothing is above level 3: 24 h after entering it, sla_breached is recorded and the case stays."""
    investigate(engine, clock)
    assign(engine)
    engine.fire(
        "C-1",
        "escalate",
        actor=DIRECTOR,
        payload={"escalation_reason": "needs the department", "level_participants": participants(2)},
    )
    clock.advance("1h")
    engine.fire(
        "C-1",
        "escalate",
        actor=DEPARTMENT,
        payload={"escalation_reason": "needs the GM", "level_participants": participants(3)},
    )
    entered = clock()
    clock.set(entered + timedelta(hours=24) - timedelta(seconds=1))
    assert ticked(engine) == []
    clock.set(entered + timedelta(hours=24))
    assert ticked(engine) == [("sla_breached", "level_3_handling", "level_3_handling", "system", clock())]
    assert engine.history("C-1")[-1].payload["deadline"] == "level_response"
    assert ticked(engine) == []
    assert engine.instance("C-1").state == "level_3_handling"


def test_an_authority_complaint_at_level_3_runs_the_level_clock(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A complaint through an authority enters level 3; its clock runs from that moment."""
    investigate(engine, clock, channel="authority")
    clock.advance("3h")
    assign(engine, level=3)
    assert [(d.name, d.due_at) for d in engine.store.pending_deadlines("C-1")] == [
        ("level_response", clock() + timedelta(hours=24))
    ]


def test_a_proposal_in_time_stops_the_clock(engine: af.Engine, clock: SimulatedClock) -> None:
    """Proposing a resolution at level 1 within 24 h leaves nothing to escalate."""
    investigate(engine, clock)
    assign(engine)
    propose(engine, clock, "C-1", 1)
    assert engine.store.pending_deadlines("C-1") == []
    clock.advance("3d")
    assert ticked(engine) == []


def test_only_the_timer_escalates_without_naming_who_joins(engine: af.Engine, clock: SimulatedClock) -> None:
    """A person escalating with the reason only is refused: people list the next level's participants."""
    investigate(engine, clock)
    assign(engine)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("C-1", "escalate", actor=DIRECTOR, payload={"escalation_reason": "customer insists"})
    assert messages(refused.value) == [
        "this event must record 'level_participants'",
        "the participants of level 2 are not all recorded on the case: the customer-service director, "
        "the department manager and the technical director are missing",
    ]
