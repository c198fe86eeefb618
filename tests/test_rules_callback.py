"""Tests for the callback rules: call times, attempts, distribution, collection and report deadlines.

The module under test is ``aftersales_flow.rules.callback`` (domain.md §2d).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.callback import (
    WEEKDAYS,
    call_time_allowed,
    callback_attempts_exhausted,
    collection_day_reached,
    distribution_deadline,
    distribution_deadline_met,
    is_month,
    monthly_deadline,
    monthly_report_on_time,
    on_weekday,
    parse_month,
    sent_to_all,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AGENT = af.Actor("cs-1", roles={"callback_agent"})
BLACKOUTS = ["09:00-11:00", "16:00-18:30"]
RECIPIENTS = ["general_manager", "cs_manager", "aftersales_info_officer"]


def local(text: str, zone: str = "Asia/Shanghai") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def _ctx(now: str, data: Mapping[str, Any] | None = None, zone: str = "Asia/Shanghai") -> RuleContext:
    """A context at the wall-clock time ``now`` in ``zone``."""
    return RuleContext(
        data=data or {},
        before={},
        payload={},
        params={},
        now=local(now, zone),
        actor=AGENT,
        instance_id="X-1",
        flow="follow_up_call",
        state="scheduled",
        event="call_completed",
    )


@pytest.mark.parametrize(
    "now", ["2026-11-03T08:59", "2026-11-03T11:00", "2026-11-03T15:59", "2026-11-03T18:30"]
)
def test_call_time_allowed_outside_the_windows(now: str) -> None:
    """A call just before or at the end of a blackout window is allowed (windows are half-open)."""
    assert call_time_allowed(_ctx(now), windows=BLACKOUTS) is None


@pytest.mark.parametrize(
    ("now", "window"),
    [
        ("2026-11-03T09:00", "09:00-11:00"),
        ("2026-11-03T10:59", "09:00-11:00"),
        ("2026-11-03T18:29", "16:00-18:30"),
    ],
)
def test_call_time_refused_inside_a_window(now: str, window: str) -> None:
    """A call inside a window names the local time and the window."""
    expected = f"the call at {now[-5:]} falls in the blackout window {window}, when customers rest or are in meetings"
    assert call_time_allowed(_ctx(now), windows=BLACKOUTS) == expected


def test_call_time_uses_the_dealers_time_zone() -> None:
    """The window is read in the given time zone: 10:00 in Urumqi is a blackout there (12:00 in Shanghai)."""
    ctx = _ctx("2026-11-03T10:00", zone="Asia/Urumqi")
    assert call_time_allowed(ctx, windows=BLACKOUTS, timezone="Asia/Urumqi") == (
        "the call at 10:00 falls in the blackout window 09:00-11:00, when customers rest or are in meetings"
    )
    assert call_time_allowed(ctx, windows=BLACKOUTS) is None


def test_time_zone_is_checked_when_a_flow_loads() -> None:
    """Every time rule checks its time zone argument at load time."""
    for name in ("call_time_allowed", "distribution_deadline_met", "on_weekday", "monthly_report_on_time"):
        spec = DEFAULT_REGISTRY.get(name)
        assert spec is not None
        assert spec.checks["timezone"]("Asia/Shanghai") is None
        assert spec.checks["timezone"]("Mars/Olympus") == (
            "unknown time zone 'Mars/Olympus'; use an IANA name like 'Asia/Shanghai'"
        )


def test_call_time_rule_checks_windows_when_a_flow_loads() -> None:
    """A malformed blackout window is reported by the rule's load-time check."""
    spec = DEFAULT_REGISTRY.get("call_time_allowed")
    assert spec is not None
    assert spec.checks["windows"](BLACKOUTS) is None
    assert (
        spec.checks["windows"](["9-11"])
        == "not a time window: '9-11' (write 'HH:MM-HH:MM', e.g. '09:00-11:00')"
    )


def test_attempts_exhausted_by_count() -> None:
    """Three attempts allow giving up at once."""
    ctx = _ctx("2026-11-03T12:00", {"attempts": 3, "delivered_at": "2026-11-03T09:00:00+08:00"})
    assert callback_attempts_exhausted(ctx, max_attempts=3, max_days=7) is None


def test_attempts_exhausted_by_the_hard_limit() -> None:
    """Seven days after delivery the limit has passed, whatever the count."""
    data = {"attempts": 1, "delivered_at": "2026-11-02T15:00:00+08:00"}
    assert callback_attempts_exhausted(_ctx("2026-11-09T15:00", data), max_attempts=3, max_days=7) is None
    assert callback_attempts_exhausted(_ctx("2026-11-09T14:59", data), max_attempts=3, max_days=7) == (
        "only 1 of 3 call attempts were made and the 7-day limit after delivery runs until 2026-11-09 15:00; "
        "keep trying"
    )


def test_attempts_without_a_delivery_time() -> None:
    """Without the delivery time only the count can allow giving up."""
    assert callback_attempts_exhausted(_ctx("2026-11-09T15:00"), max_attempts=3, max_days=7) == (
        "only 0 of 3 call attempts were made and 'delivered_at' is not recorded"
    )


def test_sent_to_all_names_the_missing() -> None:
    """Every recipient must be named; role ids and {role: …} mappings both count."""
    data = {"sent": ["general_manager", {"role": "cs_manager", "name": "Liu"}]}
    assert sent_to_all(_ctx("2026-11-03T10:00", data), field="sent", recipients=RECIPIENTS) == (
        "'sent' leaves out: aftersales info officer"
    )
    data["sent"].append("aftersales_info_officer")
    assert sent_to_all(_ctx("2026-11-03T10:00", data), field="sent", recipients=RECIPIENTS) is None
    assert sent_to_all(_ctx("2026-11-03T10:00"), field="sent", recipients=["cs_manager"]) == (
        "'sent' leaves out: cs manager"
    )


@pytest.mark.parametrize(
    ("called", "part", "deadline"),
    [("11:59", "morning", "12:00"), ("12:00", "afternoon", "18:00"), ("19:30", "afternoon", "18:00")],
)
def test_distribution_deadline_by_part_of_day(called: str, part: str, deadline: str) -> None:
    """Before the cut-off a call is a morning call due at lunch; from it on, due at the end of the day."""
    got_part, got_deadline = distribution_deadline(local(f"2026-11-03T{called}"), "12:00", "18:00")
    assert (got_part, got_deadline) == (part, local(f"2026-11-03T{deadline}"))


def test_distribution_deadline_met_and_missed() -> None:
    """A morning call's feedback is on time at 11:59 and late at 12:00, with the reason in words."""
    data = {"called_at": "2026-11-03T10:00:00+08:00"}
    args = {"field": "called_at", "morning_cutoff": "12:00", "end_of_day": "18:00"}
    assert distribution_deadline_met(_ctx("2026-11-03T11:59", data), **args) is None
    assert distribution_deadline_met(_ctx("2026-11-03T12:00", data), **args) == (
        "the call at 2026-11-03 10:00 was in the morning, so its feedback had to be distributed before 12:00 "
        "that day; it is 2026-11-03 12:00"
    )


def test_distribution_deadline_reads_the_call_in_local_time() -> None:
    """A call stamped in UTC (02:00Z = 10:00 in Shanghai) is a morning call."""
    data = {"called_at": "2026-11-03T02:00:00+00:00"}
    args = {"field": "called_at", "morning_cutoff": "12:00", "end_of_day": "18:00"}
    assert distribution_deadline_met(_ctx("2026-11-03T11:00", data), **args) is None
    assert distribution_deadline_met(_ctx("2026-11-03T11:00"), **args) == "'called_at' is not recorded"
    bad = {"called_at": "yesterday"}
    assert distribution_deadline_met(_ctx("2026-11-03T11:00", bad), **args) == (
        "'called_at' is not a valid time: Invalid isoformat string: 'yesterday'"
    )


def test_collection_day() -> None:
    """The form may be reported overdue from the local day after it was handed over."""
    data = {"distributed_at": "2026-11-03T03:00:00+00:00"}
    assert collection_day_reached(_ctx("2026-11-04T00:01", data), field="distributed_at", lag="1d") is None
    assert collection_day_reached(_ctx("2026-11-03T23:59", data), field="distributed_at", lag="1d") == (
        "the form is collected on 2026-11-04, 1d after it was handed over on 2026-11-03; it is not overdue before then"
    )


@pytest.mark.parametrize(("today", "holds"), [("2026-11-06T09:00", True), ("2026-11-05T23:59", False)])
def test_on_weekday(today: str, holds: bool) -> None:
    """Friday 2026-11-06 is FRI in the dealer's time zone; Thursday is not."""
    result = on_weekday(_ctx(today), day="FRI")
    assert (result is None) is holds
    if not holds:
        assert result == "today is Thursday 2026-11-05, not Friday"


def test_weekday_parameter_is_checked_when_a_flow_loads() -> None:
    """The weekday is one of the seven codes (a Literal, checked by the loader)."""
    spec = DEFAULT_REGISTRY.get("on_weekday")
    assert spec is not None
    assert spec.choices["day"] == WEEKDAYS == ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def test_parse_month_and_is_month() -> None:
    """Months are written YYYY-MM."""
    assert parse_month("2026-10") == date(2026, 10, 1)
    assert parse_month("2026-13") is None
    assert parse_month(202610) is None
    assert is_month(_ctx("2026-11-01T00:00", {"month": "2026-10"}), field="month") is None
    assert is_month(_ctx("2026-11-01T00:00"), field="month") == "'month' is not recorded"
    assert is_month(_ctx("2026-11-01T00:00", {"month": "2026-1"}), field="month") == (
        "'month' must be a month written YYYY-MM, e.g. '2026-10' (it is '2026-1')"
    )


def test_monthly_deadline_rolls_over_the_year() -> None:
    """December's analysis is due on the 3rd of January of the next year."""
    assert monthly_deadline(date(2026, 12, 1), 3) == date(2027, 1, 3)
    assert monthly_deadline(date(2026, 10, 1), 3) == date(2026, 11, 3)


def test_monthly_report_on_time_is_inclusive() -> None:
    """The analysis is on time all through the 3rd (local) and late on the 4th."""
    data = {"month": "2026-10"}
    assert monthly_report_on_time(_ctx("2026-11-03T23:59", data), field="month", day=3) is None
    assert monthly_report_on_time(_ctx("2026-11-04T00:00", data), field="month", day=3) == (
        "the analysis of 2026-10 was due by 2026-11-03; it is 2026-11-04"
    )
    assert monthly_report_on_time(_ctx("2026-11-04T00:00"), field="month", day=3) == (
        "'month' must be a month written YYYY-MM"
    )


def test_monthly_day_is_checked_when_a_flow_loads() -> None:
    """A report day every month has (1-28) is accepted; 31 is not."""
    spec = DEFAULT_REGISTRY.get("monthly_report_on_time")
    assert spec is not None
    assert spec.checks["day"](3) is None
    assert spec.checks["day"](31) == "must be a day from 1 to 28, so that every month has it (got 31)"
