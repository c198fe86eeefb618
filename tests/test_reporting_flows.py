"""Scenarios of the weekly feedback report and the monthly analysis (domain.md §2d, D3 steps 7-8)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

AGENT = af.Actor("cs-011", roles={"callback_agent"})
GM = af.Actor("gm-01", roles={"general_manager"})
SYSTEM = af.Actor("scheduler", roles={"system"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECIPIENTS = [
    "general_manager",
    "cs_manager",
    "aftersales_manager",
    "aftersales_info_officer",
    "front_desk_supervisor",
]
HAND_IN = {"follow_up_forms": ["FORM-118", "FORM-121"], "summary_sheet_ref": "SUM-2026-W45"}
ANALYSIS = {"summary_sheet_ref": "SUM-2026-10", "analysis": "brake noise: 4 cases", "sent_to": RECIPIENTS}
ON_TIME_GUARD = (
    "monthly_report_on_time(field='month', day=params.monthly_report_day, timezone=params.timezone)"
)


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def at(clock: SimulatedClock, local: str) -> None:
    """Move the clock to a wall-clock time at the dealer (Asia/Shanghai)."""
    clock.set(datetime.fromisoformat(local).replace(tzinfo=SHANGHAI))


def gm_signature(at_time: str) -> dict[str, str]:
    return {
        "signer_role": "general_manager",
        "signer_name": "Wang Qiang",
        "signed_at": at_time,
        "method": "wet_ink_scan",
    }


def open_week(engine: af.Engine, clock: SimulatedClock) -> af.Step:
    """Open the report of the week starting Monday 2026-11-02."""
    at(clock, "2026-11-02T09:00")
    return engine.start(
        "weekly_feedback_report", "WR-45", event="open", actor=SYSTEM, payload={"week_of": "2026-11-02"}
    )


def signed_week(engine: af.Engine, clock: SimulatedClock) -> None:
    """Hand the week in on Friday 2026-11-06 and have the GM sign it with one suggestion."""
    open_week(engine, clock)
    at(clock, "2026-11-06T16:30")
    engine.fire("WR-45", "submit_to_gm", actor=AGENT, payload=HAND_IN)
    at(clock, "2026-11-06T18:00")
    engine.fire(
        "WR-45",
        "gm_signs",
        actor=GM,
        payload={
            "gm_signature": gm_signature(clock.iso()),
            "gm_suggestions": ["brief technicians on brake noise"],
        },
    )


def test_weekly_report_has_the_briefs_states(flows: af.FlowSet) -> None:
    """draft -> submitted_to_gm -> signed_by_gm -> returned -> improvements_recorded, with FRI and MON as params."""
    flow = flows["weekly_feedback_report"]
    assert set(flow.states) == {
        "draft",
        "submitted_to_gm",
        "signed_by_gm",
        "returned",
        "improvements_recorded",
    }
    assert flow.terminal_states == {"improvements_recorded"}
    assert flow.roles == {"callback_agent", "general_manager", "system"}
    assert (flow.params["weekly_report_day"], flow.params["weekly_return_day"]) == ("FRI", "MON")


def test_weekly_report_runs_friday_to_monday(engine: af.Engine, clock: SimulatedClock) -> None:
    """Handed in Friday, signed by the GM, collected Monday, improvements recorded."""
    signed_week(engine, clock)
    at(clock, "2026-11-09T09:00")
    engine.fire("WR-45", "collect_from_gm", actor=AGENT)
    step = engine.fire(
        "WR-45", "record_improvements", actor=AGENT, payload={"improvements": ["brake briefing held 11-10"]}
    )
    assert step.target == "improvements_recorded"
    assert engine.verify().ok


def test_weekly_report_on_another_day_needs_a_reason(engine: af.Engine, clock: SimulatedClock) -> None:
    """Handing the report in on Thursday is refused without a reason and accepted with one, which is audited."""
    open_week(engine, clock)
    at(clock, "2026-11-05T17:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("WR-45", "submit_to_gm", actor=AGENT, payload=HAND_IN)
    assert messages(refused.value) == [
        "the weekly report goes to the general manager on the report day (weekly_report_day); to hand it in "
        "on another day, give the reason under 'submit_day_override_reason'"
    ]
    reason = "GM travelling on Friday"
    engine.fire(
        "WR-45", "submit_to_gm", actor=AGENT, payload={**HAND_IN, "submit_day_override_reason": reason}
    )
    assert engine.history("WR-45")[-1].payload["submit_day_override_reason"] == reason


def test_signed_report_is_collected_on_monday(engine: af.Engine, clock: SimulatedClock) -> None:
    """Collecting the signed report on Saturday needs a reason."""
    signed_week(engine, clock)
    at(clock, "2026-11-07T10:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("WR-45", "collect_from_gm", actor=AGENT)
    assert messages(refused.value) == [
        "the signed report is collected on the return day (weekly_return_day); to collect it on another day, "
        "give the reason under 'return_day_override_reason'"
    ]


def test_only_the_gm_signs_the_weekly_report(engine: af.Engine, clock: SimulatedClock) -> None:
    """The signature on the weekly report must be the general manager's (§5 staff signatures)."""
    open_week(engine, clock)
    at(clock, "2026-11-06T16:30")
    engine.fire("WR-45", "submit_to_gm", actor=AGENT, payload=HAND_IN)
    forged = {**gm_signature(clock.iso()), "signer_role": "callback_agent"}
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("WR-45", "gm_signs", actor=GM, payload={"gm_signature": forged})
    assert messages(refused.value) == [
        "the general manager's signature on 'gm_signature' is signed by a callback agent, not by the general manager"
    ]
    with pytest.raises(af.RoleDenied):
        engine.fire("WR-45", "gm_signs", actor=AGENT, payload={"gm_signature": gm_signature(clock.iso())})


def test_gm_suggestions_need_recorded_improvements(engine: af.Engine, clock: SimulatedClock) -> None:
    """When the GM made suggestions, an empty list of improvements is refused."""
    signed_week(engine, clock)
    at(clock, "2026-11-09T09:00")
    engine.fire("WR-45", "collect_from_gm", actor=AGENT)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("WR-45", "record_improvements", actor=AGENT, payload={"improvements": []})
    assert messages(refused.value) == [
        "the general manager made suggestions; record the actions taken under 'improvements'"
    ]


def test_monthly_analysis_has_the_briefs_states(flows: af.FlowSet) -> None:
    """due -> sent, the deadline day and the recipients as params."""
    flow = flows["monthly_feedback_analysis"]
    assert set(flow.states) == {"due", "sent"}
    assert flow.terminal_states == {"sent"}
    assert flow.params["monthly_report_day"] == 3
    assert list(flow.params["feedback_recipients"]) == RECIPIENTS


@pytest.mark.parametrize(
    ("sent", "late"),
    [("2026-11-01T10:00", False), ("2026-11-03T23:50", False), ("2026-11-04T08:00", True)],
)
def test_monthly_analysis_is_due_by_the_third(
    engine: af.Engine, clock: SimulatedClock, sent: str, late: bool
) -> None:
    """October's analysis is on time up to the end of 3 November; later it is sent and flagged late."""
    at(clock, "2026-11-01T08:00")
    engine.start(
        "monthly_feedback_analysis", "MA-10", event="open", actor=SYSTEM, payload={"month": "2026-10"}
    )
    at(clock, sent)
    assert engine.fire("MA-10", "send", actor=AGENT, payload=ANALYSIS).target == "sent"
    data = engine.instance("MA-10").data
    assert data["sent_late"] is late
    assert engine.history("MA-10")[-1].guards[ON_TIME_GUARD] is not late


def test_monthly_analysis_goes_to_every_recipient(engine: af.Engine, clock: SimulatedClock) -> None:
    """An analysis emailed to part of the list is refused, naming who is missing."""
    at(clock, "2026-11-02T10:00")
    engine.start(
        "monthly_feedback_analysis", "MA-10", event="open", actor=SYSTEM, payload={"month": "2026-10"}
    )
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("MA-10", "send", actor=AGENT, payload={**ANALYSIS, "sent_to": ["general_manager"]})
    assert messages(refused.value) == [
        "'sent_to' leaves out: cs manager, aftersales manager, aftersales info officer, front desk supervisor"
    ]


def test_monthly_analysis_needs_a_month(engine: af.Engine) -> None:
    """The month analysed is written YYYY-MM."""
    with pytest.raises(af.GuardRejected) as refused:
        engine.start(
            "monthly_feedback_analysis", "MA-X", event="open", actor=SYSTEM, payload={"month": "October"}
        )
    assert messages(refused.value) == [
        "'month' must be a month written YYYY-MM, e.g. '2026-10' (it is 'October')"
    ]


def test_week_without_gm_suggestions_records_no_improvements(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A report the GM signed without suggestions is finished with an empty list of improvements."""
    open_week(engine, clock)
    at(clock, "2026-11-06T16:30")
    engine.fire("WR-45", "submit_to_gm", actor=AGENT, payload=HAND_IN)
    engine.fire("WR-45", "gm_signs", actor=GM, payload={"gm_signature": gm_signature(clock.iso())})
    at(clock, "2026-11-09T09:00")
    engine.fire("WR-45", "collect_from_gm", actor=AGENT)
    step = engine.fire("WR-45", "record_improvements", actor=AGENT, payload={"improvements": []})
    assert step.target == "improvements_recorded"
