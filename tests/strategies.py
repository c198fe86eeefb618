"""Hypothesis strategies for the shipped flows: actors, payloads that pass or break guards, commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from repair_order_steps import HAPPY_PATH, OPENING, line, signature

EXTRA_ROLES = ("customer", "nobody")


def actors(flow: af.Flow) -> st.SearchStrategy[af.Actor]:
    """Actors holding zero or more of the flow's roles (and roles the flow does not know)."""
    roles = sorted(flow.roles) + list(EXTRA_ROLES)
    return st.builds(
        lambda number, held: af.Actor(f"staff-{number}", roles=frozenset(held)),
        st.integers(0, 3),
        st.sets(st.sampled_from(roles), max_size=3),
    )


def _additional(clock: SimulatedClock) -> dict[str, Any]:
    return {"lines": [line("X1", "proposed", origin="additional_found", reason="worn", amount=50)]}


def _authorize_extra(clock: SimulatedClock) -> dict[str, Any]:
    consent = signature("customer", "Li Wei", clock.iso())
    return {
        "lines": [{"line_id": "X1", "status": "authorized", "authorization": consent}],
        "promised_completion_at": clock.iso("2h"),
    }


def _start_extra(clock: SimulatedClock) -> dict[str, Any]:
    return {"lines": [line("X2", "in_progress", origin="additional_found", amount=70)]}


GOOD_PAYLOADS: dict[str, list[Callable[[SimulatedClock], dict[str, Any]]]] = {}
for _event, _actor, _payload in HAPPY_PATH:
    GOOD_PAYLOADS.setdefault(_event, []).append(_payload)
GOOD_PAYLOADS.setdefault("additional_work_found", []).append(_additional)
GOOD_PAYLOADS.setdefault("additional_work_authorized", []).append(_authorize_extra)
GOOD_PAYLOADS.setdefault("record_work", []).append(_start_extra)
GOOD_PAYLOADS["qc_failed"] = [lambda c: {"qc_defects": ["loose"], "escalation_notified_to": ["foreman"]}]
GOOD_PAYLOADS["cancel"] = [lambda c: {"cancel_reason": "parts_unobtainable"}]

JUNK_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(), max_size=2)
)


def _mutate(payload: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Drop a key, retype a value, or add an undeclared key."""
    result = dict(payload)
    action = draw(st.sampled_from(["keep", "keep", "drop", "retype", "extra"]))
    if action == "drop" and result:
        result.pop(draw(st.sampled_from(sorted(result))))
    elif action == "retype" and result:
        result[draw(st.sampled_from(sorted(result)))] = draw(JUNK_VALUES)
    elif action == "extra":
        result[draw(st.sampled_from(["bogus", "ok", "rework_count", "lines"]))] = draw(JUNK_VALUES)
    return result


@st.composite
def commands(
    draw: st.DrawFn, flow: af.Flow
) -> tuple[str, af.Actor, Callable[[SimulatedClock], dict[str, Any]]]:
    """An event name (usually one the flow has), an actor, and a payload maker (often a good one)."""
    event = draw(st.one_of(st.sampled_from(flow.events), st.sampled_from(["bogus_event", "close"])))
    actor = draw(actors(flow))
    makers = GOOD_PAYLOADS.get(event, [lambda c: {}])
    maker = draw(st.sampled_from(makers))
    if not draw(st.booleans()):
        return event, actor, maker
    mutated = _mutate(maker(SimulatedClock()), draw)
    return event, actor, lambda c: mutated


def opening() -> dict[str, Any]:
    """The payload that opens a walk-in repair order."""
    return dict(OPENING)
