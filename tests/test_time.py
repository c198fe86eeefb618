"""Tests for durations, timestamps and the system clock (``aftersales_flow._time``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aftersales_flow._time import format_timestamp, parse_duration, parse_timestamp, system_clock

CHINA = timezone(timedelta(hours=8))

# --- parse_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2d12h30m15s", timedelta(days=2, hours=12, minutes=30, seconds=15)),
        (" 1d 12h ", timedelta(days=1, hours=12)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration_reads_unit_text(text: str, expected: timedelta) -> None:
    """Text made of number-unit pairs (w, d, h, m, s) adds up to one timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-1d", timedelta(days=-1)), ("-1d12h", -timedelta(days=1, hours=12)), ("- 2h", timedelta(hours=-2))],
)
def test_parse_duration_leading_minus_negates_the_whole_duration(text: str, expected: timedelta) -> None:
    """A leading minus makes the whole duration negative, every part included."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        (0, timedelta(0)),
        (-60, timedelta(minutes=-1)),
    ],
)
def test_parse_duration_takes_numbers_as_seconds(number: float, expected: timedelta) -> None:
    """A plain int or float is a number of seconds."""
    assert parse_duration(number) == expected


@pytest.mark.parametrize("text", ["", "1", "1x", "1.5h", "1H", "h", "1d-1h", "one hour", "1d 12", "--1d"])
def test_parse_duration_rejects_bad_text(text: str) -> None:
    """Text that is not number-unit pairs raises ValueError with an example of good text."""
    with pytest.raises(ValueError, match=r"not a duration: .*write e\.g\. '30m', '1h', '2d', '1d12h'"):
        parse_duration(text)


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_rejects_bools(value: bool) -> None:
    """True and False are not numbers of seconds, although Python counts them as ints."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [None, [1], {"h": 1}, timedelta(hours=1)])
def test_parse_duration_rejects_other_types(value: object) -> None:
    """Values that are neither text nor numbers raise ValueError."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_parse_duration_too_long_is_a_value_error() -> None:
    """A duration too long for a timedelta is bad input (ValueError) like any other, not an OverflowError."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration("999999999999d")


# --- parse_timestamp -----------------------------------------------------------------------


def test_parse_timestamp_reads_iso_text_with_offset() -> None:
    """ISO 8601 text with an offset becomes an aware datetime keeping that offset."""
    moment = parse_timestamp("2026-11-02T16:00:00+08:00")
    assert moment == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(hours=8)


def test_parse_timestamp_reads_z_as_utc() -> None:
    """A trailing 'Z' means UTC."""
    assert parse_timestamp("2026-11-02T08:00:00Z") == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_parse_timestamp_passes_aware_datetimes_through() -> None:
    """An aware datetime is returned as it is."""
    moment = datetime(2026, 11, 2, 8, 0, tzinfo=CHINA)
    assert parse_timestamp(moment) is moment


@pytest.mark.parametrize("value", ["2026-11-02T08:00:00", datetime(2026, 11, 2, 8, 0), "2026-11-02"])
def test_parse_timestamp_requires_a_time_zone(value: object) -> None:
    """Text or a datetime without a time zone is refused, saying how to add one."""
    with pytest.raises(ValueError, match=r"has no time zone; add one, e\.g\. '\+08:00' or 'Z'"):
        parse_timestamp(value)


def test_parse_timestamp_rejects_text_that_is_no_timestamp() -> None:
    """Text that is not ISO 8601 raises ValueError."""
    with pytest.raises(ValueError, match="garbage"):
        parse_timestamp("garbage")


@pytest.mark.parametrize("value", [None, 1_700_000_000, 1.5, ["2026-11-02T08:00:00Z"]])
def test_parse_timestamp_rejects_non_text(value: object) -> None:
    """Numbers, None and lists are not timestamps."""
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(value)


# --- format_timestamp and the clock --------------------------------------------------------


def test_format_timestamp_is_utc_iso() -> None:
    """An aware datetime in any zone is written as ISO 8601 in UTC."""
    moment = datetime(2026, 11, 2, 16, 30, tzinfo=CHINA)
    assert format_timestamp(moment) == "2026-11-02T08:30:00+00:00"


def test_format_timestamp_keeps_microseconds() -> None:
    """Microseconds survive formatting, so timestamps keep their order."""
    moment = datetime(2026, 11, 2, 8, 0, 0, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-11-02T08:00:00.123456+00:00"


def test_format_then_parse_round_trips() -> None:
    """A formatted timestamp parses back to the same moment."""
    moment = datetime(2026, 11, 2, 16, 30, 5, 42, tzinfo=CHINA)
    assert parse_timestamp(format_timestamp(moment)) == moment


def test_system_clock_is_aware_utc() -> None:
    """The real clock returns an aware datetime in UTC."""
    now = system_clock()
    assert now.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)
