"""Helpers for tests and simulations: a clock you move by hand, and property tests for any flow.

:class:`SimulatedClock` needs nothing but the package. The property-testing helpers need
hypothesis (``pip install 'aftersales_flow[test]'``), which is imported only when one of them is
first used::

    flows = af.load_flows("flows", brand="baoya")
    check_flow(flows, "appointment")                        # raises the first broken promise
    TestAppointment = flow_machine(flows, "appointment").TestCase   # or let pytest collect it

See docs/testing.md for the promises checked and how to extend the generated data.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aftersales_flow._testing_hints import DEFAULT_HINTS, HintFunction, Hints, hint
from aftersales_flow._testing_judge import FlowPropertyViolation, Judge
from aftersales_flow._time import parse_duration

if TYPE_CHECKING:
    from aftersales_flow._testing_machine import EngineFactory, check_flow, flow_machine
    from aftersales_flow._testing_strategies import (
        EXTRA_ROLES,
        Command,
        Example,
        Examples,
        actors,
        commands,
        event_sequences,
        payloads,
    )
    from aftersales_flow._testing_values import field_values, good_value, wrong_values

__all__ = [
    "DEFAULT_HINTS",
    "EXTRA_ROLES",
    "Command",
    "EngineFactory",
    "Example",
    "Examples",
    "FlowPropertyViolation",
    "HintFunction",
    "Hints",
    "Judge",
    "SimulatedClock",
    "actors",
    "check_flow",
    "commands",
    "event_sequences",
    "field_values",
    "flow_machine",
    "good_value",
    "hint",
    "payloads",
    "wrong_values",
]

_NEED_HYPOTHESIS = {
    "aftersales_flow._testing_machine": ("EngineFactory", "check_flow", "flow_machine"),
    "aftersales_flow._testing_strategies": (
        "EXTRA_ROLES",
        "Command",
        "Example",
        "Examples",
        "actors",
        "commands",
        "event_sequences",
        "payloads",
    ),
    "aftersales_flow._testing_values": ("field_values", "good_value", "wrong_values"),
}
_HOME = {name: module for module, names in _NEED_HYPOTHESIS.items() for name in names}


def __getattr__(name: str) -> Any:
    """The hypothesis-based helpers, imported on first use so that the package never needs hypothesis."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'aftersales_flow.testing' has no attribute {name!r}")
    try:
        found = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != "hypothesis":
            raise
        raise ImportError(
            f"aftersales_flow.testing.{name} needs hypothesis: pip install 'aftersales_flow[test]'"
        ) from exc
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
