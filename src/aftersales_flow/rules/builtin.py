"""Generic rules over an instance's data, usable in any flow.

Each rule is registered in the default registry under its function's name.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from aftersales_flow._time import parse_duration, parse_timestamp
from aftersales_flow.rules._registry import MISSING, RuleContext, get_path, rule

Comparison = Literal["<", "<=", "==", "!=", ">=", ">"]
"""The comparison operators rules take as ``op``; a flow giving any other is refused at load."""

OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}
_OP_WORDS = {
    "<": "less than",
    "<=": "at most",
    "==": "equal to",
    "!=": "different from",
    ">=": "at least",
    ">": "more than",
}


assert tuple(OPERATORS) == get_args(Comparison)


def _duration_problem(value: Any) -> str | None:
    """Why ``value`` is not a duration ``parse_duration`` reads, or None (a load-time check)."""
    try:
        parse_duration(value)
    except ValueError as exc:
        return str(exc)
    return None


def is_blank(value: Any) -> bool:
    """Absent, ``None``, an empty string, or an empty list or mapping."""
    return value is MISSING or value is None or (isinstance(value, str | list | dict) and not value)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op not in OPERATORS:
        raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(OPERATORS)}")
    try:
        return OPERATORS[op](left, right)
    except TypeError:
        return False


@rule("field_present", description="'{field}' is recorded")
def field_present(ctx: RuleContext, *, field: str) -> str | None:
    """Holds when the field has a value (not empty)."""
    return f"'{field}' is not recorded" if is_blank(ctx.get(field)) else None


@rule("field_true", description="'{field}' is confirmed (true)")
def field_true(ctx: RuleContext, *, field: str) -> str | None:
    """Holds when the field is exactly ``true``."""
    value = ctx.get(field)
    if value is True:
        return None
    if value is MISSING or value is None:
        return f"'{field}' is not confirmed (not recorded)"
    return f"'{field}' is not confirmed (it is {value!r})"


@rule("field_equals", description="'{field}' is {value!r}")
def field_equals(ctx: RuleContext, *, field: str, value: Any) -> str | None:
    """Holds when the field equals ``value``."""
    got = ctx.get(field)
    if got == value and got is not MISSING:
        return None
    shown = "not recorded" if got is MISSING else repr(got)
    return f"'{field}' must be {value!r} (it is {shown})"


@rule("field_in", description="'{field}' is one of {values}")
def field_in(ctx: RuleContext, *, field: str, values: list[Any]) -> str | None:
    """Holds when the field's value is one of ``values``."""
    got = ctx.get(field)
    if got is not MISSING and got in values:
        return None
    shown = "not recorded" if got is MISSING else repr(got)
    return f"'{field}' must be one of {', '.join(map(repr, values))} (it is {shown})"


@rule("field_compare", description="'{field}' {op} {value}")
def field_compare(
    ctx: RuleContext, *, field: str, op: Comparison, value: Any = None, other: str | None = None
) -> str | None:
    """Holds when ``field op value`` (or ``field op other_field``) is true."""
    left = ctx.get(field)
    right = ctx.get(other) if other is not None else value
    if left is MISSING:
        return f"'{field}' is not recorded"
    if right is MISSING:
        return f"'{other}' is not recorded"
    if _compare(left, op, right):
        return None
    what = f"'{other}' ({right!r})" if other is not None else repr(right)
    return f"'{field}' must be {_OP_WORDS.get(op, op)} {what} (it is {left!r})"


def _matches(item: Any, where: Mapping[str, Any]) -> bool:
    if not where:
        return True  # no condition: every item counts, plain text entries included
    if not isinstance(item, Mapping):
        return False
    for key, wanted in where.items():
        got = get_path(item, key)
        if isinstance(wanted, list):
            if got not in wanted:
                return False
        elif got != wanted:
            return False
    return True


def items_where(ctx: RuleContext, field: str, where: Mapping[str, Any] | None) -> list[Any]:
    """The items of the list ``field`` that match every ``key: value`` of ``where``."""
    items = ctx.get(field)
    if not isinstance(items, list):
        return []
    return [item for item in items if _matches(item, where or {})]


@rule("count_where", description="the number of '{field}' items matching {where} is {op} {value}")
def count_where(
    ctx: RuleContext, *, field: str, op: Comparison, value: int, where: dict[str, Any] | None = None
) -> str | None:
    """Holds when the count of list items matching ``where`` compares true with ``value``."""
    count = len(items_where(ctx, field, where))
    if _compare(count, op, value):
        return None
    which = f" with {_describe_where(where)}" if where else ""
    return f"the number of '{field}' entries{which} must be {_OP_WORDS.get(op, op)} {value} (it is {count})"


def _describe_where(where: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k} {'in' if isinstance(v, list) else '='} {v!r}" for k, v in (where or {}).items())


@rule("all_items", description="every '{field}' item matching {where} has {require}")
def all_items(
    ctx: RuleContext,
    *,
    field: str,
    require: dict[str, Any],
    where: dict[str, Any] | None = None,
    key: str = "id",
) -> list[str]:
    """Every list item matching ``where`` also matches ``require``; names each item that does not."""
    problems = []
    for item in items_where(ctx, field, where):
        if not _matches(item, require):
            name = item.get(key, "?") if isinstance(item, Mapping) else "?"
            problems.append(f"'{field}' entry {name!r} must have {_describe_where(require)}")
    return problems


@rule("time_compare", description="'{field}' is {op} now + {offset}", checks={"offset": _duration_problem})
def time_compare(ctx: RuleContext, *, field: str, op: Comparison, offset: str = "0s") -> str | None:
    """Holds when the timestamp in ``field`` compares true with the clock's now plus ``offset``."""
    raw = ctx.get(field)
    if is_blank(raw):
        return f"'{field}' is not recorded"
    try:
        moment = parse_timestamp(raw)
    except ValueError as exc:
        return f"'{field}' is not a valid time: {exc}"
    bound = ctx.now + parse_duration(offset)
    if _compare(moment, op, bound):
        return None
    return f"'{field}' ({moment.isoformat()}) must be {_OP_WORDS.get(op, op)} {bound.isoformat()}"


@rule("actor_has_role", description="the person acting holds the role '{role}'")
def actor_has_role(ctx: RuleContext, *, role: str) -> str | None:
    """Holds when the actor firing the event holds ``role``."""
    return None if role in ctx.actor.roles else f"this needs a person with the role '{role}'"


@rule("payload_has", description="this event records '{field}'")
def payload_has(ctx: RuleContext, *, field: str) -> str | None:
    """Holds when the event's own payload gives ``field`` (not only earlier data)."""
    return None if not is_blank(get_path(ctx.payload, field)) else f"this event must record '{field}'"
