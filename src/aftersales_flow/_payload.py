"""Payload checks (declared, required, typed, bounded) and how a payload changes the data."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from aftersales_flow._time import format_timestamp, parse_timestamp
from aftersales_flow.model import FieldSpec, Flow, Transition, thaw
from aftersales_flow.rules.builtin import is_blank
from aftersales_flow.values import Reason

MAX_PAYLOAD_BYTES = 256 * 1024
"""Largest accepted payload, as canonical JSON."""
MAX_PAYLOAD_DEPTH = 12
"""Deepest nesting of lists and mappings accepted in a payload."""
MAX_ITEMS = 10_000
"""Most list items or mapping entries accepted in one payload value."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "datetime": "a time with a time zone (ISO 8601) between the years 1900 and 2999",
    "date": "a date (YYYY-MM-DD)",
    "list": "a list",
    "object": "a mapping",
    "any": "a value",
}


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


_SCALARS = frozenset({str, bool, int, type(None)})


def _plain(value: Any, depth: int) -> bool:
    """True when :func:`_json_problem` finds nothing; False when it may (it then says what).

    The same walk without the paths a message would need, for the payloads that are fine.
    """
    kind = type(value)
    if kind in _SCALARS:
        return depth <= MAX_PAYLOAD_DEPTH
    if kind is float:
        return depth <= MAX_PAYLOAD_DEPTH and math.isfinite(value)
    if kind not in (list, tuple, dict):
        return False  # anything else: the full check says what it is
    if depth > MAX_PAYLOAD_DEPTH or len(value) > MAX_ITEMS:
        return False
    if value and depth == MAX_PAYLOAD_DEPTH:
        return False  # its items lie one level too deep
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _plain(item, depth + 1)):
                return False
        return True
    return all(type(item) in _SCALARS or _plain(item, depth + 1) for item in value)


def _json_problem(value: Any, depth: int, path: str) -> str | None:
    if depth > MAX_PAYLOAD_DEPTH:
        return f"'{path}' is nested more than {MAX_PAYLOAD_DEPTH} levels deep"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"'{path}' is not a finite number"
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            return f"'{path}' has more than {MAX_ITEMS} items"
        for index, item in enumerate(value):
            problem = _json_problem(item, depth + 1, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if type(value) is dict or isinstance(value, Mapping):
        if len(value) > MAX_ITEMS:
            return f"'{path}' has more than {MAX_ITEMS} entries"
        for key, item in value.items():
            if not isinstance(key, str):
                return f"'{path}' has a key that is not text ({key!r})"
            problem = _json_problem(item, depth + 1, f"{path}.{key}")
            if problem:
                return problem
        return None
    return (
        f"'{path}' holds a {type(value).__name__}, which is not plain data (text, numbers, lists, mappings)"
    )


def _type_ok(spec: FieldSpec, value: Any) -> bool:
    kind = spec.type
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        try:
            moment = parse_timestamp(value)
        except (ValueError, TypeError):
            return False
        # A real dealership time: far-off years only break the arithmetic of deadlines.
        return isinstance(value, str) and 1900 <= moment.year <= 2999
    if kind == "date":
        return isinstance(value, str) and _is_date(value)
    if kind == "list":
        return isinstance(value, list)
    if kind == "object":
        return type(value) is dict or isinstance(value, Mapping)
    return True


def _reason(code: str, message: str, key: str) -> Reason:
    return Reason(code=code, message=message, rule="payload", field=key)


def _value_problems(spec: FieldSpec, key: str, value: Any) -> list[Reason]:
    """What is wrong with one declared field's value."""
    problem = None if _plain(value, 1) else _json_problem(value, 1, key)
    if problem:
        return [_reason("bad_value", problem, key)]
    if not _type_ok(spec, value):
        return [_reason("wrong_type", f"'{key}' must be {_WORDS[spec.type]} (got {_shown(value)})", key)]
    found = []
    if spec.values is not None:
        allowed = ", ".join(map(str, spec.values))
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item not in spec.values:
                found.append(_reason("bad_value", f"'{key}' must be one of {allowed} (got {item!r})", key))
    if spec.key is not None and isinstance(value, list):
        for index, item in enumerate(value):
            if not (type(item) is dict or isinstance(item, Mapping)) or is_blank(item.get(spec.key)):
                found.append(_reason("missing_key", f"'{key}' item #{index + 1} needs its '{spec.key}'", key))
    return found


def check_payload(
    flow: Flow, event: str, branches: Sequence[Transition], payload: Mapping[str, Any], size: int = 0
) -> list[Reason]:
    """Every problem with ``payload`` for ``event``: undeclared, missing, mistyped, too large.

    ``size`` is the payload's length as canonical JSON, checked against the limit.
    """
    reasons: list[Reason] = []
    if size > MAX_PAYLOAD_BYTES:
        reasons.append(
            _reason("too_large", f"the payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted", "")
        )
    accepted: set[str] = set().union(*(branch.fields for branch in branches))
    allowed = ", ".join(sorted(accepted)) or "no fields"
    for key in payload:
        if key not in accepted:
            reasons.append(
                _reason(
                    "undeclared_field", f"'{event}' does not take the field '{key}'; it takes: {allowed}", key
                )
            )
    required = (
        set(branches[0].requires).intersection(*(b.requires for b in branches[1:])) if branches else set()
    )
    for key in sorted(required):
        # An empty list or mapping is a statement ("no unresolved findings"); absence is not.
        if payload.get(key) is None or payload.get(key) == "":
            reasons.append(_reason("missing_field", f"'{event}' must record '{key}'", key))
    for key, value in payload.items():
        if key in accepted:
            reasons.extend(_value_problems(flow.fields[key], key, value))
    return reasons


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def merge_payload(flow: Flow, data: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The data with the payload written in; keyed lists are merged item by item."""
    merged = dict(data)
    for key, value in payload.items():
        spec = flow.fields.get(key)
        if spec is not None and spec.key is not None and isinstance(value, list):
            merged[key] = merge_keyed(data.get(key), value, spec.key)
        else:
            merged[key] = value
    return merged


def merge_keyed(current: Any, updates: list[Any], key: str) -> list[Any]:
    """Items of ``updates`` update the item with the same ``key`` or are appended."""
    items = [dict(item) for item in current] if isinstance(current, list) else []
    index = {item.get(key): i for i, item in enumerate(items) if isinstance(item, Mapping)}
    for update in updates:
        position = index.get(update.get(key))
        if position is None:
            index[update.get(key)] = len(items)
            items.append(dict(update))
        else:
            items[position] = {**items[position], **update}
    return items


def apply_effects(transition: Transition, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The transition's own changes: ``set`` values, ``increment`` counters, ``stamp`` times."""
    effects: dict[str, Any] = {}
    for key, value in transition.set.items():
        effects[key] = thaw(value)
    for key in transition.increment:
        current = data.get(key)
        effects[key] = (current if isinstance(current, int) and not isinstance(current, bool) else 0) + 1
    stamp = format_timestamp(now) if transition.stamp else ""
    for key in transition.stamp:
        effects[key] = stamp
    return effects


def _scalar_check(kind: str) -> Callable[[Any], bool] | None:
    """A quick test that a value of a scalar field type is plain, finite and of the type."""
    if kind == "string":
        return lambda value: value is None or type(value) is str
    if kind == "integer":
        return lambda value: value is None or type(value) is int
    if kind == "boolean":
        return lambda value: value is None or value is True or value is False
    if kind == "number":
        return lambda value: (
            value is None or type(value) is int or (type(value) is float and math.isfinite(value))
        )
    return None


_PLAIN_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str, type(None)}),
    "integer": frozenset({int, type(None)}),
    "boolean": frozenset({bool, type(None)}),
}


def _plain_types(spec: FieldSpec) -> frozenset[type] | None:
    """The value types a field takes with no further check (a plain scalar without a value list)."""
    if spec.key is not None or spec.values is not None:
        return None
    return _PLAIN_TYPES.get(spec.type)


def _field_check(spec: FieldSpec) -> Callable[[Any], bool]:
    """True when one value of the field has no problem (:func:`_value_problems` finds none).

    Plain scalars are checked directly; anything else (and any value the quick test is unsure
    of) goes through the full check, so the answer is always that of the full check.
    """
    key = spec.name
    scalar = _scalar_check(spec.type) if spec.key is None else None
    values = spec.values
    if scalar is None:
        return lambda value: not _value_problems(spec, key, value)
    if values is None:
        return lambda value: scalar(value) or not _value_problems(spec, key, value)
    return lambda value: (
        (value is None or (scalar(value) and value in values)) or not _value_problems(spec, key, value)
    )


class PayloadCheck:
    """:func:`check_payload` and :func:`merge_payload` for one event from one state, prepared once.

    A payload with no problem is recognized with a few lookups; one with any problem goes
    through :func:`check_payload`, so every refusal lists exactly the reasons it lists.
    """

    __slots__ = ("_branches", "_checks", "_event", "_flow", "_keyed", "_plain", "_required")

    def __init__(self, flow: Flow, event: str, branches: Sequence[Transition]) -> None:
        self._flow = flow
        self._event = event
        self._branches = tuple(branches)
        accepted: set[str] = set().union(*(branch.fields for branch in branches))
        self._checks = {key: _field_check(flow.fields[key]) for key in accepted if key in flow.fields}
        self._plain = {
            key: types
            for key in accepted
            if key in flow.fields and (types := _plain_types(flow.fields[key])) is not None
        }
        self._required = tuple(
            sorted(set(branches[0].requires).intersection(*(b.requires for b in branches[1:])))
            if branches
            else ()
        )
        self._keyed = frozenset(name for name, spec in flow.fields.items() if spec.key is not None)

    def __call__(self, payload: Mapping[str, Any], size: int) -> list[Reason]:
        """Every problem with ``payload``, as :func:`check_payload` gives them."""
        if size <= MAX_PAYLOAD_BYTES and self._fine(payload):
            return []
        return check_payload(self._flow, self._event, self._branches, payload, size)

    def _fine(self, payload: Mapping[str, Any]) -> bool:
        plain, checks = self._plain, self._checks
        for key, value in payload.items():
            types = plain.get(key)
            if types is not None and type(value) in types:
                continue
            check = checks.get(key)
            if check is None or not check(value):
                return False
        for key in self._required:
            value = payload.get(key)
            if value is None or value == "":
                return False
        return True

    @property
    def required(self) -> tuple[str, ...]:
        """The fields every branch of the event requires."""
        return self._required

    def merges(self, payload: Mapping[str, Any]) -> bool:
        """Whether the payload may hold a keyed list, merged item by item rather than written as given."""
        return bool(self._keyed) and not self._keyed.isdisjoint(payload)
