"""Values for a flow's fields: of their declared types, deliberately wrong, or mined from guards.

Strategies that do not depend on the time or the instance are built once and cached: a state
machine draws thousands of values, and building strategies costs more than drawing them.
Times are drawn as offsets and placed around the ``now`` of the draw.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from aftersales_flow._testing_data import type_problem
from aftersales_flow._testing_hints import DEFAULT_HINTS, Hints, flow_guards, guard_values
from aftersales_flow.model import FieldSpec, Flow

DEFAULT_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
"""The moment values are generated around when no ``now`` is given (the SimulatedClock's start)."""


@functools.cache
def one_in(n: int) -> st.SearchStrategy[bool]:
    """True once in ``n`` draws on average (an integer draw would lean towards its bounds)."""
    return st.sampled_from([True] + [False] * (n - 1))


@attrs.frozen
class _Shift:
    """A time drawn as an offset from the moment of the draw: seconds, or whole days for a date."""

    amount: int
    days: bool = False

    def at(self, now: datetime) -> str:
        if self.days:
            return (now.date() + timedelta(days=self.amount)).isoformat()
        return (now + timedelta(seconds=self.amount)).isoformat()


def placed(value: Any, now: datetime) -> Any:
    """The drawn value with every time offset placed around ``now``."""
    if isinstance(value, _Shift):
        return value.at(now)
    if isinstance(value, list):
        return [placed(item, now) for item in value]
    if isinstance(value, dict):
        return {key: placed(item, now) for key, item in value.items()}
    return value


# Values are drawn from small pools, one choice each: hypothesis spends far more per choice
# than the engine spends per command, and long runs find more than varied strings do. The
# pools still hold what flows meet: empty and blank values, Chinese text, nesting, None.
_SCALAR_POOL = (None, True, False, 0, 1, -3, 42, 2.5, "", "ok", "Li Wei", "李伟", "K1")
_TEXT_POOL = ("Li Wei", "ok", "pass", "noise when braking", "P-1", "李伟", "刹车异响", "x", "a" * 60, "ñ 😀")
_LIST_POOL: tuple[Any, ...] = ([], ["ok"], [1, 2], ["seat", "floor_mat"], [{"id": "X1"}], [None])
_OBJECT_POOL: tuple[Any, ...] = (
    {"name": "Li Wei", "phone": "138"},
    {"result": "pass"},
    {"total": 300, "method": "cash"},
    {"id": "X1", "status": "done"},
    {"nested": {"items": [1, 2]}},
    {"value": None},
)
_SCALARS = st.sampled_from(_SCALAR_POOL)
_SECONDS = st.integers(-30 * 86400, 30 * 86400).map(_Shift)
_DAYS = st.integers(-400, 400).map(lambda days: _Shift(days, days=True))


def _keyed_pool(key: str) -> tuple[Any, ...]:
    return (
        [],
        [{key: "K1"}],
        [{key: "K1", "status": "done", "amount": 50}],
        [{key: "K1", "status": "proposed"}, {key: "K2", "status": "authorized", "amount": 120}],
    )


@functools.cache
def typed(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values of the field's type, times as offsets (see :func:`placed`)."""
    if spec.values:
        values = tuple(spec.values)
        if spec.type == "list":
            return st.sampled_from(([values[0]], list(values[:2]), []))
        return st.sampled_from(values)
    if spec.type == "list" and spec.key is not None:
        return st.sampled_from(_keyed_pool(spec.key))
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "string": st.sampled_from(_TEXT_POOL),
        "integer": st.integers(-1000, 1000),
        "number": st.one_of(
            st.integers(0, 1000), st.floats(0, 10_000, allow_nan=False, allow_infinity=False)
        ),
        "boolean": st.booleans(),
        "datetime": _SECONDS,
        "date": _DAYS,
        "list": st.sampled_from(_LIST_POOL),
        "object": st.sampled_from(_OBJECT_POOL),
    }
    return strategies.get(spec.type, _SCALARS)


def field_values(spec: FieldSpec, *, now: datetime | None = None) -> st.SearchStrategy[Any]:
    """Values of the field's declared type (and declared values), times around ``now``."""
    moment = now or DEFAULT_NOW
    return typed(spec).map(lambda value: placed(value, moment))


_WRONG: Mapping[str, tuple[Any, ...]] = {
    "string": (3, True, ["x"], {"x": 1}),
    "integer": ("3", 1.5, True, [1]),
    "number": ("3.5", False, [1]),
    "boolean": ("true", "yes", 1, 0),
    "datetime": (
        "tomorrow",
        "2026-11-02T08:00:00",
        "2026-13-01T00:00:00+00:00",
        "1899-12-31T23:00:00+00:00",
        1_700_000_000,
    ),
    "date": ("2026-02-30", "02/11/2026", "2026-11-02T08:00:00+00:00", 20261102),
    "list": ("a", {"a": 1}, 1),
    "object": (["a"], "a", 1),
}


@functools.cache
def wrong_values(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values the field must refuse: another type, a value outside ``values``, a keyless item."""
    found = list(_WRONG.get(spec.type, ()))
    if spec.values and spec.type in ("string", "integer", "number", "list"):
        found.append(["not_a_value"] if spec.type == "list" else "not_a_value")
    if spec.key is not None:
        found.append([{"no_key": 1}])
    found = [value for value in found if type_problem(spec, value) is not None]
    return st.sampled_from(tuple(found)) if found else st.nothing()


class _FlowValues:
    """A flow's guard-mined candidate values, mined once per moment."""

    def __init__(self, flow: Flow, hints: Hints) -> None:
        self.flow = flow
        self.hints = hints
        self.guards = flow_guards(flow)
        self._now: datetime | None = None
        self._fitted: dict[str, tuple[Any, ...]] = {}

    def candidates(self, spec: FieldSpec, now: datetime) -> tuple[Any, ...]:
        # Hints depend on the time; a command's fields are drawn at one time, so keep the last.
        if now != self._now:
            mined = guard_values(self.guards, self.flow.params, now, self.hints)
            self._fitted = {
                name: tuple(
                    fitted
                    for value in values
                    if (fitted := _fit(spec_of(self.flow, name), value)) is not None
                )
                for name, values in mined.items()
            }
            self._now = now
        return self._fitted.get(spec.name, ())


_CACHE: dict[tuple[str, int], _FlowValues] = {}


def values_of(flow: Flow, hints: Hints | None) -> _FlowValues:
    registry = hints or DEFAULT_HINTS
    key = (flow.content_hash, id(registry))
    found = _CACHE.get(key)
    if found is None or found.flow is not flow or found.hints is not registry:
        found = _CACHE[key] = _FlowValues(flow, registry)
    return found


def _fit(spec: FieldSpec, value: Any) -> Any:
    """A mined value made to fit the field (keys given to keyed-list items), or None when it cannot."""
    if spec.key is not None and isinstance(value, list):
        value = [
            {spec.key: f"K{index + 1}", **item} if isinstance(item, dict) else item
            for index, item in enumerate(value)
        ]
    return value if type_problem(spec, value) is None else None


def spec_of(flow: Flow, name: str) -> FieldSpec:
    return flow.fields.get(name) or FieldSpec(name=name)


_MINED_FIRST = st.sampled_from([True, True, False])


def draw_good(draw: st.DrawFn, flow: Flow, name: str, now: datetime, hints: Hints | None) -> Any:
    spec = spec_of(flow, name)
    mined = values_of(flow, hints).candidates(spec, now)
    if len(mined) > 0 and draw(_MINED_FIRST):
        return mined[draw(st.integers(0, len(mined) - 1))]
    return placed(draw(typed(spec)), now)


def good_value(
    flow: Flow, name: str, *, now: datetime | None = None, hints: Hints | None = None
) -> st.SearchStrategy[Any]:
    """A value for field ``name``: often one mined from the flow's guards, else one of its type."""
    moment = now or DEFAULT_NOW

    @st.composite
    def value(draw: st.DrawFn) -> Any:
        return draw_good(draw, flow, name, moment, hints)

    return value()
