"""Rules of the service appointment (domain.md §2b): slot rules, reminders and no-show retries.

Where the brief speaks of days ("same-day", "3 days ahead", "3-10 days after the agreed date")
the rules count calendar days in the dealer's time zone (``timezone``, default Asia/Shanghai);
where it speaks of durations ("1 hour before", "30 minutes after") they compare exact times.

The rules read these fields of an appointment: ``slot_at`` (the booked time), ``booked_at``
(when the booking call was made), ``slot_in_peak`` and ``alternatives_offered``,
``reserved_parts`` / ``backorders`` / ``backorder_reported_to_sa`` / ``no_parts_needed``,
``origin``, ``attempt_no`` (1 when not recorded), ``previous_appointment_id``,
``retry_contact_at``, and for reminder outreach ``service_due_date``, ``sale_date``,
``last_service_date``, ``mileage`` and ``last_service_mileage``.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from aftersales_flow._time import parse_duration, parse_timestamp
from aftersales_flow.rules._local import DEFAULT_TIMEZONE, to_local, zone
from aftersales_flow.rules._registry import RuleContext, rule
from aftersales_flow.rules.builtin import is_blank

FIRST_SERVICE_ORIGINS = ("first_service_reminder", "new_car_first_service")
"""Origins of outreach for a car's first service."""
REMINDER_ORIGINS = (*FIRST_SERVICE_ORIGINS, "regular_service_reminder")
"""Origins of outreach made by the maintenance-reminder scans (domain.md §2e)."""
RETRY_ORIGIN = "no_show_retry"
"""The origin of a new appointment arranged after a no-show."""


# --- helpers --------------------------------------------------------------------------------


def _moment(ctx: RuleContext, field: str) -> datetime | None:
    """The timestamp in ``field``, or None when it is absent or not a valid time."""
    raw = ctx.get(field)
    if is_blank(raw):
        return None
    try:
        return parse_timestamp(raw)
    except (ValueError, TypeError):
        return None


def _day(ctx: RuleContext, field: str) -> date | None:
    """The date (``YYYY-MM-DD``) in ``field``, or None when it is absent or not a date."""
    raw = ctx.get(field)
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _number(ctx: RuleContext, field: str) -> int | float | None:
    value = ctx.get(field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _shown(moment: datetime, timezone: str | None) -> str:
    """A moment as the dealer reads it: local date and time."""
    return to_local(moment, timezone).strftime("%Y-%m-%d %H:%M")


def _zone_name(timezone: str | None) -> str:
    return timezone or DEFAULT_TIMEZONE


def _local_date(moment: datetime, timezone: str | None) -> date:
    return to_local(moment, timezone).date()


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def attempt_no(ctx: RuleContext) -> int:
    """The appointment's attempt number: ``attempt_no``, or 1 when not recorded."""
    value = ctx.get("attempt_no")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def lead_days(booked_at: datetime, slot_at: datetime, timezone: str | None) -> int:
    """Calendar days between the booking call and the slot, in the dealer's time zone."""
    return (_local_date(slot_at, timezone) - _local_date(booked_at, timezone)).days


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months, clamped to the month's last day (31 Aug + 6 = 28 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _slot_missing() -> str:
    return "the appointment slot ('slot_at') is not recorded"


# --- load-time checks of arguments (a brand's typo fails when the flow loads) ---------------


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _zone_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        zone(value)
    except ValueError as exc:
        return str(exc)
    return None


def _duration_problem(value: Any) -> str | None:
    try:
        if parse_duration(value) < timedelta(0):
            return f"must not be negative (got {value!r})"
    except ValueError as exc:
        return str(exc)
    return None


def _count_problem(value: Any) -> str | None:
    return None if _whole(value) and value >= 0 else f"must be a whole number of 0 or more (got {value!r})"


def _attempts_problem(value: Any) -> str | None:
    return None if _whole(value) and value >= 1 else f"must be a whole number of 1 or more (got {value!r})"


def _day_range_problem(value: Any) -> str | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_whole(v) and v >= 0 for v in value)
        and value[0] <= value[1]
    ):
        return None
    return f"must be [fewest, most] days, whole numbers with fewest <= most, e.g. [3, 10] (got {value!r})"


def _label_fields_problem(value: Any) -> str | None:
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v for v in value):
        return None
    return f"must list the label's fields, e.g. [customer_name, appointment_date] (got {value!r})"


def _interval_problem(*keys: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if (
            isinstance(value, Mapping)
            and set(value) == set(keys)
            and all(_whole(value[k]) and value[k] > 0 for k in keys)
        ):
            return None
        wanted = ", ".join(f"{k}: <whole number>" for k in keys)
        return f"must be {{{wanted}}}, each more than 0 (got {value!r})"

    return check


_ZONE = {"timezone": _zone_problem}


# --- booking: slot rules --------------------------------------------------------------------


@rule("slot_in_future", description="the appointment slot is recorded and later than now", checks=_ZONE)
def slot_in_future(ctx: RuleContext, *, timezone: str | None = None) -> str | None:
    """Holds when ``slot_at`` is a valid time after now."""
    slot = _moment(ctx, "slot_at")
    if slot is None:
        return _slot_missing()
    if slot <= ctx.now:
        return f"the slot {_shown(slot, timezone)} ({_zone_name(timezone)}) has already passed"
    return None


@rule(
    "slot_not_same_day",
    description="the slot is not on the day of the booking (dealer's time zone)",
    checks=_ZONE,
)
def slot_not_same_day(ctx: RuleContext, *, allowed: bool = False, timezone: str | None = None) -> str | None:
    """Holds when the slot falls on a later local day than now, or same-day booking is ``allowed``.

    A missing slot is left to ``slot_in_future``.
    """
    slot = _moment(ctx, "slot_at")
    if allowed or slot is None:
        return None
    if _local_date(slot, timezone) == _local_date(ctx.now, timezone):
        return (
            f"the slot {_shown(slot, timezone)} is today ({_zone_name(timezone)}); "
            "same-day appointments are not recommended"
        )
    return None


@rule(
    "peak_alternatives_offered",
    description="at peak time at least {minimum} alternative slots were offered",
    checks={"minimum": _count_problem},
)
def peak_alternatives_offered(ctx: RuleContext, *, minimum: int) -> str | None:
    """When ``slot_in_peak`` is true, ``alternatives_offered`` lists at least ``minimum`` distinct slots."""
    if ctx.get("slot_in_peak") is not True:
        return None
    offered = ctx.get("alternatives_offered")
    count = len({repr(item) for item in offered}) if isinstance(offered, list) else 0
    if count >= minimum:
        return None
    return (
        f"the time asked for is at peak time: explain, and offer the customer at least {minimum} "
        f"alternative slots ({count} offered)"
    )


# --- internal confirmation ------------------------------------------------------------------


def _label_problems(part: Mapping[str, Any], label_fields: list[str], slot_day: date | None) -> list[str]:
    name = f"reserved part {part.get('part_no', '?')}"
    label = part.get("label")
    if not isinstance(label, Mapping):
        return [f"{name} has no label; label it with {', '.join(label_fields)}"]
    missing = [field for field in label_fields if is_blank(label.get(field))]
    if missing:
        return [f"{name}'s label lacks {', '.join(missing)}"]
    dated = label.get("appointment_date")
    if "appointment_date" in label_fields and slot_day is not None and dated != slot_day.isoformat():
        return [f"{name}'s label is dated {dated}, not the appointment date {slot_day.isoformat()}"]
    return []


@rule(
    "parts_checked",
    description="parts are reserved and labelled ({label_fields}), or back-orders are reported with ETAs",
    checks={"label_fields": _label_fields_problem, **_ZONE},
)
def parts_checked(ctx: RuleContext, *, label_fields: list[str], timezone: str | None = None) -> list[str]:
    """The parts check is done: each reserved part labelled, each back-order with an ETA told to the SA.

    ``no_parts_needed`` true stands for a job without parts. A label's ``appointment_date``
    must be the slot's local date, so parts labelled for an earlier slot are caught.
    """
    reserved = ctx.get("reserved_parts")
    backorders = ctx.get("backorders")
    reserved_list = [p for p in reserved if isinstance(p, Mapping)] if isinstance(reserved, list) else []
    backorder_list = [p for p in backorders if isinstance(p, Mapping)] if isinstance(backorders, list) else []
    if not reserved_list and not backorder_list:
        if ctx.get("no_parts_needed") is True:
            return []
        return [
            "the parts check is not recorded: reserve and label the parts, report back-orders with "
            "their ETA, or record that no parts are needed"
        ]
    slot = _moment(ctx, "slot_at")
    slot_day = _local_date(slot, timezone) if slot is not None else None
    problems: list[str] = []
    for part in reserved_list:
        problems.extend(_label_problems(part, label_fields, slot_day))
    for part in backorder_list:
        if is_blank(part.get("eta")):
            problems.append(f"back-ordered part {part.get('part_no', '?')} has no ETA")
    if backorder_list and ctx.get("backorder_reported_to_sa") is not True:
        problems.append("the back-order and its ETA are not reported to the service advisor")
    return problems


# --- reminders and confirmations ------------------------------------------------------------


@rule(
    "day_before_reminder_applies",
    description="the appointment was booked at least {min_lead_days} days ahead",
    checks={"min_lead_days": _count_problem, **_ZONE},
)
def day_before_reminder_applies(
    ctx: RuleContext, *, min_lead_days: int, inclusive: bool = True, timezone: str | None = None
) -> str | None:
    """Holds when the booking call was ``min_lead_days`` or more (more, when not ``inclusive``) days ahead.

    Days are calendar days in the dealer's time zone, from ``booked_at`` to ``slot_at``.
    """
    booked, slot = _moment(ctx, "booked_at"), _moment(ctx, "slot_at")
    if slot is None:
        return _slot_missing()
    if booked is None:
        return "the time of the booking call ('booked_at') is not recorded"
    lead = lead_days(booked, slot, timezone)
    if lead > min_lead_days or (inclusive and lead == min_lead_days):
        return None
    bound = f"{min_lead_days} or more" if inclusive else f"more than {min_lead_days}"
    return (
        f"the appointment was booked {_days(lead)} ahead; a day-before reminder is for appointments "
        f"booked {bound} days ahead"
    )


@rule(
    "within_before_slot",
    description="now is within {offset} before the slot",
    checks={"offset": _duration_problem, **_ZONE},
)
def within_before_slot(ctx: RuleContext, *, offset: str, timezone: str | None = None) -> str | None:
    """Holds from ``offset`` before ``slot_at`` until the slot itself."""
    slot = _moment(ctx, "slot_at")
    if slot is None:
        return _slot_missing()
    zone = _zone_name(timezone)
    if ctx.now >= slot:
        return f"the slot {_shown(slot, timezone)} ({zone}) has already passed"
    opens = slot - parse_duration(offset)
    if ctx.now < opens:
        return (
            f"too early: this is due from {_shown(opens, timezone)}, {offset} before the slot "
            f"{_shown(slot, timezone)} ({zone})"
        )
    return None


@rule(
    "no_show_grace_passed",
    description="the slot plus {grace} of grace has passed",
    checks={"grace": _duration_problem, **_ZONE},
)
def no_show_grace_passed(ctx: RuleContext, *, grace: str, timezone: str | None = None) -> str | None:
    """Holds once ``slot_at`` plus the no-show ``grace`` is reached.

    The boundary is included: the ``slot_missed`` deadline falls due at exactly slot + grace,
    and the system's event fired then must be accepted (a refused deadline event is not retried).
    """
    slot = _moment(ctx, "slot_at")
    if slot is None:
        return _slot_missing()
    until = slot + parse_duration(grace)
    if ctx.now >= until:
        return None
    return (
        f"the customer still has until {_shown(until, timezone)} ({_zone_name(timezone)}), "
        f"{grace} after the slot, to arrive"
    )


# --- no-show retries ------------------------------------------------------------------------


@rule(
    "retry_attempt_left",
    description="fewer than {max_attempts} appointment attempts were made",
    checks={"max_attempts": _attempts_problem},
)
def retry_attempt_left(ctx: RuleContext, *, max_attempts: int) -> str | None:
    """Holds when this appointment's ``attempt_no`` is below ``max_attempts``."""
    number = attempt_no(ctx)
    if number < max_attempts:
        return None
    return (
        f"this was appointment attempt {number} of at most {max_attempts}: no further appointment "
        "may be arranged; close the no-show instead"
    )


@rule(
    "retry_contact_in_window",
    description="the retry call falls {window_days} days after the missed appointment",
    checks={"window_days": _day_range_problem, **_ZONE},
)
def retry_contact_in_window(
    ctx: RuleContext, *, window_days: list[int], timezone: str | None = None
) -> str | None:
    """Holds when ``retry_contact_at`` falls within the window's days after the missed slot's local date."""
    slot, contact = _moment(ctx, "slot_at"), _moment(ctx, "retry_contact_at")
    if slot is None:
        return _slot_missing()
    if contact is None:
        return "the time of the retry call ('retry_contact_at') is not recorded"
    first, last = min(window_days), max(window_days)
    missed = _local_date(slot, timezone)
    when = _local_date(contact, timezone)
    if first <= (when - missed).days <= last:
        return None
    start, end = missed + timedelta(days=first), missed + timedelta(days=last)
    return (
        f"the retry call on {when.isoformat()} must fall {first}-{last} days after the missed "
        f"appointment of {missed.isoformat()}: between {start.isoformat()} and {end.isoformat()}"
    )


@rule(
    "retry_outreach_linked",
    description="a no-show retry names the missed appointment and its attempt",
    checks={"max_attempts": _attempts_problem},
)
def retry_outreach_linked(ctx: RuleContext, *, max_attempts: int) -> list[str]:
    """A ``no_show_retry`` outreach names ``previous_appointment_id`` and an attempt 2..``max_attempts``."""
    if ctx.get("origin") != RETRY_ORIGIN:
        return []
    problems = []
    if is_blank(ctx.get("previous_appointment_id")):
        problems.append("a no-show retry must name the missed appointment ('previous_appointment_id')")
    number = ctx.get("attempt_no")
    if not isinstance(number, int) or isinstance(number, bool) or number < 2:
        problems.append("a no-show retry must record its attempt number ('attempt_no', 2 or more)")
    elif number > max_attempts:
        problems.append(
            f"a no-show retry may be attempt {max_attempts} at most (this would be attempt {number})"
        )
    return problems


# --- maintenance-reminder outreach ----------------------------------------------------------


def first_service_due(
    sale_date: date, mileage: float | None, today: date, *, days: int, km: int
) -> tuple[date, str]:
    """The latest due date of the first service, and why: ``days`` after the sale or at ``km``."""
    if mileage is not None and mileage >= km:
        return today, f"today, as the car has already run {mileage:g} km"
    return sale_date + timedelta(days=days), f"{days} days after the sale on {sale_date.isoformat()}"


def regular_service_due(
    last_date: date,
    mileage: float | None,
    last_mileage: float | None,
    today: date,
    *,
    months: int,
    km: int,
) -> tuple[date, str]:
    """The latest due date of a regular service, and why: ``months`` or ``km`` since the last one."""
    if mileage is not None and last_mileage is not None and mileage - last_mileage >= km:
        run = mileage - last_mileage
        return today, f"today, as the car has run {run:g} km since its last service"
    due = add_months(last_date, months)
    return due, f"{months} months after the last service on {last_date.isoformat()}"


@rule(
    "service_due_date_ok",
    description="a reminder's service due date respects the service intervals, whichever comes first",
    checks={
        "first_service": _interval_problem("days", "km"),
        "regular_service": _interval_problem("km", "months"),
        **_ZONE,
    },
)
def service_due_date_ok(
    ctx: RuleContext,
    *,
    first_service: dict[str, int],
    regular_service: dict[str, int],
    timezone: str | None = None,
) -> str | None:
    """For reminder outreach, ``service_due_date`` is no later than the service interval allows."""
    origin = ctx.get("origin")
    if origin not in REMINDER_ORIGINS:
        return None
    due = _day(ctx, "service_due_date")
    if due is None:
        return "the service due date ('service_due_date') is not recorded"
    today = _local_date(ctx.now, timezone)
    mileage = _number(ctx, "mileage")
    if origin in FIRST_SERVICE_ORIGINS:
        sold = _day(ctx, "sale_date")
        if sold is None:
            return "the first-service due date cannot be checked: the sale date ('sale_date') is not recorded"
        limit, why = first_service_due(
            sold, mileage, today, days=first_service["days"], km=first_service["km"]
        )
        rule_words = f"first service: {first_service['days']} days or {first_service['km']} km"
    else:
        last = _day(ctx, "last_service_date")
        if last is None:
            return (
                "the regular-service due date cannot be checked: the last service date "
                "('last_service_date') is not recorded"
            )
        limit, why = regular_service_due(
            last,
            mileage,
            _number(ctx, "last_service_mileage"),
            today,
            months=regular_service["months"],
            km=regular_service["km"],
        )
        rule_words = (
            f"regular service: every {regular_service['months']} months or {regular_service['km']} km"
        )
    if due <= limit:
        return None
    return (
        f"the service due date {due.isoformat()} is later than {limit.isoformat()}, {why} "
        f"({rule_words}, whichever comes first)"
    )


@rule(
    "reminder_lead_window",
    description="reminder outreach is made {lead_days} days before the service is due",
    checks={"lead_days": _day_range_problem, **_ZONE},
)
def reminder_lead_window(
    ctx: RuleContext, *, lead_days: list[int], timezone: str | None = None
) -> str | None:
    """For reminder outreach, today (local) lies within ``lead_days`` before ``service_due_date``.

    Other origins, and a missing due date (``service_due_date_ok`` reports it), pass.
    """
    if ctx.get("origin") not in REMINDER_ORIGINS:
        return None
    due = _day(ctx, "service_due_date")
    if due is None:
        return None
    fewest, most = min(lead_days), max(lead_days)
    today = _local_date(ctx.now, timezone)
    if fewest <= (due - today).days <= most:
        return None
    start, end = due - timedelta(days=most), due - timedelta(days=fewest)
    return (
        f"reminder calls are made {fewest}-{most} days before the service is due ({due.isoformat()}): "
        f"between {start.isoformat()} and {end.isoformat()}; today is {today.isoformat()}"
    )
