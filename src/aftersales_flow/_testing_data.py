"""What a command does to an instance's data, written again for the judge (no engine code used).

The types a field accepts, how a payload merges into the data (keyed lists item by item) and
what a transition's ``set`` / ``increment`` / ``stamp`` write: the judge computes the data an
accepted event must leave from these, and compares it with the engine's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from aftersales_flow.model import FieldSpec, Flow, Transition, thaw

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def plain(value: Any) -> Any:
    """The value as it reads back from the store (JSON round trip)."""
    return json.loads(json.dumps(thaw(value)))


def _timestamp(value: str) -> datetime | None:
    """The time, when ``value`` is one with a time zone in the years 1900 to 2999 (as payloads must be)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None and 1900 <= moment.year <= 2999 else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _fits(kind: str, value: Any) -> bool:
    """True when ``value`` is of the declared type ``kind``."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        return isinstance(value, str) and _timestamp(value) is not None
    if kind == "date":
        return isinstance(value, str) and bool(_DATE.fullmatch(value)) and _date_ok(value)
    if kind == "list":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def type_problem(spec: FieldSpec, value: Any) -> str | None:
    """Why ``value`` does not fit the field's declared type, values or key, or None."""
    if value is None:
        return None
    kind = spec.type
    if not _fits(kind, value):
        return f"'{spec.name}' is declared {kind} but holds {value!r}"
    if spec.values is not None:
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item not in spec.values:
                return f"'{spec.name}' holds {item!r}, not one of its declared values {list(spec.values)}"
    if spec.key is not None and isinstance(value, list):
        for item in value:
            if not isinstance(item, dict) or _blank(item.get(spec.key)):
                return f"'{spec.name}' holds an item without its key '{spec.key}': {item!r}"
    return None


def _date_ok(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def merged(flow: Flow, data: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The data with the payload written in; a keyed list's items update by key or append."""
    result: dict[str, Any] = plain(dict(data))
    for name, value in plain(dict(payload)).items():
        spec = flow.fields.get(name)
        if spec is None or spec.key is None or not isinstance(value, list):
            result[name] = value
            continue
        items = [dict(item) for item in result.get(name) or [] if isinstance(item, dict)]
        for update in value:
            for index, item in enumerate(items):
                if item.get(spec.key) == update.get(spec.key):
                    items[index] = {**item, **update}
                    break
            else:
                items.append(dict(update))
        result[name] = items
    return result


def effects(transition: Transition, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """What the transition itself writes: ``set`` values, ``increment`` counters, ``stamp`` times."""
    result: dict[str, Any] = plain(dict(transition.set))
    for name in transition.increment:
        count = data.get(name)
        result[name] = (count if isinstance(count, int) and not isinstance(count, bool) else 0) + 1
    for name in transition.stamp:
        result[name] = now.astimezone(UTC).isoformat()
    return result


def blank_field(value: Any) -> bool:
    """A required field counts as given unless absent, ``None`` or empty text (as flows.md says)."""
    return value is None or value == ""
