"""Rules of the callback flows: call times, attempts, feedback distribution and report deadlines.

Times are judged in the dealer's wall-clock time: each rule takes a ``timezone`` argument
(``timezone: {param: timezone}`` in YAML, default Asia/Shanghai). The time of a call or a
distribution is the event's own time (the engine's clock), never a time typed into the payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args

from aftersales_flow._time import parse_duration, parse_timestamp
from aftersales_flow.rules._local import parse_clock, parse_window, to_local, window_at, zone
from aftersales_flow.rules._registry import RuleContext, rule
from aftersales_flow.rules.builtin import is_blank

Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
"""Weekday codes as brands write them in parameters (``weekly_report_day: FRI``)."""
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _local_now(ctx: RuleContext, timezone: str | None) -> datetime:
    return to_local(ctx.now, timezone)


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _day_and_clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _words(role: Any) -> str:
    return str(role).replace("_", " ")


def _problem(check: Callable[[Any], object], value: Any) -> str | None:
    """The ValueError message ``check(value)`` raises, or None (a load-time argument check)."""
    try:
        check(value)
    except ValueError as exc:
        return str(exc)
    return None


def _windows_problem(value: Any) -> str | None:
    for text in value if isinstance(value, list | tuple) else []:
        if problem := _problem(parse_window, text):
            return problem
    return None


def _clock_problem(value: Any) -> str | None:
    return _problem(parse_clock, value)


def _duration_problem(value: Any) -> str | None:
    return _problem(parse_duration, value)


def _zone_problem(value: Any) -> str | None:
    return _problem(zone, value) if isinstance(value, str) else None


def _month_day_problem(value: Any) -> str | None:
    if isinstance(value, int) and not 1 <= value <= 28:
        return f"must be a day from 1 to 28, so that every month has it (got {value})"
    return None


def _moment(ctx: RuleContext, field: str, timezone: str | None) -> datetime | str:
    """The timestamp in ``field`` in local time, or a message saying why there is none."""
    raw = ctx.get(field)
    if is_blank(raw):
        return f"'{field}' is not recorded"
    try:
        return to_local(parse_timestamp(raw), timezone)
    except ValueError as exc:
        return f"'{field}' is not a valid time: {exc}"


@rule(
    "call_time_allowed",
    description="the call is made outside the blackout windows {windows}",
    checks={"windows": _windows_problem, "timezone": _zone_problem},
)
def call_time_allowed(ctx: RuleContext, *, windows: list[str], timezone: str | None = None) -> str | None:
    """Holds when the event's time, in the dealer's time zone, is outside every blackout window."""
    local = _local_now(ctx, timezone)
    window = window_at(local, windows)
    if window is None:
        return None
    return (
        f"the call at {_clock(local)} falls in the blackout window {window}, "
        "when customers rest or are in meetings"
    )


@rule(
    "callback_attempts_exhausted",
    description="{max_attempts} call attempts were made, or {max_days} days have passed since delivery",
    checks={"timezone": _zone_problem},
)
def callback_attempts_exhausted(
    ctx: RuleContext, *, max_attempts: int, max_days: int, timezone: str | None = None
) -> str | None:
    """Holds when ``attempts`` reached ``max_attempts`` or ``max_days`` have passed since ``delivered_at``."""
    attempts = ctx.get("attempts")
    made = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0
    if made >= max_attempts:
        return None
    delivered = _moment(ctx, "delivered_at", timezone)
    if isinstance(delivered, str):
        return f"only {made} of {max_attempts} call attempts were made and {delivered}"
    limit = delivered + timedelta(days=max_days)
    if ctx.now >= limit:
        return None
    return (
        f"only {made} of {max_attempts} call attempts were made and the {max_days}-day limit after "
        f"delivery runs until {_day_and_clock(limit)}; keep trying"
    )


DueUnit = Literal["days", "hours", "minutes"]
"""What a plain-number ``after`` of :func:`before_due_time` counts."""


def _after_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _duration_problem(value)
    if isinstance(value, int) and value < 0:
        return f"must be 0 or more (got {value})"
    return None


@rule(
    "before_due_time",
    description="'{at}' came before the due time counted from '{field}'",
    checks={"after": _after_problem, "avoid": _windows_problem},
)
def before_due_time(
    ctx: RuleContext,
    *,
    at: str,
    field: str,
    after: str | int,
    unit: DueUnit = "days",
    avoid: list[str] | None = None,
) -> str | None:
    """Holds when the time in ``at`` is before ``field`` plus ``after`` (moved out of ``avoid``).

    The due time is worked out as a deadline on ``field`` with the same ``after``, ``unit`` and
    ``avoid`` works it out (local windows in the flow's ``timezone`` parameter); a plain number
    counts ``unit``, days by default. Both times are recorded data, so the answer does not change
    with the clock: as a deadline's ``when`` it holds alike when the deadline is set and when it
    fires. Its use: a clock that runs across two states (a call due 3 days after delivery, tried
    or not) is set in the second state only when that state was entered (``at``: a time stamped
    on entering it) before the due time, so a breach recorded in the first state is not repeated.
    """
    # states.deadline imports the rules package (guards), so it is imported here, not at the top.
    from aftersales_flow.states.deadline import DeadlineSpec

    moment = _moment(ctx, at, ctx.params.get("timezone"))
    if isinstance(moment, str):
        return moment
    spec = DeadlineSpec(
        name="before_due_time",
        state=ctx.state or "",
        after=after,
        field=field,
        unit=unit,
        avoid=tuple(avoid or ()),
    )
    try:
        due = spec.due_at(entered_at=moment, data=ctx.data, params=ctx.params)
    except ValueError as exc:
        return f"the due time cannot be worked out: {exc}"
    if due is None:
        return f"'{field}' is not recorded as a time"
    if moment < due:
        return None
    shown = f"{after} {unit}" if isinstance(after, int) else str(after)
    local_due = to_local(due, ctx.params.get("timezone"))
    return (
        f"'{at}' ({_day_and_clock(moment)}) is not before the due time {shown} after '{field}' "
        f"({_day_and_clock(local_due)})"
    )


def _recipient(item: Any) -> Any:
    return item.get("role") if isinstance(item, Mapping) else item


@rule("sent_to_all", description="'{field}' includes every one of {recipients}")
def sent_to_all(ctx: RuleContext, *, field: str, recipients: list[str]) -> str | None:
    """Holds when the list ``field`` names every recipient (a role id, or a mapping with ``role``)."""
    value = ctx.get(field)
    given = {_recipient(item) for item in value} if isinstance(value, list) else set()
    missing = [name for name in recipients if name not in given]
    if not missing:
        return None
    return f"'{field}' leaves out: {', '.join(map(_words, missing))}"


def distribution_deadline(called: datetime, morning_cutoff: str, end_of_day: str) -> tuple[str, datetime]:
    """For a local call time: ``('morning' | 'afternoon', the local deadline on the call's day)``."""
    cutoff = parse_clock(morning_cutoff)
    if called.time().replace(tzinfo=None) < cutoff:
        return "morning", _on_day(called, cutoff)
    return "afternoon", _on_day(called, parse_clock(end_of_day))


def _on_day(moment: datetime, clock: time) -> datetime:
    return moment.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)


@rule(
    "distribution_deadline_met",
    description="distributed before {morning_cutoff} after a morning call, before {end_of_day} after "
    "an afternoon call, the same day as '{field}'",
    checks={"morning_cutoff": _clock_problem, "end_of_day": _clock_problem, "timezone": _zone_problem},
)
def distribution_deadline_met(
    ctx: RuleContext, *, field: str, morning_cutoff: str, end_of_day: str, timezone: str | None = None
) -> str | None:
    """Holds when now is before the same-day deadline of the call in ``field`` (lunch or end of day)."""
    called = _moment(ctx, field, timezone)
    if isinstance(called, str):
        return called
    part, deadline = distribution_deadline(called, morning_cutoff, end_of_day)
    now = _local_now(ctx, timezone)
    if now < deadline:
        return None
    return (
        f"the call at {_day_and_clock(called)} was in the {part}, so its feedback had to be distributed "
        f"before {_clock(deadline)} that day; it is {_day_and_clock(now)}"
    )


@rule(
    "collection_day_reached",
    description="the form's collection day ('{field}' plus {lag}) has come",
    checks={"lag": _duration_problem, "timezone": _zone_problem},
)
def collection_day_reached(
    ctx: RuleContext, *, field: str, lag: str, timezone: str | None = None
) -> str | None:
    """Holds when today (local) is on or after the local day of ``field`` plus ``lag``."""
    handed = _moment(ctx, field, timezone)
    if isinstance(handed, str):
        return handed
    collection = (handed + parse_duration(lag)).date()
    today = _local_now(ctx, timezone).date()
    if today >= collection:
        return None
    return (
        f"the form is collected on {collection.isoformat()}, {lag} after it was handed over on "
        f"{handed.date().isoformat()}; it is not overdue before then"
    )


@rule(
    "on_weekday", description="today is {day} in the dealer's time zone", checks={"timezone": _zone_problem}
)
def on_weekday(ctx: RuleContext, *, day: Weekday, timezone: str | None = None) -> str | None:
    """Holds when today, in the dealer's time zone, is ``day`` (``MON`` … ``SUN``)."""
    wanted = str(day)
    today = _local_now(ctx, timezone)
    if WEEKDAYS[today.weekday()] == wanted:
        return None
    return (
        f"today is {_DAY_NAMES[today.weekday()]} {today.date().isoformat()}, "
        f"not {_DAY_NAMES[WEEKDAYS.index(wanted)]}"
    )


def parse_month(text: Any) -> date | None:
    """``'2026-10'`` as the first day of that month, or None when it is not ``YYYY-MM``."""
    found = _MONTH.match(text) if isinstance(text, str) else None
    if not found or not 1 <= int(found.group(2)) <= 12:
        return None
    return date(int(found.group(1)), int(found.group(2)), 1)


@rule("is_month", description="'{field}' is a month written YYYY-MM")
def is_month(ctx: RuleContext, *, field: str) -> str | None:
    """Holds when ``field`` is a month written ``YYYY-MM``."""
    value = ctx.get(field)
    if parse_month(value) is not None:
        return None
    if is_blank(value):
        return f"'{field}' is not recorded"
    return f"'{field}' must be a month written YYYY-MM, e.g. '2026-10' (it is {value!r})"


def monthly_deadline(month: date, day: int) -> date:
    """The last day to send the analysis of ``month``: day ``day`` of the following month."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following.replace(day=day)


@rule(
    "monthly_report_on_time",
    description="the analysis of the month in '{field}' is sent by day {day} of the following month",
    checks={"day": _month_day_problem, "timezone": _zone_problem},
)
def monthly_report_on_time(
    ctx: RuleContext, *, field: str, day: int, timezone: str | None = None
) -> str | None:
    """Holds when today (local) is on or before day ``day`` of the month after the month in ``field``."""
    month = parse_month(ctx.get(field))
    if month is None:
        return f"'{field}' must be a month written YYYY-MM"
    deadline = monthly_deadline(month, day)
    today = _local_now(ctx, timezone).date()
    if today <= deadline:
        return None
    return (
        f"the analysis of {month.strftime('%Y-%m')} was due by {deadline.isoformat()}; "
        f"it is {today.isoformat()}"
    )
