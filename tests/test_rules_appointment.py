"""Tests for the appointment rules: slot rules, parts check, reminders, no-show retries, reminder outreach.

The module under test is ``aftersales_flow.rules.appointment`` (domain.md §2b, §2e). The context's
clock reads Monday 2026-11-02 08:00 UTC, 16:00 in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.appointment import (
    add_months,
    attempt_no,
    day_before_reminder_applies,
    first_service_due,
    lead_days,
    no_show_grace_passed,
    parts_checked,
    peak_alternatives_offered,
    regular_service_due,
    reminder_lead_window,
    retry_attempt_left,
    retry_contact_in_window,
    retry_outreach_linked,
    service_due_date_ok,
    slot_in_future,
    slot_not_same_day,
    within_before_slot,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SA = af.Actor("sa-1", roles={"service_advisor"})
LABEL_FIELDS = ["customer_name", "appointment_date"]
FIRST = {"days": 60, "km": 2000}
REGULAR = {"km": 5000, "months": 6}


def _ctx(data: Mapping[str, Any] | None = None, *, now: datetime = NOW) -> RuleContext:
    return RuleContext(
        data=data or {},
        before={},
        payload={},
        params={},
        now=now,
        actor=SA,
        instance_id="AP-1",
        flow="appointment",
        state="booked",
        event="x",
    )


def _part(part_no: str = "P1", **label: Any) -> dict[str, Any]:
    return {
        "part_no": part_no,
        "label": {"customer_name": "Li Wei", "appointment_date": "2026-11-05", **label},
    }


def test_every_rule_is_registered_with_a_description() -> None:
    """The appointment rules are in the default registry, each with a description."""
    names = [
        "slot_in_future",
        "slot_not_same_day",
        "peak_alternatives_offered",
        "parts_checked",
        "day_before_reminder_applies",
        "within_before_slot",
        "no_show_grace_passed",
        "retry_attempt_left",
        "retry_contact_in_window",
        "retry_outreach_linked",
        "service_due_date_ok",
        "reminder_lead_window",
    ]
    for name in names:
        spec = DEFAULT_REGISTRY.get(name)
        assert spec is not None, name
        assert spec.description


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 5, 22), 6, date(2026, 11, 22)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_add_months_clamps_to_the_last_day(start: date, months: int, expected: date) -> None:
    """Whole months are added on the calendar, clamped to a shorter month's last day."""
    assert add_months(start, months) == expected


def test_lead_days_counts_local_calendar_days() -> None:
    """Monday 23:30 to Thursday 00:30 in Shanghai is 3 calendar days; in UTC the same moments are 2."""
    booked = datetime.fromisoformat("2026-11-02T23:30:00+08:00")
    slot = datetime.fromisoformat("2026-11-05T00:30:00+08:00")
    assert lead_days(booked, slot, "Asia/Shanghai") == 3
    assert lead_days(booked, slot, "UTC") == 2
    assert lead_days(booked, slot, None) == 3


def test_attempt_number_defaults_to_one() -> None:
    """A missing or malformed attempt number counts as the first attempt."""
    assert attempt_no(_ctx()) == 1
    assert attempt_no(_ctx({"attempt_no": True})) == 1
    assert attempt_no(_ctx({"attempt_no": 3})) == 3


def test_first_service_is_due_at_days_or_km_whichever_first() -> None:
    """The first service falls due 60 days after the sale, or today once 2000 km are run."""
    today = date(2026, 11, 2)
    assert first_service_due(date(2026, 9, 20), 1200, today, days=60, km=2000)[0] == date(2026, 11, 19)
    assert first_service_due(date(2026, 9, 20), None, today, days=60, km=2000)[0] == date(2026, 11, 19)
    due, why = first_service_due(date(2026, 9, 20), 2000, today, days=60, km=2000)
    assert (due, why) == (today, "today, as the car has already run 2000 km")


def test_regular_service_is_due_at_months_or_km_whichever_first() -> None:
    """A regular service falls due 6 months after the last one, or today once 5000 km more are run."""
    today = date(2026, 11, 2)
    due, why = regular_service_due(date(2026, 5, 22), 30100, 26000, today, months=6, km=5000)
    assert (due, why) == (date(2026, 11, 22), "6 months after the last service on 2026-05-22")
    due, why = regular_service_due(date(2026, 5, 22), 31000, 26000, today, months=6, km=5000)
    assert (due, why) == (today, "today, as the car has run 5000 km since its last service")
    assert regular_service_due(date(2026, 5, 22), 31000, None, today, months=6, km=5000)[0] == date(
        2026, 11, 22
    )


# --- slot rules -----------------------------------------------------------------------------


def test_slot_in_future_needs_a_later_slot() -> None:
    """The slot must be recorded and later than now."""
    assert slot_in_future(_ctx({"slot_at": "2026-11-03T09:00:00+08:00"})) is None
    assert slot_in_future(_ctx()) == "the appointment slot ('slot_at') is not recorded"
    assert (
        slot_in_future(_ctx({"slot_at": "not a time"})) == "the appointment slot ('slot_at') is not recorded"
    )
    assert (
        slot_in_future(_ctx({"slot_at": "2026-11-02T16:00:00+08:00"}), timezone="Asia/Shanghai")
        == "the slot 2026-11-02 16:00 (Asia/Shanghai) has already passed"
    )


def test_same_day_is_the_dealers_local_day() -> None:
    """A slot later on the local day of booking fails; the next local day passes, whatever UTC says."""
    assert (
        slot_not_same_day(_ctx({"slot_at": "2026-11-02T18:00:00+08:00"}))
        == "the slot 2026-11-02 18:00 is today (Asia/Shanghai); same-day appointments are not recommended"
    )
    assert slot_not_same_day(_ctx({"slot_at": "2026-11-03T01:00:00+08:00"})) is None
    assert slot_not_same_day(_ctx({"slot_at": "2026-11-02T20:00:00+00:00"}), timezone="UTC") is not None
    assert slot_not_same_day(_ctx({"slot_at": "2026-11-02T20:00:00+00:00"}), timezone="Asia/Shanghai") is None


def test_same_day_passes_when_allowed_or_when_no_slot() -> None:
    """A brand allowing same-day bookings, or a missing slot (reported elsewhere), passes."""
    assert slot_not_same_day(_ctx({"slot_at": "2026-11-02T18:00:00+08:00"}), allowed=True) is None
    assert slot_not_same_day(_ctx()) is None


def test_peak_alternatives_count_only_at_peak_time() -> None:
    """Off peak nothing is needed; at peak, at least the minimum of distinct alternatives."""
    assert peak_alternatives_offered(_ctx({"slot_in_peak": False}), minimum=2) is None
    assert peak_alternatives_offered(_ctx(), minimum=2) is None
    offered = ["2026-11-05T14:00:00+08:00", "2026-11-06T10:00:00+08:00"]
    assert (
        peak_alternatives_offered(_ctx({"slot_in_peak": True, "alternatives_offered": offered}), minimum=2)
        is None
    )
    same_twice = [offered[0], offered[0]]
    assert peak_alternatives_offered(
        _ctx({"slot_in_peak": True, "alternatives_offered": same_twice}), minimum=2
    ) == (
        "the time asked for is at peak time: explain, and offer the customer at least 2 alternative slots (1 offered)"
    )
    assert "(0 offered)" in str(peak_alternatives_offered(_ctx({"slot_in_peak": True}), minimum=2))


# --- parts check ----------------------------------------------------------------------------


def test_parts_check_must_be_recorded() -> None:
    """No reserved part, no back-order and no 'no parts needed' means the parts check is missing."""
    assert parts_checked(_ctx(), label_fields=LABEL_FIELDS) == [
        "the parts check is not recorded: reserve and label the parts, report back-orders with their ETA, "
        "or record that no parts are needed"
    ]
    assert parts_checked(_ctx({"no_parts_needed": True}), label_fields=LABEL_FIELDS) == []


def test_reserved_parts_carry_the_brands_label_fields() -> None:
    """Each reserved part's label holds every label field; a part without a label is named."""
    data = {
        "slot_at": "2026-11-05T09:00:00+08:00",
        "reserved_parts": [_part("P1"), _part("P2", customer_name=""), {"part_no": "P3"}],
    }
    assert parts_checked(_ctx(data), label_fields=LABEL_FIELDS) == [
        "reserved part P2's label lacks customer_name",
        "reserved part P3 has no label; label it with customer_name, appointment_date",
    ]


def test_label_date_must_be_the_slots_local_date() -> None:
    """A label dated for another day than the slot's local date is refused."""
    data = {"slot_at": "2026-11-05T23:30:00+00:00", "reserved_parts": [_part("P1")]}
    assert parts_checked(_ctx(data), label_fields=LABEL_FIELDS) == [
        "reserved part P1's label is dated 2026-11-05, not the appointment date 2026-11-06"
    ]
    assert parts_checked(_ctx(data), label_fields=LABEL_FIELDS, timezone="UTC") == []
    assert parts_checked(_ctx(data), label_fields=["customer_name"]) == []


def test_backorders_need_an_eta_reported_to_the_advisor() -> None:
    """Each back-ordered part has an ETA, and the back-order is reported to the service advisor."""
    data = {"backorders": [{"part_no": "B1", "eta": "2026-11-04"}, {"part_no": "B2"}]}
    assert parts_checked(_ctx(data), label_fields=LABEL_FIELDS) == [
        "back-ordered part B2 has no ETA",
        "the back-order and its ETA are not reported to the service advisor",
    ]
    data = {"backorders": [{"part_no": "B1", "eta": "2026-11-04"}], "backorder_reported_to_sa": True}
    assert parts_checked(_ctx(data), label_fields=LABEL_FIELDS) == []


# --- reminders ------------------------------------------------------------------------------


def _lead(booked: str, slot: str) -> dict[str, str]:
    return {"booked_at": booked, "slot_at": slot}


def test_day_before_reminder_applies_from_three_days_inclusive() -> None:
    """Booked 3 days ahead the reminder applies when inclusive, not when exclusive; 2 days never."""
    three = _ctx(_lead("2026-11-02T16:00:00+08:00", "2026-11-05T09:00:00+08:00"))
    assert day_before_reminder_applies(three, min_lead_days=3) is None
    assert day_before_reminder_applies(three, min_lead_days=3, inclusive=False) == (
        "the appointment was booked 3 days ahead; a day-before reminder is for appointments booked more than "
        "3 days ahead"
    )
    four = _ctx(_lead("2026-11-02T16:00:00+08:00", "2026-11-06T09:00:00+08:00"))
    assert day_before_reminder_applies(four, min_lead_days=3, inclusive=False) is None
    one = _ctx(_lead("2026-11-02T16:00:00+08:00", "2026-11-03T09:00:00+08:00"))
    assert day_before_reminder_applies(one, min_lead_days=3) == (
        "the appointment was booked 1 day ahead; a day-before reminder is for appointments booked 3 or more "
        "days ahead"
    )


def test_day_before_reminder_needs_booking_and_slot_times() -> None:
    """Without the slot or the booking time the lead time cannot be judged, and says which is missing."""
    assert (
        day_before_reminder_applies(_ctx(), min_lead_days=3)
        == "the appointment slot ('slot_at') is not recorded"
    )
    assert (
        day_before_reminder_applies(_ctx({"slot_at": "2026-11-05T09:00:00+08:00"}), min_lead_days=3)
        == "the time of the booking call ('booked_at') is not recorded"
    )


def test_within_before_slot_opens_at_the_offset_and_closes_at_the_slot() -> None:
    """The window runs from slot minus offset (inclusive) up to the slot (exclusive)."""
    data = {"slot_at": "2026-11-03T16:00:00+08:00"}
    assert within_before_slot(_ctx(data), offset="1d") is None
    assert within_before_slot(_ctx(data), offset="23h") == (
        "too early: this is due from 2026-11-02 17:00, 23h before the slot 2026-11-03 16:00 (Asia/Shanghai)"
    )
    at_slot = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert within_before_slot(_ctx(data, now=at_slot), offset="1h") == (
        "the slot 2026-11-03 16:00 (Asia/Shanghai) has already passed"
    )
    assert within_before_slot(_ctx(), offset="1h") == "the appointment slot ('slot_at') is not recorded"


def test_no_show_grace_must_have_passed() -> None:
    """A no-show counts from slot plus grace, that instant included (when the slot_missed deadline fires)."""
    data = {"slot_at": "2026-11-02T15:30:00+08:00"}
    assert no_show_grace_passed(_ctx(data), grace="31m") == (
        "the customer still has until 2026-11-02 16:01 (Asia/Shanghai), 31m after the slot, to arrive"
    )
    assert no_show_grace_passed(_ctx(data, now=NOW - timedelta(microseconds=1)), grace="30m") == (
        "the customer still has until 2026-11-02 16:00 (Asia/Shanghai), 30m after the slot, to arrive"
    )
    assert no_show_grace_passed(_ctx(data), grace="30m") is None
    assert no_show_grace_passed(_ctx(data), grace="29m") is None
    assert no_show_grace_passed(_ctx(), grace="30m") == "the appointment slot ('slot_at') is not recorded"


# --- no-show retries ------------------------------------------------------------------------


def test_retry_attempt_left_below_the_maximum() -> None:
    """Attempts 1 and 2 of 3 may be retried; attempt 3 may not."""
    assert retry_attempt_left(_ctx(), max_attempts=3) is None
    assert retry_attempt_left(_ctx({"attempt_no": 2}), max_attempts=3) is None
    assert retry_attempt_left(_ctx({"attempt_no": 3}), max_attempts=3) == (
        "this was appointment attempt 3 of at most 3: no further appointment may be arranged; close the "
        "no-show instead"
    )


@pytest.mark.parametrize(
    ("contact", "ok"),
    [
        ("2026-11-07T23:59:00+08:00", False),
        ("2026-11-08T00:00:00+08:00", True),
        ("2026-11-15T23:00:00+08:00", True),
        ("2026-11-16T08:00:00+08:00", False),
        ("2026-11-07T16:30:00+00:00", True),  # 00:30 on the 8th in Shanghai
    ],
)
def test_retry_contact_window_is_three_to_ten_local_days(contact: str, ok: bool) -> None:
    """The retry call falls on the 3rd to the 10th local day after the missed slot's date."""
    data = {"slot_at": "2026-11-05T09:00:00+08:00", "retry_contact_at": contact}
    result = retry_contact_in_window(_ctx(data), window_days=[3, 10])
    assert (result is None) is ok


def test_retry_contact_window_says_when() -> None:
    """Outside the window the reason names both ends; missing times are named."""
    data = {"slot_at": "2026-11-05T09:00:00+08:00", "retry_contact_at": "2026-11-20T10:00:00+08:00"}
    assert retry_contact_in_window(_ctx(data), window_days=[3, 10]) == (
        "the retry call on 2026-11-20 must fall 3-10 days after the missed appointment of 2026-11-05: "
        "between 2026-11-08 and 2026-11-15"
    )
    assert (
        retry_contact_in_window(_ctx(), window_days=[3, 10])
        == "the appointment slot ('slot_at') is not recorded"
    )
    assert (
        retry_contact_in_window(_ctx({"slot_at": "2026-11-05T09:00:00+08:00"}), window_days=[3, 10])
        == "the time of the retry call ('retry_contact_at') is not recorded"
    )


def test_retry_outreach_names_the_missed_appointment_and_attempt() -> None:
    """A no-show retry names its predecessor and an attempt from 2 to the maximum; other origins pass."""
    assert retry_outreach_linked(_ctx({"origin": "service_campaign"}), max_attempts=3) == []
    ok = {"origin": "no_show_retry", "previous_appointment_id": "AP-1", "attempt_no": 2}
    assert retry_outreach_linked(_ctx(ok), max_attempts=3) == []
    assert retry_outreach_linked(_ctx({"origin": "no_show_retry"}), max_attempts=3) == [
        "a no-show retry must name the missed appointment ('previous_appointment_id')",
        "a no-show retry must record its attempt number ('attempt_no', 2 or more)",
    ]
    assert retry_outreach_linked(_ctx({**ok, "attempt_no": 4}), max_attempts=3) == [
        "a no-show retry may be attempt 3 at most (this would be attempt 4)"
    ]


# --- reminder outreach ----------------------------------------------------------------------


def test_due_date_is_checked_only_for_reminder_origins() -> None:
    """Campaign, inbound and other origins need no service due date."""
    assert (
        service_due_date_ok(
            _ctx({"origin": "service_campaign"}), first_service=FIRST, regular_service=REGULAR
        )
        is None
    )


def test_first_service_due_date_checks() -> None:
    """A first-service due date is needed, with the sale date, and is no later than 60 days after the sale."""
    base = {"origin": "new_car_first_service", "sale_date": "2026-09-20"}
    assert service_due_date_ok(_ctx(base), first_service=FIRST, regular_service=REGULAR) == (
        "the service due date ('service_due_date') is not recorded"
    )
    assert (
        service_due_date_ok(
            _ctx({"origin": "first_service_reminder", "service_due_date": "2026-11-10"}),
            first_service=FIRST,
            regular_service=REGULAR,
        )
        == "the first-service due date cannot be checked: the sale date ('sale_date') is not recorded"
    )
    assert (
        service_due_date_ok(
            _ctx({**base, "service_due_date": "2026-11-19"}), first_service=FIRST, regular_service=REGULAR
        )
        is None
    )
    assert service_due_date_ok(
        _ctx({**base, "service_due_date": "2026-11-20"}), first_service=FIRST, regular_service=REGULAR
    ) == (
        "the service due date 2026-11-20 is later than 2026-11-19, 60 days after the sale on 2026-09-20 "
        "(first service: 60 days or 2000 km, whichever comes first)"
    )


def test_regular_service_due_date_checks() -> None:
    """A regular-service due date needs the last service date and is within 6 months or 5000 km of it."""
    base = {"origin": "regular_service_reminder", "service_due_date": "2026-11-22"}
    assert service_due_date_ok(_ctx(base), first_service=FIRST, regular_service=REGULAR) == (
        "the regular-service due date cannot be checked: the last service date ('last_service_date') is "
        "not recorded"
    )
    data = {**base, "last_service_date": "2026-05-22", "last_service_mileage": 26000, "mileage": 29000}
    assert service_due_date_ok(_ctx(data), first_service=FIRST, regular_service=REGULAR) is None
    assert service_due_date_ok(
        _ctx({**data, "mileage": 31500}), first_service=FIRST, regular_service=REGULAR
    ) == (
        "the service due date 2026-11-22 is later than 2026-11-02, today, as the car has run 5500 km since "
        "its last service (regular service: every 6 months or 5000 km, whichever comes first)"
    )


def test_reminder_lead_window_is_seven_to_ten_days_before_due() -> None:
    """Reminder outreach is timely 7 to 10 local days before the due date; other origins always pass."""

    def check(due: str, origin: str = "regular_service_reminder") -> str | None:
        return reminder_lead_window(_ctx({"origin": origin, "service_due_date": due}), lead_days=[7, 10])

    assert check("2026-11-09") is None
    assert check("2026-11-12") is None
    assert check("2026-11-08") == (
        "reminder calls are made 7-10 days before the service is due (2026-11-08): between 2026-10-29 and "
        "2026-11-01; today is 2026-11-02"
    )
    assert check("2026-11-13") is not None
    assert check("2026-11-13", origin="lost_customer_callback") is None
    assert reminder_lead_window(_ctx({"origin": "first_service_reminder"}), lead_days=[7, 10]) is None


# --- load-time checks of arguments ----------------------------------------------------------


def _check(rule_name: str, parameter: str, value: Any) -> str | None:
    spec = DEFAULT_REGISTRY.get(rule_name)
    assert spec is not None
    return spec.checks[parameter](value)


@pytest.mark.parametrize(
    ("rule_name", "parameter", "good", "bad", "message"),
    [
        ("within_before_slot", "offset", "1d", "-1h", "must not be negative (got '-1h')"),
        (
            "no_show_grace_passed",
            "grace",
            "30m",
            "half an hour",
            "not a duration: 'half an hour' (write e.g. '30m', '1h', '2d', '1d12h')",
        ),
        (
            "slot_not_same_day",
            "timezone",
            "Europe/Berlin",
            "Mars/Olympus",
            "unknown time zone 'Mars/Olympus'; use an IANA name like 'Asia/Shanghai'",
        ),
        ("peak_alternatives_offered", "minimum", 0, -1, "must be a whole number of 0 or more (got -1)"),
        ("retry_attempt_left", "max_attempts", 1, 0, "must be a whole number of 1 or more (got 0)"),
        (
            "reminder_lead_window",
            "lead_days",
            [7, 10],
            [7],
            "must be [fewest, most] days, whole numbers with fewest <= most, e.g. [3, 10] (got [7])",
        ),
        (
            "parts_checked",
            "label_fields",
            ["customer_name"],
            [],
            "must list the label's fields, e.g. [customer_name, appointment_date] (got [])",
        ),
        (
            "service_due_date_ok",
            "regular_service",
            {"km": 5000, "months": 6},
            {"km": 5000, "month": 6},
            "must be {km: <whole number>, months: <whole number>}, each more than 0 (got {'km': 5000, 'month': 6})",
        ),
    ],
)
def test_arguments_are_checked_when_a_flow_loads(
    rule_name: str, parameter: str, good: Any, bad: Any, message: str
) -> None:
    """Each rule's numeric, duration, time-zone and list arguments are checked at load time."""
    assert _check(rule_name, parameter, good) is None
    assert _check(rule_name, parameter, bad) == message
