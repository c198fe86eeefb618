"""Hypothesis strategies for any loaded flow: actors, field values, payloads, commands, event walks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from aftersales_flow._testing_hints import DEFAULT_HINTS, Hints, flow_guards, guard_values
from aftersales_flow._testing_judge import type_problem
from aftersales_flow.model import FieldSpec, Flow, Transition
from aftersales_flow.states.deadline import SLA_BREACHED
from aftersales_flow.values import Actor

EXTRA_ROLES = ("customer", "nobody")
"""Roles no shipped flow grants, held by some generated actors."""

UNDECLARED_EVENTS = (SLA_BREACHED, "bogus_event")
"""Events generated besides the flow's own: no person may fire these."""

DEFAULT_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
"""The moment values are generated around when no ``now`` is given (the SimulatedClock's start)."""

Payload = dict[str, Any]
Example = Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]
"""A payload known to be good for an event, or a function of a SimulatedClock making one."""
Examples = Mapping[str, Sequence[Example]]
"""Good payloads by event name."""


@attrs.frozen(kw_only=True)
class Command:
    """One generated command: an event, who fires it and with what payload."""

    event: str
    actor: Actor
    payload: Mapping[str, Any] = attrs.field(factory=dict)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.sampled_from(["ok", "pass", "Li Wei", "K1"]),
    st.text(alphabet="abcxyz01 ", max_size=5),
)
_TEXT = st.one_of(
    st.sampled_from(["Li Wei", "ok", "pass", "noise when braking", "P-1"]),
    st.text(alphabet=st.characters(categories=["L", "N"], max_codepoint=0x9FFF), min_size=1, max_size=6),
)
_OBJECT_KEYS = st.sampled_from(["id", "name", "result", "total", "method", "amount", "phone", "vin"])


def _keyed_item(key: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda ident, rest: {**rest, key: ident},
        st.sampled_from(["K1", "K2", "K3"]),
        st.dictionaries(_OBJECT_KEYS, _SCALARS, max_size=2),
    )


def field_values(spec: FieldSpec, *, now: datetime | None = None) -> st.SearchStrategy[Any]:
    """Values of the field's declared type (and declared values), times around ``now``."""
    moment = now or DEFAULT_NOW
    if spec.values:
        choices = st.sampled_from(list(spec.values))
        return st.lists(choices, max_size=3) if spec.type == "list" else choices
    kind = spec.type
    if kind == "string":
        return _TEXT
    if kind == "integer":
        return st.one_of(st.integers(0, 10), st.integers(-1000, 1000))
    if kind == "number":
        return st.one_of(st.integers(0, 1000), st.floats(0, 10_000, allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "datetime":
        return st.integers(-30 * 86400, 30 * 86400).map(
            lambda seconds: (moment + timedelta(seconds=seconds)).isoformat()
        )
    if kind == "date":
        return st.integers(-400, 400).map(lambda days: (moment.date() + timedelta(days=days)).isoformat())
    if kind == "list" and spec.key is not None:
        return st.lists(_keyed_item(spec.key), max_size=3, unique_by=lambda item: item[spec.key])
    if kind == "list":
        return st.lists(_SCALARS, max_size=3)
    if kind == "object":
        return st.dictionaries(_OBJECT_KEYS, _SCALARS, min_size=1, max_size=3)
    return _SCALARS


def wrong_values(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values the field must refuse: another type, a value outside ``values``, a keyless item."""
    wrong: dict[str, list[Any]] = {
        "string": [3, True, ["x"], {"x": 1}],
        "integer": ["3", 1.5, True, [1]],
        "number": ["3.5", False, [1]],
        "boolean": ["true", "yes", 1, 0],
        "datetime": ["tomorrow", "2026-11-02T08:00:00", "2026-13-01T00:00:00+00:00", 1_700_000_000],
        "date": ["2026-02-30", "02/11/2026", "2026-11-02T08:00:00+00:00", 20261102],
        "list": ["a", {"a": 1}, 1],
        "object": [["a"], "a", 1],
        "any": [],
    }
    found = list(wrong.get(spec.type, []))
    if spec.values and spec.type in ("string", "integer", "number", "list"):
        found.append(["not_a_value"] if spec.type == "list" else "not_a_value")
    if spec.key is not None:
        found.append([{"no_key": 1}])
    found = [value for value in found if type_problem(spec, value) is not None]
    return st.sampled_from(found) if found else st.nothing()


class _FlowValues:
    """A flow's guard-mined candidate values, computed once per flow and hints."""

    def __init__(self, flow: Flow, hints: Hints) -> None:
        self.flow = flow
        self.hints = hints
        self.guards = flow_guards(flow)
        self._now: datetime | None = None
        self._mined: dict[str, list[Any]] = {}

    def candidates(self, spec: FieldSpec, now: datetime) -> list[Any]:
        # Hints depend on the time; a payload's fields are drawn at one time, so keep the last.
        if now != self._now:
            self._mined = guard_values(self.guards, self.flow.params, now, self.hints)
            self._now = now
        mined = self._mined.get(spec.name, [])
        return [fitted for value in mined if (fitted := _fit(spec, value)) is not None]


_CACHE: dict[tuple[str, int], _FlowValues] = {}


def _values_of(flow: Flow, hints: Hints) -> _FlowValues:
    key = (flow.content_hash, id(hints))
    found = _CACHE.get(key)
    if found is None or found.flow is not flow:
        found = _CACHE[key] = _FlowValues(flow, hints)
    return found


def _fit(spec: FieldSpec, value: Any) -> Any:
    """A mined value made to fit the field (keys given to keyed-list items), or None when it cannot."""
    if spec.key is not None and isinstance(value, list):
        value = [
            {spec.key: f"K{index + 1}", **item} if isinstance(item, dict) else item
            for index, item in enumerate(value)
        ]
    return value if type_problem(spec, value) is None else None


def _spec(flow: Flow, name: str) -> FieldSpec:
    return flow.fields.get(name) or FieldSpec(name=name)


def good_value(
    flow: Flow, name: str, *, now: datetime | None = None, hints: Hints | None = None
) -> st.SearchStrategy[Any]:
    """A value for field ``name``: often one mined from the flow's guards, else one of its type."""
    moment = now or DEFAULT_NOW
    spec = _spec(flow, name)
    mined = _values_of(flow, hints or DEFAULT_HINTS).candidates(spec, moment)
    typed = field_values(spec, now=moment)
    if not mined:
        return typed
    return st.one_of(st.sampled_from(mined), st.sampled_from(mined), typed)


def _example(example: Example, now: datetime) -> Payload:
    if callable(example):
        from aftersales_flow.testing import SimulatedClock

        return dict(example(SimulatedClock(now)))
    return dict(example)


@st.composite
def _break(draw: st.DrawFn, flow: Flow, branches: Sequence[Transition], payload: Payload) -> Payload:
    """The payload with one deliberate fault: a required field dropped or blank, a bad type, an extra key."""
    result = dict(payload)
    required = sorted({name for branch in branches for name in branch.requires})
    taken = set().union(*(branch.fields for branch in branches))
    others = sorted(set(flow.fields) - taken) or ["bogus"]
    faults = ["undeclared"]
    if required:
        faults += ["drop_required", "blank_required"]
    if result:
        faults.append("wrong_type")
    fault = draw(st.sampled_from(faults))
    if fault == "drop_required":
        result.pop(draw(st.sampled_from(required)), None)
    elif fault == "blank_required":
        result[draw(st.sampled_from(required))] = draw(st.sampled_from([None, ""]))
    elif fault == "wrong_type":
        name = draw(st.sampled_from(sorted(result)))
        wrong = wrong_values(_spec(flow, name))
        result[name] = draw(st.one_of(wrong, st.none())) if not wrong.is_empty else None
    else:
        name = draw(st.sampled_from(others))
        result[name] = draw(field_values(_spec(flow, name)))
    return result


@st.composite
def payloads(
    draw: st.DrawFn,
    flow: Flow,
    event: str,
    *,
    state: str | None = None,
    now: datetime | None = None,
    hints: Hints | None = None,
    examples: Examples | None = None,
    faults: bool | None = None,
) -> Payload:
    """A payload for ``event`` from ``state`` (``None``: a start event).

    Good payloads give a branch's required fields and some of its accepted ones, with values
    mined from the flow's guards (so guards are seen holding and failing) or of the field's
    type, or are one of ``examples[event]``. With ``faults=True`` every payload has one
    deliberate fault; ``None`` mixes both.
    """
    moment = now or DEFAULT_NOW
    branches = flow.branches(state, event)
    if not branches:
        names = draw(st.lists(st.sampled_from(sorted(flow.fields) or ["bogus"]), max_size=2, unique=True))
        return {name: draw(field_values(_spec(flow, name), now=moment)) for name in names}
    known = list((examples or {}).get(event, ()))
    if known and draw(st.integers(0, 2)) > 0:
        payload = _example(draw(st.sampled_from(known)), moment)
    else:
        branch = draw(st.sampled_from(branches))
        payload = {}
        for name in branch.requires:
            payload[name] = draw(good_value(flow, name, now=moment, hints=hints))
        for name in sorted(branch.accepts):
            if draw(st.booleans()):
                payload[name] = draw(good_value(flow, name, now=moment, hints=hints))
    broken = faults if faults is not None else draw(st.integers(0, 3)) == 0
    return draw(_break(flow, branches, payload)) if broken else payload


def actors(
    flow: Flow,
    *,
    roles: Sequence[str] | frozenset[str] | None = None,
    extra_roles: Sequence[str] = EXTRA_ROLES,
) -> st.SearchStrategy[Actor]:
    """Actors holding none, some or unknown roles; with ``roles``, mostly actors holding one of them."""
    pool = sorted(flow.roles) + list(extra_roles)
    anyone = st.builds(
        lambda number, held: Actor(f"staff-{number}", roles=frozenset(held)),
        st.integers(0, 3),
        st.sets(st.sampled_from(pool), max_size=3),
    )
    if not roles:
        return anyone
    holder = st.builds(
        lambda role, more, number: Actor(f"{role}-{number}", roles=frozenset({role, *more})),
        st.sampled_from(sorted(roles)),
        st.sets(st.sampled_from(pool), max_size=1),
        st.integers(1, 2),
    )
    return st.one_of(holder, holder, holder, anyone)


@st.composite
def commands(
    draw: st.DrawFn,
    flow: Flow,
    *,
    state: str | None = None,
    now: datetime | None = None,
    hints: Hints | None = None,
    examples: Examples | None = None,
    likely: bool = False,
) -> Command:
    """A command on an instance in ``state`` (``None``: not started, so start events).

    Events possible from the state are drawn most often, then any event of the flow and events
    no one may fire. With ``likely=True`` the command aims at acceptance: a possible event, an
    actor holding one of its roles, a payload without deliberate faults.
    """
    declared = flow.events_from(state)
    others = [*flow.events, *UNDECLARED_EVENTS]
    if declared and (likely or draw(st.integers(0, 9)) < 7):
        event = draw(st.sampled_from(declared))
    else:
        event = draw(st.sampled_from(others))
    branches = flow.branches(state, event)
    roles = frozenset().union(*(branch.roles for branch in branches))
    actor = draw(actors(flow, roles=roles))
    faults = False if likely else None
    payload = draw(payloads(flow, event, state=state, now=now, hints=hints, examples=examples, faults=faults))
    return Command(event=event, actor=actor, payload=payload)


@st.composite
def event_sequences(draw: st.DrawFn, flow: Flow, *, max_size: int = 20) -> list[str]:
    """Event names along a walk of the flow's graph from a start event (guards ignored).

    About one event in ten is one the walk's state does not declare, and stays there.
    """
    state: str | None = None
    found: list[str] = []
    while len(found) < max_size:
        declared = flow.events_from(state)
        if not declared or draw(st.integers(0, 9)) == 0:
            found.append(draw(st.sampled_from([*flow.events, *UNDECLARED_EVENTS])))
            if not declared or not draw(st.booleans()):
                break
            continue
        event = draw(st.sampled_from(declared))
        found.append(event)
        state = draw(st.sampled_from(flow.branches(state, event))).target
    return found
