"""Rules of the customer care flows: lost-customer recovery and new-car customer deepening.

Day counts ("no visit for 180 days") are calendar days in the dealer's time zone (the rules'
``timezone`` parameter, default Asia/Shanghai), from the date of the last workshop visit to today.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from aftersales_flow.rules._local import to_local
from aftersales_flow.rules._registry import RuleContext, rule
from aftersales_flow.rules.builtin import is_blank

AT_RISK = "at_risk"
"""Churn tier of a customer due a win-back callback (domain.md §2e, generic preset 180 days)."""
LOST = "lost"
"""Churn tier of a customer due a win-back campaign (domain.md §2e, generic preset 365 days)."""


def days_since(ctx: RuleContext, field: str, timezone: str | None = None) -> tuple[int, date] | str:
    """Whole days from the date in ``field`` to the dealer's today, with that date; else why not."""
    raw = ctx.get(field)
    if is_blank(raw):
        return f"'{field}' (the date of the last workshop visit) is not recorded"
    try:
        visited = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        visited = None
    if visited is None:
        return f"'{field}' must be a date (YYYY-MM-DD) (it is {raw!r})"
    today = to_local(ctx.now, timezone).date()
    if visited > today:
        return f"the last workshop visit ({visited.isoformat()}) is after today ({today.isoformat()})"
    return (today - visited).days, visited


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


@rule("no_visit_for", description="the vehicle has had no workshop visit for {days} days")
def no_visit_for(ctx: RuleContext, *, field: str, days: int, timezone: str | None = None) -> str | None:
    """Holds when the last workshop visit (the date in ``field``) is at least ``days`` days ago."""
    since = days_since(ctx, field, timezone)
    if isinstance(since, str):
        return since
    count, visited = since
    if count >= days:
        return None
    return (
        f"the last workshop visit was {_days(count)} ago (on {visited.isoformat()}); "
        f"a customer counts as lost after {_days(days)} without a visit"
    )


@rule(
    "churn_tier_fits",
    description="'{field}' is the tier for the days since '{last_visit}' "
    "(at risk from {at_risk_after_days}, lost from {lost_after_days})",
)
def churn_tier_fits(
    ctx: RuleContext,
    *,
    field: str,
    last_visit: str,
    at_risk_after_days: int,
    lost_after_days: int,
    timezone: str | None = None,
) -> str | None:
    """Holds when the tier in ``field`` is the one the days since the last visit give."""
    since = days_since(ctx, last_visit, timezone)
    if isinstance(since, str):
        return since
    count, _ = since
    tiers = f"at risk from {_days(at_risk_after_days)}, lost from {_days(lost_after_days)}"
    if count >= lost_after_days:
        expected = LOST
    elif count >= at_risk_after_days:
        expected = AT_RISK
    else:
        return f"the last workshop visit was {_days(count)} ago, which is no churn tier yet ({tiers})"
    tier = ctx.get(field)
    if tier == expected:
        return None
    shown = "not recorded" if is_blank(tier) else repr(tier)
    return (
        f"the last workshop visit was {_days(count)} ago, so '{field}' must be {expected!r} "
        f"({tiers}); it is {shown}"
    )


@rule("attempts_made", description="at least {at_least} failed contact attempts are recorded")
def attempts_made(ctx: RuleContext, *, at_least: int, field: str = "attempts") -> str | None:
    """Holds when the counter of failed contact attempts in ``field`` is at least ``at_least``."""
    value = ctx.get(field)
    count = value if isinstance(value, int) and not isinstance(value, bool) else 0
    if count >= at_least:
        return None
    made = {0: "no failed contact attempt is", 1: "only 1 failed contact attempt is"}.get(
        count, f"only {count} failed contact attempts are"
    )
    return f"{made} recorded; the case may be given up after {at_least}"


@rule("entries_complete", description="every '{field}' entry records {keys}")
def entries_complete(ctx: RuleContext, *, field: str, keys: list[str], key: str = "id") -> list[str]:
    """At least one entry is in the list ``field``, and every entry records each of ``keys``."""
    items: Any = ctx.get(field)
    if not isinstance(items, list) or not items:
        return [f"no '{field}' entry is recorded"]
    problems = []
    for item in items:
        record: Mapping[str, Any] = item if isinstance(item, Mapping) else {}
        missing = [name for name in keys if is_blank(record.get(name))]
        if missing:
            problems.append(f"'{field}' entry {record.get(key, '?')!r} does not record: {', '.join(missing)}")
    return problems
