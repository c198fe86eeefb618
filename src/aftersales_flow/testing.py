"""Helpers for tests and simulations: a clock you move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aftersales_flow._time import parse_duration


class SimulatedClock:
    """A clock that only moves when told: ``advance('2h')``, ``set(datetime)``.

    Pass it as the engine's ``clock`` to run days of dealership time in milliseconds.
    """

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        if moment.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self._now = moment.astimezone(UTC)

    def __call__(self) -> datetime:
        """The simulated now."""
        return self._now

    def advance(self, by: str | float | timedelta) -> datetime:
        """Move forward by a duration (``'90m'``, ``'1d'``, seconds, or a timedelta)."""
        step = by if isinstance(by, timedelta) else parse_duration(by)
        if step < timedelta(0):
            raise ValueError("a simulated clock only moves forward; use set() to go back on purpose")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (aware)."""
        if moment.tzinfo is None:
            raise ValueError("set() needs an aware datetime")
        self._now = moment.astimezone(UTC)
        return self._now

    def iso(self, offset: str | float | timedelta = 0) -> str:
        """Now (plus ``offset``) as ISO 8601 text, handy for payload timestamps."""
        step = offset if isinstance(offset, timedelta) else parse_duration(offset)
        return (self._now + step).isoformat()
