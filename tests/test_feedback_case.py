"""Scenarios of the callback feedback case (domain.md §2d, D3 steps 1-6), from the callback desk's view."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

AGENT = af.Actor("cs-011", roles={"callback_agent"})
DEPARTMENT = af.Actor("dm-03", roles={"department_manager"})
DIRECTOR = af.Actor("csd-01", roles={"cs_director"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECIPIENTS = [
    "general_manager",
    "cs_manager",
    "aftersales_manager",
    "aftersales_info_officer",
    "front_desk_supervisor",
]
DISTRIBUTION = {"recording_sent_to": RECIPIENTS, "form_delivered_to": "aftersales_info_officer"}
DEADLINE_GUARD = (
    "distribution_deadline_met(field='called_at', morning_cutoff=params.morning_cutoff, "
    "end_of_day=params.end_of_day, timezone=params.timezone)"
)


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def at(clock: SimulatedClock, local: str) -> None:
    """Move the clock to a wall-clock time at the dealer (Asia/Shanghai)."""
    clock.set(datetime.fromisoformat(local).replace(tzinfo=SHANGHAI))


def opening(called_at: str, **changes: Any) -> dict[str, Any]:
    """The payload of 'open' for a call made at ``called_at`` (local time)."""
    return {
        "follow_up_call_id": "FC-1",
        "repair_order_id": "RO-1",
        "called_at": f"{called_at}+08:00",
        "objection": "the brake noise is back",
        "customer_consents_to_contact": True,
        "recording_ref": "rec-0042",
        "recording_exported": True,
        "feedback_form_ref": "FORM-2026-118",
        "feedback_form_filled": True,
        "summary_sheet_row_added": True,
        **changes,
    }


def open_case(engine: af.Engine, clock: SimulatedClock, called_at: str = "2026-11-03T10:00") -> af.Step:
    """Open a case for a call made at ``called_at``, ten minutes after the call."""
    at(clock, called_at)
    clock.advance("10m")
    return engine.start("feedback_case", "FB-1", event="open", actor=AGENT, payload=opening(called_at))


def handled(engine: af.Engine, clock: SimulatedClock) -> None:
    """Distribute at 11:30 local, the department takes it and returns it the next morning."""
    at(clock, "2026-11-03T11:30")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    at(clock, "2026-11-03T14:00")
    engine.fire("FB-1", "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})
    at(clock, "2026-11-04T09:00")
    engine.fire(
        "FB-1",
        "department_completes",
        actor=DEPARTMENT,
        payload={"department_actions": "brake pads re-seated; customer invited for a free check"},
    )


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The feedback case holds the brief's 7 states, its 8 events and 2 terminal states."""
    flow = flows["feedback_case"]
    assert set(flow.states) == {
        "opened",
        "distributed",
        "with_department",
        "returned",
        "second_callback_done",
        "closed_satisfied",
        "escalated_to_complaint",
    }
    assert set(flow.events) == {
        "open",
        "distribute",
        "department_accepts",
        "department_completes",
        "return_overdue",
        "second_callback",
        "close",
        "escalate",
    }
    assert flow.terminal_states == {"closed_satisfied", "escalated_to_complaint"}
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None and transition.label.en and transition.label.zh


def test_deadlines_and_recipients_are_parameters(flows: af.FlowSet) -> None:
    """Recipients, the same-day cut-offs and the 24 h / 1 d / 4 h clocks are parameters (§3 #22-26)."""
    params = flows["feedback_case"].params
    assert list(params["feedback_recipients"]) == RECIPIENTS
    assert params["feedback_form_recipient"] == "aftersales_info_officer"
    assert (params["morning_cutoff"], params["end_of_day"]) == ("12:00", "18:00")
    assert (
        params["department_handling_max"],
        params["form_collection_lag"],
        params["second_callback_max"],
    ) == (
        "24h",
        "1d",
        "4h",
    )


def test_satisfied_customer_closes_the_case(engine: af.Engine, clock: SimulatedClock) -> None:
    """Open, distribute on time, department handles, second callback satisfied: closed_satisfied."""
    open_case(engine, clock)
    handled(engine, clock)
    assert engine.instance("FB-1").data["distribution_late"] is False
    at(clock, "2026-11-04T11:30")
    engine.fire(
        "FB-1",
        "second_callback",
        actor=AGENT,
        payload={
            "second_callback_result": "noise gone, customer happy",
            "summary_sheet_updated": True,
            "customer_satisfied": True,
        },
    )
    step = engine.fire("FB-1", "close", actor=AGENT)
    assert step.target == "closed_satisfied"
    assert engine.verify().ok


def test_unsatisfied_customer_turns_into_a_complaint(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer still unhappy after the second call cannot be closed; the case escalates to a complaint."""
    open_case(engine, clock)
    handled(engine, clock)
    engine.fire(
        "FB-1",
        "second_callback",
        actor=AGENT,
        payload={
            "second_callback_result": "still noisy",
            "summary_sheet_updated": True,
            "customer_satisfied": False,
        },
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FB-1", "close", actor=AGENT)
    assert messages(refused.value) == ["the customer is not satisfied; escalate the case to a complaint"]
    step = engine.fire("FB-1", "escalate", actor=DIRECTOR, payload={"complaint_id": "CP-7"})
    assert step.target == "escalated_to_complaint"
    data = engine.instance("FB-1").data
    assert (data["complaint_id"], data["complaint_channel"]) == ("CP-7", "callback")


def test_satisfied_customer_is_not_escalated(engine: af.Engine, clock: SimulatedClock) -> None:
    """A satisfied customer's case is closed, not turned into a complaint."""
    open_case(engine, clock)
    handled(engine, clock)
    engine.fire(
        "FB-1",
        "second_callback",
        actor=AGENT,
        payload={"second_callback_result": "fine", "summary_sheet_updated": True, "customer_satisfied": True},
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FB-1", "escalate", actor=AGENT)
    assert messages(refused.value) == ["the customer is satisfied; close the case instead"]


def test_open_needs_recording_form_and_summary_row(engine: af.Engine, clock: SimulatedClock) -> None:
    """A case is opened only once the recording is exported, the form filled and the summary row added."""
    at(clock, "2026-11-03T10:10")
    payload = opening(
        "2026-11-03T10:00",
        recording_exported=False,
        feedback_form_filled=False,
        summary_sheet_row_added=False,
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.start("feedback_case", "FB-1", event="open", actor=AGENT, payload=payload)
    assert messages(refused.value) == [
        "'recording_exported' is not confirmed (it is False)",
        "'feedback_form_filled' is not confirmed (it is False)",
        "'summary_sheet_row_added' is not confirmed (it is False)",
    ]


def test_distribution_names_every_recipient(engine: af.Engine, clock: SimulatedClock) -> None:
    """The recording goes to all five people and the form to the information officer, or it is refused."""
    open_case(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "FB-1",
            "distribute",
            actor=AGENT,
            payload={
                "recording_sent_to": ["cs_manager", "aftersales_manager"],
                "form_delivered_to": "cs_manager",
            },
        )
    assert messages(refused.value) == [
        "'recording_sent_to' leaves out: general manager, aftersales info officer, front desk supervisor",
        "'form_delivered_to' must be 'aftersales_info_officer' (it is 'cs_manager')",
    ]
    assert engine.instance("FB-1").state == "opened"


def test_morning_call_distributed_after_noon_is_flagged_late(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A 10:00 call's feedback distributed at 13:10 is accepted but recorded as distribution_late."""
    open_case(engine, clock, "2026-11-03T10:00")
    at(clock, "2026-11-03T13:10")
    step = engine.fire(
        "FB-1",
        "distribute",
        actor=AGENT,
        payload={**DISTRIBUTION, "distribution_late_reason": "agent in training until 13:00"},
    )
    assert step.target == "distributed"
    data = engine.instance("FB-1").data
    assert (data["distribution_late"], data["distributed_at"]) == (True, "2026-11-03T05:10:00+00:00")
    audited = engine.history("FB-1")[-1]
    assert audited.guards[DEADLINE_GUARD] is False
    assert audited.changes["distribution_late"] is True


def test_morning_call_distributed_before_noon_is_on_time(engine: af.Engine, clock: SimulatedClock) -> None:
    """A 10:00 call's feedback distributed at 11:59 is on time."""
    open_case(engine, clock, "2026-11-03T10:00")
    at(clock, "2026-11-03T11:59")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    assert engine.instance("FB-1").data["distribution_late"] is False
    assert engine.history("FB-1")[-1].guards[DEADLINE_GUARD] is True


@pytest.mark.parametrize(("distributed", "late"), [("2026-11-03T17:50", False), ("2026-11-03T18:05", True)])
def test_afternoon_call_is_due_by_end_of_day(
    engine: af.Engine, clock: SimulatedClock, distributed: str, late: bool
) -> None:
    """A 14:00 call's feedback is on time before 18:00 the same day and late after it."""
    open_case(engine, clock, "2026-11-03T14:00")
    at(clock, distributed)
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    assert engine.instance("FB-1").data["distribution_late"] is late


def test_department_must_write_its_actions(engine: af.Engine, clock: SimulatedClock) -> None:
    """The form comes back only with the department's actions written on it."""
    open_case(engine, clock)
    at(clock, "2026-11-03T11:00")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    engine.fire("FB-1", "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("FB-1", "department_completes", actor=DEPARTMENT, payload={"department_actions": ""})
    assert messages(refused.value) == [
        "'department_completes' must record 'department_actions'",
        "the department's actions are not written on the form",
    ]


def test_overdue_form_records_reason_and_gm_notice(engine: af.Engine, clock: SimulatedClock) -> None:
    """Not returned on collection the next day: the reason and the GM's notification time are recorded."""
    open_case(engine, clock)
    at(clock, "2026-11-03T11:00")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    engine.fire("FB-1", "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})
    overdue = {"overdue_reason": "technician on leave", "gm_notified_at": "2026-11-03T16:00:00+08:00"}
    at(clock, "2026-11-03T17:00")
    with pytest.raises(af.GuardRejected) as early:
        engine.fire("FB-1", "return_overdue", actor=AGENT, payload=overdue)
    assert messages(early.value) == [
        "the form is collected on 2026-11-04, 1d after it was handed over on 2026-11-03; "
        "it is not overdue before then"
    ]
    at(clock, "2026-11-04T09:30")
    step = engine.fire(
        "FB-1",
        "return_overdue",
        actor=AGENT,
        payload={**overdue, "gm_notified_at": "2026-11-04T09:20:00+08:00"},
    )
    assert step.target == "with_department"
    data = engine.instance("FB-1").data
    assert (data["overdue_reason"], data["gm_notified_at"], data["overdue_count"]) == (
        "technician on leave",
        "2026-11-04T09:20:00+08:00",
        1,
    )


def test_gm_notice_cannot_be_in_the_future(engine: af.Engine, clock: SimulatedClock) -> None:
    """The GM must already have been told when the overdue form is recorded."""
    open_case(engine, clock)
    at(clock, "2026-11-03T11:00")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    engine.fire("FB-1", "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})
    at(clock, "2026-11-04T09:30")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "FB-1",
            "return_overdue",
            actor=AGENT,
            payload={"overdue_reason": "on leave", "gm_notified_at": "2026-11-04T12:00:00+08:00"},
        )
    assert messages(refused.value) == [
        "'gm_notified_at' (2026-11-04T12:00:00+08:00) must be at most 2026-11-04T01:30:00+00:00"
    ]


def test_second_callback_updates_the_summary_sheet(engine: af.Engine, clock: SimulatedClock) -> None:
    """The second call's result goes on the form and on the summary sheet."""
    open_case(engine, clock)
    handled(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "FB-1",
            "second_callback",
            actor=AGENT,
            payload={
                "second_callback_result": "fine",
                "summary_sheet_updated": False,
                "customer_satisfied": True,
            },
        )
    assert messages(refused.value) == ["the second callback's result is not entered on the summary sheet"]


def test_department_manager_takes_the_case(engine: af.Engine, clock: SimulatedClock) -> None:
    """Only the business department's manager accepts the form."""
    open_case(engine, clock)
    at(clock, "2026-11-03T11:00")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    with pytest.raises(af.RoleDenied) as refused:
        engine.fire("FB-1", "department_accepts", actor=AGENT, payload={"department": "workshop"})
    assert messages(refused.value) == [
        "'department_accepts' needs one of the roles department_manager; cs-011 holds callback_agent"
    ]


# --- deadlines: 24 h department handling, form collection 1 d after acceptance, 4 h second callback --


def local_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def ticked(engine: af.Engine) -> list[tuple[str, str | None, str | None, str, datetime]]:
    """What a tick at the clock's now fires: (event, from, to, actor, time) per accepted step."""
    return [(s.event, s.source, s.target, s.actor.id, s.at) for s in engine.tick()]


def with_department(engine: af.Engine, clock: SimulatedClock) -> None:
    """Opened and distributed in the morning; the department takes it at 14:00 local on 2026-11-03."""
    open_case(engine, clock)
    at(clock, "2026-11-03T11:30")
    engine.fire("FB-1", "distribute", actor=AGENT, payload=DISTRIBUTION)
    at(clock, "2026-11-03T14:00")
    engine.fire("FB-1", "department_accepts", actor=DEPARTMENT, payload={"department": "workshop"})


def test_department_handling_and_collection_are_overdue_a_day_after_acceptance(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """24 h after department_accepts the handling is overdue and the form is not back at collection:
    two SLA breaches, once each; the state stays."""
    with_department(engine, clock)
    at(clock, "2026-11-04T13:59:59")
    assert ticked(engine) == []
    at(clock, "2026-11-04T14:00")
    due = local_time("2026-11-04T14:00")
    assert ticked(engine) == [
        ("sla_breached", "with_department", "with_department", "system", due),
        ("sla_breached", "with_department", "with_department", "system", due),
    ]
    breaches = [e.payload for e in engine.history("FB-1") if e.event == "sla_breached"]
    assert breaches == [
        {"deadline": "department_handling", "due_at": "2026-11-04T06:00:00+00:00"},
        {"deadline": "form_collection", "due_at": "2026-11-04T06:00:00+00:00"},
    ]
    assert ticked(engine) == []
    assert engine.instance("FB-1").state == "with_department"


def test_the_agent_records_why_the_form_is_late_after_the_breach(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The system only flags the missing form; the reason and the GM's notification come from the agent,
    and a late completion is still accepted."""
    with_department(engine, clock)
    at(clock, "2026-11-04T14:00")
    engine.tick()
    assert "overdue_count" not in engine.instance("FB-1").data
    at(clock, "2026-11-04T14:30")
    overdue = {"overdue_reason": "technician on leave", "gm_notified_at": "2026-11-04T14:25:00+08:00"}
    assert engine.fire("FB-1", "return_overdue", actor=AGENT, payload=overdue).target == "with_department"
    assert engine.instance("FB-1").data["overdue_count"] == 1
    assert ticked(engine) == []
    step = engine.fire(
        "FB-1", "department_completes", actor=DEPARTMENT, payload={"department_actions": "done"}
    )
    assert step.target == "returned"


def test_a_form_back_in_time_clears_the_department_deadlines(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Completed the next morning: only the second-callback clock is left, 4 h from the return."""
    open_case(engine, clock)
    handled(engine, clock)
    assert [(d.name, d.due_at) for d in engine.store.pending_deadlines("FB-1")] == [
        ("second_callback", local_time("2026-11-04T13:00"))
    ]


def test_the_second_callback_is_due_four_hours_after_the_return(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Form returned at 09:00: no second call by 13:00 records an SLA breach, once; a late call is accepted."""
    open_case(engine, clock)
    handled(engine, clock)
    at(clock, "2026-11-04T12:59:59")
    assert ticked(engine) == []
    at(clock, "2026-11-04T13:00")
    assert ticked(engine) == [
        ("sla_breached", "returned", "returned", "system", local_time("2026-11-04T13:00"))
    ]
    assert engine.history("FB-1")[-1].payload == {
        "deadline": "second_callback",
        "due_at": "2026-11-04T05:00:00+00:00",
    }
    assert ticked(engine) == []
    at(clock, "2026-11-04T14:00")
    step = engine.fire(
        "FB-1",
        "second_callback",
        actor=AGENT,
        payload={
            "second_callback_result": "fixed",
            "summary_sheet_updated": True,
            "customer_satisfied": True,
        },
    )
    assert step.target == "second_callback_done"
    assert engine.store.pending_deadlines("FB-1") == []
