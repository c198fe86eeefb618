"""Tests for the helpers users get for their own tests (``aftersales_flow.testing``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aftersales_flow.testing import SimulatedClock

CHINA = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_default_start_is_monday_morning_utc() -> None:
    """Without a start the clock reads Monday 2026-11-02 08:00 UTC."""
    assert SimulatedClock()() == START


def test_start_is_kept_in_utc() -> None:
    """An aware start in another zone is the same moment, held in UTC."""
    clock = SimulatedClock(datetime(2026, 11, 2, 16, 0, tzinfo=CHINA))
    assert clock() == START
    assert clock().tzinfo is UTC


def test_naive_start_is_refused() -> None:
    """A start without a time zone is refused."""
    with pytest.raises(ValueError, match="needs an aware start time"):
        SimulatedClock(datetime(2026, 11, 2, 8, 0))


def test_clock_stands_still_until_moved() -> None:
    """Calling the clock twice gives the same moment."""
    clock = SimulatedClock()
    assert clock() == clock()


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("90m", START + timedelta(minutes=90)),
        ("1d12h", START + timedelta(days=1, hours=12)),
        (30, START + timedelta(seconds=30)),
        (1.5, START + timedelta(seconds=1.5)),
        (timedelta(hours=2), START + timedelta(hours=2)),
        (0, START),
    ],
)
def test_advance_moves_forward_by_text_seconds_or_timedelta(
    by: str | float | timedelta, expected: datetime
) -> None:
    """advance() takes duration text, seconds or a timedelta, and returns the new now."""
    clock = SimulatedClock()
    assert clock.advance(by) == expected
    assert clock() == expected


def test_advances_add_up() -> None:
    """Successive advances accumulate."""
    clock = SimulatedClock()
    clock.advance("1h")
    clock.advance("30m")
    assert clock() == START + timedelta(minutes=90)


@pytest.mark.parametrize("by", ["-1h", -60, timedelta(seconds=-1)])
def test_advance_refuses_going_backwards(by: str | float | timedelta) -> None:
    """A negative step is refused and the clock does not move."""
    clock = SimulatedClock()
    with pytest.raises(ValueError, match=r"only moves forward; use set\(\)"):
        clock.advance(by)
    assert clock() == START


def test_advance_refuses_bad_text() -> None:
    """Text that is not a duration is refused."""
    clock = SimulatedClock()
    with pytest.raises(ValueError, match="not a duration"):
        clock.advance("soon")


def test_set_jumps_to_a_moment_even_backwards() -> None:
    """set() moves to any aware moment, earlier ones included, and returns it in UTC."""
    clock = SimulatedClock()
    earlier = datetime(2026, 11, 1, 9, 0, tzinfo=CHINA)
    assert clock.set(earlier) == datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    assert clock().tzinfo is UTC


def test_set_refuses_naive_datetimes() -> None:
    """set() refuses a datetime without a time zone and keeps the current time."""
    clock = SimulatedClock()
    with pytest.raises(ValueError, match="needs an aware datetime"):
        clock.set(datetime(2026, 11, 3, 8, 0))
    assert clock() == START


def test_iso_is_now_as_iso_text() -> None:
    """iso() is the simulated now as ISO 8601 text in UTC, without moving the clock."""
    clock = SimulatedClock()
    assert clock.iso() == "2026-11-02T08:00:00+00:00"
    assert clock() == START


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("2h", "2026-11-02T10:00:00+00:00"),
        ("-1d", "2026-11-01T08:00:00+00:00"),
        (60, "2026-11-02T08:01:00+00:00"),
        (timedelta(days=1), "2026-11-03T08:00:00+00:00"),
    ],
)
def test_iso_adds_an_offset(offset: str | float | timedelta, expected: str) -> None:
    """iso(offset) is now plus the offset, which may be negative, for payload timestamps."""
    assert SimulatedClock().iso(offset) == expected
