"""Durations, timestamps and clocks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Clock = Callable[[], datetime]
"""A clock returns an aware UTC :class:`~datetime.datetime`."""

_DURATION = re.compile(r"^\s*-?\s*(?:\d+\s*[wdhms]\s*)+$")
_PART = re.compile(r"(\d+)\s*([wdhms])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


def parse_duration(text: Any) -> timedelta:
    """``'1h'``, ``'30m'``, ``'2d12h'``, ``'-1d'`` or a number of seconds, as a timedelta."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")  # noqa: TRY004 - callers treat bad input alike
    try:
        if isinstance(text, int | float):
            return timedelta(seconds=text)
        if not isinstance(text, str) or not _DURATION.match(text):
            raise ValueError(f"not a duration: {text!r} (write e.g. '30m', '1h', '2d', '1d12h')")
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
        return timedelta(seconds=-seconds if text.strip().startswith("-") else seconds)
    except OverflowError:
        raise ValueError(f"not a duration: {text!r} (too long)") from None


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with a time zone (or a datetime) as an aware datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise ValueError(f"not a timestamp: {value!r}")  # noqa: TRY004 - callers treat bad input alike
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no time zone; add one, e.g. '+08:00' or 'Z'")
    return moment


def format_timestamp(moment: datetime) -> str:
    """An aware datetime as ISO 8601 text in UTC, microseconds kept."""
    return moment.astimezone(UTC).isoformat()
