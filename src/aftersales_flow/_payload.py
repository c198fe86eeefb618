"""Payload checks (declared, required, typed, bounded) and how a payload changes the data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
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
    "datetime": "a time with a time zone (ISO 8601)",
    "date": "a date (YYYY-MM-DD)",
    "list": "a list",
    "object": "a mapping",
    "any": "a value",
}


def _json_problem(value: Any, depth: int, path: str) -> str | None:
    if depth > MAX_PAYLOAD_DEPTH:
        return f"'{path}' is nested more than {MAX_PAYLOAD_DEPTH} levels deep"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if value == value and value not in (float("inf"), float("-inf")) else f"'{path}' is not a finite number"
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            return f"'{path}' has more than {MAX_ITEMS} items"
        for index, item in enumerate(value):
            problem = _json_problem(item, depth + 1, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        if len(value) > MAX_ITEMS:
            return f"'{path}' has more than {MAX_ITEMS} entries"
        for key, item in value.items():
            if not isinstance(key, str):
                return f"'{path}' has a key that is not text ({key!r})"
            problem = _json_problem(item, depth + 1, f"{path}.{key}")
            if problem:
                return problem
        return None
    return f"'{path}' holds a {type(value).__name__}, which is not plain data (text, numbers, lists, mappings)"


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
            parse_timestamp(value)
        except (ValueError, TypeError):
            return False
        return isinstance(value, str)
    if kind == "date":
        return isinstance(value, str) and bool(_DATE.match(value))
    if kind == "list":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, Mapping)
    return True


def check_payload(
    flow: Flow, event: str, branches: Iterable[Transition], payload: Mapping[str, Any]
) -> list[Reason]:
    """Every problem with ``payload`` for ``event``: undeclared, missing, mistyped, too large."""
    reasons: list[Reason] = []
    branch_list = list(branches)
    accepted: set[str] = set()
    for branch in branch_list:
        accepted |= branch.fields
    for key in payload:
        if key not in accepted:
            allowed = ", ".join(sorted(accepted)) or "no fields"
            reasons.append(
                Reason(
                    code="undeclared_field",
                    message=f"'{event}' does not take the field '{key}'; it takes: {allowed}",
                    rule="payload",
                    field=key,
                )
            )
    required = set(branch_list[0].requires) if branch_list else set()
    for branch in branch_list[1:]:
        required &= set(branch.requires)
    for key in sorted(required):
        # An empty list or mapping is a statement ("no unresolved findings"); absence is not.
        if payload.get(key) is None or payload.get(key) == "":
            reasons.append(
                Reason(code="missing_field", message=f"'{event}' must record '{key}'", rule="payload", field=key)
            )
    for key, value in payload.items():
        if key not in accepted:
            continue
        problem = _json_problem(value, 1, key)
        if problem:
            reasons.append(Reason(code="bad_value", message=problem, rule="payload", field=key))
            continue
        spec = flow.fields[key]
        if not _type_ok(spec, value):
            reasons.append(
                Reason(
                    code="wrong_type",
                    message=f"'{key}' must be {_WORDS[spec.type]} (got {_shown(value)})",
                    rule="payload",
                    field=key,
                )
            )
        elif spec.values is not None:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is not None and item not in spec.values:
                    reasons.append(
                        Reason(
                            code="bad_value",
                            message=f"'{key}' must be one of {', '.join(map(str, spec.values))} (got {item!r})",
                            rule="payload",
                            field=key,
                        )
                    )
        if spec.key is not None and isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, Mapping) or is_blank(item.get(spec.key)):
                    reasons.append(
                        Reason(
                            code="missing_key",
                            message=f"'{key}' item #{index + 1} needs its '{spec.key}'",
                            rule="payload",
                            field=key,
                        )
                    )
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


def apply_effects(
    transition: Transition, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
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

