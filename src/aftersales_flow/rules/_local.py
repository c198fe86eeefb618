"""The dealer's local time: time zones, time-of-day windows, local dates.

Deadlines and call rules speak in the dealer's wall-clock time (``params.timezone``,
default ``Asia/Shanghai``); the engine's clock is UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (the default when None); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like 'Asia/Shanghai'") from None


def to_local(moment: datetime, timezone: str | None) -> datetime:
    """An aware moment in the dealer's time zone."""
    return moment.astimezone(zone(timezone))


def parse_clock(text: str) -> time:
    """``'12:00'`` as a time of day; ValueError when it is not ``HH:MM``."""
    found = _CLOCK.match(text) if isinstance(text, str) else None
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise ValueError(f"not a time of day: {text!r} (write 'HH:MM', e.g. '12:00')")
    return time(int(found.group(1)), int(found.group(2)))


def parse_window(text: str) -> tuple[time, time]:
    """``'09:00-11:00'`` as (start, end); ValueError when malformed or empty."""
    found = _WINDOW.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"not a time window: {text!r} (write 'HH:MM-HH:MM', e.g. '09:00-11:00')")
    start = parse_clock(f"{found.group(1)}:{found.group(2)}")
    end = parse_clock(f"{found.group(3)}:{found.group(4)}")
    if end <= start:
        raise ValueError(f"time window {text!r} ends before it starts")
    return start, end


def window_at(local: datetime, windows: Iterable[str]) -> str | None:
    """The first window (as written) that contains the local time ``local``, or None."""
    moment = local.time().replace(tzinfo=None)
    for text in windows:
        start, end = parse_window(text)
        if start <= moment < end:
            return text
    return None


def same_local_day(first: datetime, second: datetime, timezone: str | None) -> bool:
    """True when both moments fall on the same calendar day in the dealer's time zone."""
    return to_local(first, timezone).date() == to_local(second, timezone).date()
