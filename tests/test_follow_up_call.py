"""Scenarios of the follow-up callback (domain.md §2d), from the callback desk's point of view."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.callback import before_due_time
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS

AGENT = af.Actor("cs-011", roles={"callback_agent"})
SA = af.Actor("sa-017", roles={"service_advisor"})
SYSTEM = af.Actor("scheduler", roles={"system"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
BLACKOUT = (
    "the call falls in a blackout window, when customers rest or are in meetings; call at another time "
    "or give the reason under 'call_time_override_reason'"
)
TIME_GUARD = "call_time_allowed(windows=params.callback_blackouts, timezone=params.timezone)"
SCRIPT = {"script_id": "CB-STD", "script_version": "2026.1"}
BLACKOUTS = ["09:00-11:00", "16:00-18:30"]


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def at(clock: SimulatedClock, local: str) -> None:
    """Move the clock to a wall-clock time at the dealer (Asia/Shanghai)."""
    clock.set(datetime.fromisoformat(local).replace(tzinfo=SHANGHAI))


def schedule(engine: af.Engine, clock: SimulatedClock, call: str = "FC-1", **extra: object) -> af.Step:
    """A call for an order delivered on Monday 2026-11-02 at 15:00 local; the clock is then 14:00 next day."""
    at(clock, "2026-11-03T14:00")
    payload = {"repair_order_id": "RO-1", "delivered_at": "2026-11-02T15:00:00+08:00", **extra}
    return engine.start("follow_up_call", call, event="schedule", actor=SYSTEM, payload=payload)


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The follow-up call holds the brief's 5 states, its 4 transitions and 3 terminal states."""
    flow = flows["follow_up_call"]
    assert set(flow.states) == {
        "scheduled",
        "attempting",
        "completed_ok",
        "completed_with_feedback",
        "unreachable",
    }
    assert set(flow.events) == {
        "schedule",
        "call_no_answer",
        "call_completed",
        "call_completed_with_objection",
        "give_up",
    }
    assert flow.terminal_states == {"completed_ok", "completed_with_feedback", "unreachable"}
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None and transition.label.en and transition.label.zh


def test_callback_numbers_are_parameters(flows: af.FlowSet) -> None:
    """The brief's numbers sit in params under the names of domain.md §3, with the proposed defaults."""
    params = flows["follow_up_call"].params
    assert (params["callback_due_days"], params["callback_max_days"], params["callback_max_attempts"]) == (
        3,
        7,
        3,
    )
    assert "callback_min_ratio" not in params  # drawn by the repair order at delivery
    assert list(params["callback_blackouts"]) == ["09:00-11:00", "16:00-18:30"]
    assert set(params["callback_always_call"]) == {
        "new_car_first_visit",
        "lost_customer_return",
        "rework_or_complaint_order",
        "repeat_repair",
    }


def test_call_without_objection_completes(engine: af.Engine, clock: SimulatedClock) -> None:
    """A call outside the blackout windows with a rating and no objection ends completed_ok, script kept."""
    schedule(engine, clock)
    step = engine.fire(
        "FC-1",
        "call_completed",
        actor=AGENT,
        payload={"rating": 9, "no_objection": True, "suggestions": "more parking", **SCRIPT},
    )
    assert step.target == "completed_ok"
    data = engine.instance("FC-1").data
    assert (data["rating"], data["script_id"], data["script_version"]) == (9, "CB-STD", "2026.1")
    assert data["completed_at"] == "2026-11-03T06:00:00+00:00"
    assert engine.history("FC-1")[-1].guards[TIME_GUARD] is True


def test_service_advisor_may_make_the_call(engine: af.Engine, clock: SimulatedClock) -> None:
    """The service advisor (D0's 3-day call) may record a completed call too."""
    schedule(engine, clock, always_call_case="new_car_first_visit")
    step = engine.fire(
        "FC-1", "call_completed", actor=SA, payload={"rating": 10, "no_objection": True, **SCRIPT}
    )
    assert step.target == "completed_ok"


def test_call_in_a_blackout_window_needs_an_audited_reason(engine: af.Engine, clock: SimulatedClock) -> None:
    """A call at 09:30 local is refused without a reason, accepted with one; the reason is in the audit."""
    schedule(engine, clock)
    at(clock, "2026-11-04T09:30")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FC-1", "call_no_answer", actor=AGENT)
    assert messages(refused.value) == [BLACKOUT]
    assert engine.history("FC-1")[-1].accepted is False
    reason = "customer asked to be called before 10:00"
    step = engine.fire("FC-1", "call_no_answer", actor=AGENT, payload={"call_time_override_reason": reason})
    assert step.target == "attempting"
    audited = engine.history("FC-1")[-1]
    assert audited.payload == {"call_time_override_reason": reason}
    assert audited.guards[TIME_GUARD] is False
    assert engine.instance("FC-1").data["attempts"] == 1


def test_the_evening_window_is_a_blackout_too(engine: af.Engine, clock: SimulatedClock) -> None:
    """16:00-18:30 local is refused (the simulated clock's 08:00 UTC is 16:00 in Shanghai); 18:30 is not."""
    schedule(engine, clock)
    clock.set(datetime.fromisoformat("2026-11-03T08:00:00+00:00"))
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "FC-1", "call_completed", actor=AGENT, payload={"rating": 8, "no_objection": True, **SCRIPT}
        )
    assert messages(refused.value) == [BLACKOUT]
    at(clock, "2026-11-03T18:30")
    step = engine.fire(
        "FC-1", "call_completed", actor=AGENT, payload={"rating": 8, "no_objection": True, **SCRIPT}
    )
    assert step.target == "completed_ok"


def test_an_earlier_override_does_not_cover_a_later_call(engine: af.Engine, clock: SimulatedClock) -> None:
    """Each call in a blackout window needs its own reason: the reason stored from an earlier call is not enough."""
    schedule(engine, clock)
    at(clock, "2026-11-04T09:30")
    engine.fire(
        "FC-1", "call_no_answer", actor=AGENT, payload={"call_time_override_reason": "customer asked"}
    )
    at(clock, "2026-11-05T10:15")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FC-1", "call_no_answer", actor=AGENT)
    assert messages(refused.value) == [BLACKOUT]


def test_call_completed_needs_no_objection(engine: af.Engine, clock: SimulatedClock) -> None:
    """A call where the customer objected cannot be recorded as done without an issue."""
    schedule(engine, clock)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "FC-1", "call_completed", actor=AGENT, payload={"rating": 4, "no_objection": False, **SCRIPT}
        )
    assert messages(refused.value) == [
        "the customer raised an issue; record it with call_completed_with_objection"
    ]


def test_call_completed_needs_rating_and_script(engine: af.Engine, clock: SimulatedClock) -> None:
    """A completed call records the rating and the script's id and version."""
    schedule(engine, clock)
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("FC-1", "call_completed", actor=AGENT, payload={"no_objection": True})
    assert messages(refused.value) == [
        "'call_completed' must record 'rating'",
        "'call_completed' must record 'script_id'",
        "'call_completed' must record 'script_version'",
        "'rating' is not recorded",
    ]


def test_objection_is_recorded_with_recording_and_consent(engine: af.Engine, clock: SimulatedClock) -> None:
    """An objection needs its text and the recording; whether the customer agrees to be contacted is kept."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    objection = {"objection": "the brake noise is back", "customer_consents_to_contact": False, **SCRIPT}
    with pytest.raises(af.PayloadRejected) as refused:
        engine.fire("FC-1", "call_completed_with_objection", actor=AGENT, payload=objection)
    assert messages(refused.value) == [
        "'call_completed_with_objection' must record 'recording_ref'",
        "'recording_ref' is not recorded",
    ]
    step = engine.fire(
        "FC-1",
        "call_completed_with_objection",
        actor=AGENT,
        payload={**objection, "recording_ref": "rec-2026-1103-0042", "feedback_case_id": "FB-1"},
    )
    assert step.target == "completed_with_feedback"
    data = engine.instance("FC-1").data
    assert (data["customer_consents_to_contact"], data["no_objection"], data["feedback_case_id"]) == (
        False,
        False,
        "FB-1",
    )


def test_objection_in_a_blackout_window_needs_a_reason(engine: af.Engine, clock: SimulatedClock) -> None:
    """The soft call-time guard applies to a call with an objection as well."""
    schedule(engine, clock)
    at(clock, "2026-11-03T10:00")
    payload = {
        "objection": "rude staff",
        "recording_ref": "rec-9",
        "customer_consents_to_contact": True,
        **SCRIPT,
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FC-1", "call_completed_with_objection", actor=AGENT, payload=payload)
    assert messages(refused.value) == [BLACKOUT]


def test_only_the_callback_agent_records_an_objection(engine: af.Engine, clock: SimulatedClock) -> None:
    """The brief gives call_completed_with_objection to the callback agent alone."""
    schedule(engine, clock)
    payload = {"objection": "noise", "recording_ref": "rec-1", "customer_consents_to_contact": True, **SCRIPT}
    with pytest.raises(af.RoleDenied) as refused:
        engine.fire("FC-1", "call_completed_with_objection", actor=SA, payload=payload)
    assert messages(refused.value) == [
        "'call_completed_with_objection' needs one of the roles callback_agent; sa-017 holds service_advisor"
    ]


def test_give_up_is_refused_before_the_limits(engine: af.Engine, clock: SimulatedClock) -> None:
    """Giving up after one attempt within the 7-day limit is refused, saying how far the limits are."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("FC-1", "give_up", actor=SYSTEM)
    assert messages(refused.value) == [
        "only 1 of 3 call attempts were made and the 7-day limit after delivery runs until "
        "2026-11-09 15:00; keep trying"
    ]


def test_give_up_after_the_allowed_attempts(engine: af.Engine, clock: SimulatedClock) -> None:
    """After three unanswered calls the system gives up: unreachable."""
    schedule(engine, clock)
    for day in ("2026-11-03T14:00", "2026-11-04T19:00", "2026-11-05T12:00"):
        at(clock, day)
        engine.fire("FC-1", "call_no_answer", actor=AGENT)
    assert engine.fire("FC-1", "give_up", actor=SYSTEM).target == "unreachable"


def test_give_up_past_the_hard_limit(engine: af.Engine, clock: SimulatedClock) -> None:
    """Seven days after delivery the system may give up even after a single attempt."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    at(clock, "2026-11-09T15:00")
    assert engine.fire("FC-1", "give_up", actor=SYSTEM).target == "unreachable"


def test_give_up_is_the_systems(engine: af.Engine, clock: SimulatedClock) -> None:
    """A callback agent cannot declare the customer unreachable; the scheduler does."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    with pytest.raises(af.RoleDenied):
        engine.fire("FC-1", "give_up", actor=AGENT)


def test_always_call_case_must_be_a_known_one(engine: af.Engine, clock: SimulatedClock) -> None:
    """A call scheduled as an always-call case names one of the brand's cases."""
    with pytest.raises(af.GuardRejected) as refused:
        schedule(engine, clock, always_call_case="vip")
    assert messages(refused.value) == [
        "'always_call_case' is not one of this dealership's always-call cases (callback_always_call)"
    ]
    assert schedule(engine, clock, "FC-2", always_call_case="repeat_repair").target == "scheduled"


# --- deadlines: due after callback_due_days (out of the blackouts), given up after callback_max_days --


def local_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def ticked(engine: af.Engine) -> list[tuple[str, str | None, str | None, str, datetime]]:
    """What a tick at the clock's now fires: (event, from, to, actor, time) per accepted step."""
    return [(s.event, s.source, s.target, s.actor.id, s.at) for s in engine.tick()]


def test_the_call_is_due_three_days_after_delivery(engine: af.Engine, clock: SimulatedClock) -> None:
    """Delivered Monday 15:00: still 'scheduled' at Thursday 15:00, an SLA breach is recorded once."""
    schedule(engine, clock)
    at(clock, "2026-11-05T14:59:59")
    assert ticked(engine) == []
    at(clock, "2026-11-05T15:00")
    due = local_time("2026-11-05T15:00")
    assert ticked(engine) == [("sla_breached", "scheduled", "scheduled", "system", due)]
    assert engine.history("FC-1")[-1].payload == {"deadline": "due", "due_at": "2026-11-05T07:00:00+00:00"}
    assert ticked(engine) == []
    assert engine.instance("FC-1").state == "scheduled"


def test_a_due_time_in_a_blackout_window_moves_to_its_end(engine: af.Engine, clock: SimulatedClock) -> None:
    """Delivered at 16:30: three days later is in the 16:00-18:30 blackout, so the call is due at 18:30."""
    schedule(engine, clock, delivered_at="2026-11-02T16:30:00+08:00")
    due = next(d for d in engine.store.pending_deadlines("FC-1") if d.name == "due")
    assert due.due_at == local_time("2026-11-05T18:30")
    at(clock, "2026-11-05T18:29")
    assert ticked(engine) == []
    at(clock, "2026-11-05T18:30")
    assert ticked(engine) == [
        ("sla_breached", "scheduled", "scheduled", "system", local_time("2026-11-05T18:30"))
    ]
    assert ticked(engine) == []


def test_a_failed_attempt_before_the_due_time_keeps_the_clock(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """'attempting' is due at the same time as 'scheduled' (counted from delivery, not from the attempts);
    the first attempt's time is kept, later attempts do not move it."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    at(clock, "2026-11-04T12:00")
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    data = engine.instance("FC-1").data
    assert (data["first_attempt_at"], data["last_call_at"], data["attempts"]) == (
        "2026-11-03T06:00:00+00:00",
        "2026-11-04T04:00:00+00:00",
        2,
    )
    at(clock, "2026-11-05T14:59")
    assert ticked(engine) == []
    at(clock, "2026-11-05T15:00")
    assert ticked(engine) == [
        ("sla_breached", "attempting", "attempting", "system", local_time("2026-11-05T15:00"))
    ]
    assert ticked(engine) == []


def test_a_breach_is_not_recorded_again_by_a_later_attempt(engine: af.Engine, clock: SimulatedClock) -> None:
    """First tried after the due time: the breach recorded in 'scheduled' is not repeated in 'attempting'."""
    schedule(engine, clock)
    at(clock, "2026-11-05T15:00")
    assert [s.event for s in engine.tick()] == ["sla_breached"]
    at(clock, "2026-11-06T14:00")
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    assert [d.name for d in engine.store.pending_deadlines("FC-1")] == ["hard_limit"]
    at(clock, "2026-11-08T12:00")
    assert ticked(engine) == []
    breaches = [e for e in engine.history("FC-1") if e.event == "sla_breached"]
    assert [e.source for e in breaches] == ["scheduled"]


def test_the_system_gives_up_at_the_hard_limit(engine: af.Engine, clock: SimulatedClock) -> None:
    """Seven days after delivery the system fires give_up: the call ends unreachable, once."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_no_answer", actor=AGENT)
    at(clock, "2026-11-05T15:00")
    engine.tick()  # the due breach
    at(clock, "2026-11-09T14:59")
    assert ticked(engine) == []
    at(clock, "2026-11-09T15:00")
    assert ticked(engine) == [
        ("give_up", "attempting", "unreachable", "system", local_time("2026-11-09T15:00"))
    ]
    assert ticked(engine) == []
    assert engine.instance("FC-1").state == "unreachable"
    assert engine.store.pending_deadlines("FC-1") == []


def test_a_call_never_tried_is_given_up_too(engine: af.Engine, clock: SimulatedClock) -> None:
    """give_up leaves 'scheduled' as well: a customer never called by day 7 is just as unreachable."""
    schedule(engine, clock)
    at(clock, "2026-11-09T14:59")
    assert [s.event for s in engine.tick()] == ["sla_breached"]  # the due time passed on Thursday
    at(clock, "2026-11-09T15:00")
    assert ticked(engine) == [
        ("give_up", "scheduled", "unreachable", "system", local_time("2026-11-09T15:00"))
    ]
    assert ticked(engine) == []
    assert engine.instance("FC-1").data.get("attempts") is None


def test_a_completed_call_clears_the_deadlines(engine: af.Engine, clock: SimulatedClock) -> None:
    """A call done in time leaves nothing to fire."""
    schedule(engine, clock)
    engine.fire("FC-1", "call_completed", actor=AGENT, payload={"rating": 9, "no_objection": True, **SCRIPT})
    assert engine.store.pending_deadlines("FC-1") == []
    at(clock, "2026-11-20T12:00")
    assert ticked(engine) == []


def test_faw_calls_are_due_after_seven_days(clock: SimulatedClock) -> None:
    """FAW (callback_due_days 7): nothing is overdue on day 3; on day 7 the breach and the give-up come together."""
    faw = af.Engine(af.load_flows(FLOWS, brand="faw"), af.SQLiteStore(":memory:"), clock=clock)
    schedule(faw, clock)
    at(clock, "2026-11-05T15:00")
    assert ticked(faw) == []
    at(clock, "2026-11-09T14:59")
    assert ticked(faw) == []
    at(clock, "2026-11-09T15:00")
    day_7 = local_time("2026-11-09T15:00")
    assert ticked(faw) == [
        ("sla_breached", "scheduled", "scheduled", "system", day_7),
        ("give_up", "scheduled", "unreachable", "system", day_7),
    ]
    assert ticked(faw) == []


def when_ctx(data: dict[str, object], now: str = "2026-11-20T12:00") -> RuleContext:
    return RuleContext(
        data=data,
        before=data,
        payload={},
        params={"timezone": "Asia/Shanghai"},
        now=local_time(now),
        actor=AGENT,
        instance_id="FC-1",
        flow="follow_up_call",
        state="attempting",
        event="call_no_answer",
    )


def first_tried(local: str) -> dict[str, object]:
    """Delivered 2026-11-02 16:30 local (due 2026-11-05 18:30 after the blackout), first tried at ``local``."""
    return {"delivered_at": "2026-11-02T16:30:00+08:00", "first_attempt_at": f"{local}:00+08:00"}


@pytest.mark.parametrize(
    ("tried", "holds"),
    [("2026-11-05T16:29", True), ("2026-11-05T18:29", True), ("2026-11-05T18:30", False)],
)
def test_before_due_time_counts_like_the_deadline(tried: str, holds: bool) -> None:
    """before_due_time moves the due time out of the blackout just as the deadline does (16:30 -> 18:30),
    and compares it with the recorded time, not the clock."""
    result = before_due_time(
        when_ctx(first_tried(tried)), at="first_attempt_at", field="delivered_at", after=3, avoid=BLACKOUTS
    )
    assert (result is None) == holds
    if not holds:
        assert result == (
            "'first_attempt_at' (2026-11-05 18:30) is not before the due time 3 days after 'delivered_at' "
            "(2026-11-05 18:30)"
        )


def test_before_due_time_does_not_change_with_the_clock() -> None:
    """The same data gives the same answer when the deadline is set and when it fires days later."""
    data = first_tried("2026-11-04T12:00")
    for now in ("2026-11-04T12:00", "2026-11-05T18:30", "2026-12-01T09:00"):
        assert (
            before_due_time(when_ctx(data, now), at="first_attempt_at", field="delivered_at", after=3) is None
        )


def test_before_due_time_takes_durations_and_needs_both_times() -> None:
    """A duration string counts as written; a plain number counts its unit; either time missing fails."""
    data = first_tried("2026-11-03T16:30")
    assert before_due_time(when_ctx(data), at="first_attempt_at", field="delivered_at", after="2d") is None
    assert before_due_time(when_ctx(data), at="first_attempt_at", field="delivered_at", after="1d") == (
        "'first_attempt_at' (2026-11-03 16:30) is not before the due time 1d after 'delivered_at' "
        "(2026-11-03 16:30)"
    )
    assert before_due_time(
        when_ctx(data), at="first_attempt_at", field="delivered_at", after=2, unit="hours"
    ) == (
        "'first_attempt_at' (2026-11-03 16:30) is not before the due time 2 hours after 'delivered_at' "
        "(2026-11-02 18:30)"
    )
    assert (
        before_due_time(
            when_ctx({"delivered_at": data["delivered_at"]}),
            at="first_attempt_at",
            field="delivered_at",
            after=3,
        )
        == "'first_attempt_at' is not recorded"
    )
    assert before_due_time(
        when_ctx({"first_attempt_at": data["first_attempt_at"]}),
        at="first_attempt_at",
        field="delivered_at",
        after=3,
    ) == ("'delivered_at' is not recorded as a time")


def test_before_due_time_arguments_are_checked_at_load() -> None:
    """A bad duration or blackout window in the rule's arguments is reported when the flow loads."""
    spec = DEFAULT_REGISTRY.get("before_due_time")
    assert spec is not None
    assert spec.checks["after"]("3 days") is not None
    assert spec.checks["after"](-1) == "must be 0 or more (got -1)"
    assert spec.checks["after"]("4h") is None
    assert spec.checks["avoid"](["09:00-08:00"]) is not None
