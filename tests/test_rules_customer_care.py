"""Tests for the customer care rules: lost-customer thresholds and tiers, attempts, recorded activities.

The module under test is ``aftersales_flow.rules.customer_care`` (domain.md §2e, §2f, §4 #1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.customer_care import (
    attempts_made,
    churn_tier_fits,
    days_since,
    entries_complete,
    no_visit_for,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
"""16:00 on 2026-11-02 in Asia/Shanghai."""
SA = af.Actor("sa-1", roles={"service_advisor"})


def _ctx(
    data: Mapping[str, Any] | None = None,
    *,
    now: datetime = NOW,
) -> RuleContext:
    return RuleContext(
        data=data or {},
        before={},
        payload={},
        params={},
        now=now,
        actor=SA,
        instance_id="LC-1",
        flow="lost_customer_case",
        state=None,
        event="customer_identified",
    )


def _tier(last_visit_on: str, tier: str | None) -> str | None:
    data = {"last_visit_on": last_visit_on, "churn_tier": tier}
    return churn_tier_fits(
        _ctx(data),
        field="churn_tier",
        last_visit="last_visit_on",
        at_risk_after_days=180,
        lost_after_days=365,
    )


# --- days_since ------------------------------------------------------------------------------


def test_days_since_counts_calendar_days_to_the_dealers_today() -> None:
    """The count runs from the visit date to today's date in the dealer's time zone."""
    assert days_since(_ctx({"last_visit_on": "2026-05-06"}), "last_visit_on") == (
        180,
        datetime(2026, 5, 6).date(),
    )


def test_days_since_uses_the_dealers_time_zone() -> None:
    """At 20:00 UTC on 1 November it is already 2 November in Shanghai, but not in UTC."""
    evening = datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
    data = {"last_visit_on": "2026-11-01"}
    assert days_since(_ctx(data, now=evening), "last_visit_on") == (1, datetime(2026, 11, 1).date())
    assert days_since(_ctx(data, now=evening), "last_visit_on", "UTC") == (
        0,
        datetime(2026, 11, 1).date(),
    )


def test_days_since_explains_a_missing_bad_or_future_date() -> None:
    """A missing, malformed or future date gives a reason instead of a count."""
    assert days_since(_ctx(), "last_visit_on") == (
        "'last_visit_on' (the date of the last workshop visit) is not recorded"
    )
    assert days_since(_ctx({"last_visit_on": "2026-13-01"}), "last_visit_on") == (
        "'last_visit_on' must be a date (YYYY-MM-DD) (it is '2026-13-01')"
    )
    assert days_since(_ctx({"last_visit_on": 20260501}), "last_visit_on") == (
        "'last_visit_on' must be a date (YYYY-MM-DD) (it is 20260501)"
    )
    assert days_since(_ctx({"last_visit_on": "2026-11-03"}), "last_visit_on") == (
        "the last workshop visit (2026-11-03) is after today (2026-11-02)"
    )


# --- no_visit_for ----------------------------------------------------------------------------


def test_no_visit_for_holds_from_the_threshold_day() -> None:
    """A vehicle last seen exactly 180 days ago counts as lost with the 180-day threshold."""
    assert no_visit_for(_ctx({"last_visit_on": "2026-05-06"}), field="last_visit_on", days=180) is None


def test_no_visit_for_refuses_a_recent_visit_with_the_count() -> None:
    """A visit 179 days ago is one day short, and the message says how long ago it was."""
    assert no_visit_for(_ctx({"last_visit_on": "2026-05-07"}), field="last_visit_on", days=180) == (
        "the last workshop visit was 179 days ago (on 2026-05-07); a customer counts as lost after "
        "180 days without a visit"
    )


def test_no_visit_for_counts_in_the_given_time_zone() -> None:
    """At 20:00 UTC on 1 November a visit that day is 1 day ago in Shanghai and 0 days ago in UTC."""
    ctx = _ctx({"last_visit_on": "2026-11-01"}, now=datetime(2026, 11, 1, 20, 0, tzinfo=UTC))
    assert no_visit_for(ctx, field="last_visit_on", days=1, timezone="Asia/Shanghai") is None
    assert no_visit_for(ctx, field="last_visit_on", days=1, timezone="UTC") == (
        "the last workshop visit was 0 days ago (on 2026-11-01); a customer counts as lost after "
        "1 day without a visit"
    )


def test_an_unknown_time_zone_is_an_error() -> None:
    """A misspelt time zone raises, so the guard refuses as 'could not be checked' rather than guessing."""
    with pytest.raises(ValueError, match="unknown time zone 'Asia/Shanghia'"):
        no_visit_for(
            _ctx({"last_visit_on": "2026-05-06"}), field="last_visit_on", days=180, timezone="Asia/Shanghia"
        )


def test_no_visit_for_says_one_day_in_the_singular() -> None:
    """Counts of one read '1 day', not '1 days'."""
    assert no_visit_for(_ctx({"last_visit_on": "2026-11-01"}), field="last_visit_on", days=1) is None
    assert no_visit_for(_ctx({"last_visit_on": "2026-11-01"}), field="last_visit_on", days=2) == (
        "the last workshop visit was 1 day ago (on 2026-11-01); a customer counts as lost after "
        "2 days without a visit"
    )


def test_no_visit_for_explains_a_missing_date() -> None:
    """Without the date of the last visit the rule says it is not recorded."""
    assert no_visit_for(_ctx(), field="last_visit_on", days=180) == (
        "'last_visit_on' (the date of the last workshop visit) is not recorded"
    )


# --- churn_tier_fits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_visit_on", "tier"),
    [("2026-05-06", "at_risk"), ("2025-11-03", "at_risk"), ("2025-11-02", "lost"), ("2020-01-01", "lost")],
)
def test_churn_tier_fits_the_generic_two_tiers(last_visit_on: str, tier: str) -> None:
    """180 to 364 days without a visit is 'at_risk'; 365 days or more is 'lost' (§4 #1)."""
    assert _tier(last_visit_on, tier) is None


def test_churn_tier_fits_refuses_the_wrong_tier() -> None:
    """A customer gone 200 days recorded as 'lost' is refused, naming the right tier and the thresholds."""
    assert _tier("2026-04-16", "lost") == (
        "the last workshop visit was 200 days ago, so 'churn_tier' must be 'at_risk' "
        "(at risk from 180 days, lost from 365 days); it is 'lost'"
    )


def test_churn_tier_fits_refuses_a_missing_tier() -> None:
    """A missing tier is named as not recorded."""
    assert _tier("2025-11-02", None) == (
        "the last workshop visit was 365 days ago, so 'churn_tier' must be 'lost' "
        "(at risk from 180 days, lost from 365 days); it is not recorded"
    )


def test_churn_tier_fits_refuses_a_customer_in_no_tier() -> None:
    """Before the at-risk threshold no tier applies."""
    assert _tier("2026-05-07", "at_risk") == (
        "the last workshop visit was 179 days ago, which is no churn tier yet "
        "(at risk from 180 days, lost from 365 days)"
    )


def test_churn_tier_fits_with_a_single_brand_tier() -> None:
    """A brand with one threshold (both tiers at 180 days, Baoya) calls every case 'lost'."""
    ctx = _ctx({"last_visit_on": "2026-05-06", "churn_tier": "lost"})
    assert (
        churn_tier_fits(
            ctx, field="churn_tier", last_visit="last_visit_on", at_risk_after_days=180, lost_after_days=180
        )
        is None
    )


def test_churn_tier_fits_explains_a_missing_visit_date() -> None:
    """Without the last visit date the tier cannot be judged, and the rule says so."""
    assert churn_tier_fits(
        _ctx({"churn_tier": "lost"}),
        field="churn_tier",
        last_visit="last_visit_on",
        at_risk_after_days=180,
        lost_after_days=365,
    ) == ("'last_visit_on' (the date of the last workshop visit) is not recorded")


# --- attempts_made ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "message"),
    [
        (None, "no failed contact attempt is recorded; the case may be given up after 3"),
        (0, "no failed contact attempt is recorded; the case may be given up after 3"),
        (1, "only 1 failed contact attempt is recorded; the case may be given up after 3"),
        (2, "only 2 failed contact attempts are recorded; the case may be given up after 3"),
        (True, "no failed contact attempt is recorded; the case may be given up after 3"),
    ],
)
def test_attempts_made_refuses_below_the_limit(attempts: Any, message: str) -> None:
    """Below the limit the message says how many attempts there are and how many are needed."""
    data = {} if attempts is None else {"attempts": attempts}
    assert attempts_made(_ctx(data), at_least=3) == message


@pytest.mark.parametrize("attempts", [3, 4])
def test_attempts_made_holds_at_and_above_the_limit(attempts: int) -> None:
    """At the limit and above the case may be given up."""
    assert attempts_made(_ctx({"attempts": attempts}), at_least=3) is None


def test_attempts_made_reads_another_counter() -> None:
    """The counter's field can be named."""
    assert attempts_made(_ctx({"calls": 2}), at_least=2, field="calls") is None


# --- entries_complete ------------------------------------------------------------------------


def test_entries_complete_holds_when_every_entry_records_every_key() -> None:
    """Every entry with every key filled in passes."""
    visits = [{"visit_id": "V1", "visited_on": "2026-11-01", "visited_by": "sa-1", "outcome": "talked"}]
    assert (
        entries_complete(_ctx({"home_visits": visits}), field="home_visits", keys=["visited_on", "outcome"])
        == []
    )


def test_entries_complete_names_each_incomplete_entry() -> None:
    """Each entry missing a key is named with the keys it lacks; blank values count as missing."""
    visits = [
        {"visit_id": "V1", "visited_on": "2026-11-01", "outcome": ""},
        {"visit_id": "V2", "visited_on": "2026-11-02", "outcome": "talked"},
        "not a mapping",
    ]
    assert entries_complete(
        _ctx({"home_visits": visits}), field="home_visits", key="visit_id", keys=["visited_on", "outcome"]
    ) == [
        "'home_visits' entry 'V1' does not record: outcome",
        "'home_visits' entry '?' does not record: visited_on, outcome",
    ]


@pytest.mark.parametrize("value", [None, [], "V1"])
def test_entries_complete_needs_at_least_one_entry(value: Any) -> None:
    """A missing, empty or non-list field has no entry."""
    data = {} if value is None else {"home_visits": value}
    assert entries_complete(_ctx(data), field="home_visits", keys=["outcome"]) == [
        "no 'home_visits' entry is recorded"
    ]


# --- registry --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no_visit_for", "churn_tier_fits", "attempts_made", "entries_complete"])
def test_customer_care_rules_are_registered_with_descriptions(name: str) -> None:
    """Every customer care rule is in the default registry with a description."""
    spec = DEFAULT_REGISTRY.get(name)
    assert spec is not None
    assert spec.description.strip()
