"""Values that satisfy guards, mined from a flow's rule calls (no hypothesis needed here).

A *hint* is registered under a rule's name: given the rule call's arguments (flow parameters
resolved) and the time, it proposes values for the data fields the rule reads. Values are
proposals, not promises: property tests mix them with random and deliberately broken ones,
so a guard is seen both holding and failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from aftersales_flow._time import parse_duration
from aftersales_flow.model import Flow
from aftersales_flow.rules._expr import Guard, rule_calls

HintFunction = Callable[[Mapping[str, Any], datetime], Mapping[str, Sequence[Any]]]
"""A hint: ``(arguments, now) -> {field path: candidate values}``."""


class Hints:
    """Hints by rule name; :data:`DEFAULT_HINTS` knows the built-in and dealership rules."""

    def __init__(self, hints: Mapping[str, HintFunction] | None = None) -> None:
        self._hints: dict[str, HintFunction] = dict(hints or {})

    def hint(self, name: str) -> Callable[[HintFunction], HintFunction]:
        """Register the decorated function as the hint of rule ``name`` (replacing any)."""

        def decorator(function: HintFunction) -> HintFunction:
            self._hints[name] = function
            return function

        return decorator

    def get(self, name: str) -> HintFunction | None:
        """The hint of rule ``name``, or None."""
        return self._hints.get(name)

    def copy(self) -> Hints:
        """A new registry with the same hints, to extend without touching this one."""
        return Hints(self._hints)

    def __contains__(self, name: object) -> bool:
        return name in self._hints

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._hints))


DEFAULT_HINTS = Hints()
"""The hints property tests use unless given others."""


def hint(name: str) -> Callable[[HintFunction], HintFunction]:
    """Register a hint for rule ``name`` in :data:`DEFAULT_HINTS` (decorator)."""
    return DEFAULT_HINTS.hint(name)


def _around(value: Any) -> list[Any]:
    """A number and its neighbours, so that every comparison is seen both ways."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [value]
    return [value - 1, value, value + 1]


def _example_of(wanted: Any) -> Any:
    """A value matching a ``where`` / ``require`` condition (a list condition: its first item)."""
    if isinstance(wanted, list | tuple):
        return wanted[0] if wanted else None
    return wanted


@hint("field_true")
def _field_true(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: [True, False]}


@hint("field_equals")
def _field_equals(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: [args["value"]]}


@hint("field_in")
def _field_in(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: list(args["values"])}


@hint("field_compare")
def _field_compare(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    if args.get("other") is not None or args.get("value") is None:
        return {}
    return {args["field"]: _around(args["value"])}


@hint("count_where")
def _count_where(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    item = {key: _example_of(wanted) for key, wanted in (args.get("where") or {}).items()}
    counts = sorted({max(0, n) for n in _around(args["value"]) if isinstance(n, int)})
    return {args["field"]: [[dict(item) for _ in range(min(n, 5))] for n in counts]}


@hint("all_items")
def _all_items(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    where = {key: _example_of(wanted) for key, wanted in (args.get("where") or {}).items()}
    require = {key: _example_of(wanted) for key, wanted in args["require"].items()}
    return {args["field"]: [[{**where, **require}], [where]]}


@hint("time_compare")
def _time_compare(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    bound = now + parse_duration(args.get("offset", "0s"))
    shifts = (timedelta(hours=-1), timedelta(0), timedelta(hours=1), timedelta(days=1))
    return {args["field"]: [(bound + shift).isoformat() for shift in shifts]}


@hint("signed")
def _signed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    methods = args.get("methods") or ["e_sign"]
    record = {
        "signer_role": args.get("signer_role", "customer"),
        "signer_name": "Li Wei",
        "signed_at": now.isoformat(),
        "method": methods[0],
        "recording_ref": "REC-1",
    }
    return {args["field"]: [record, {**record, "signer_role": "nobody"}]}


@hint("entries_complete")
def _entries_complete(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    entry = {args.get("key", "id"): "E1", **dict.fromkeys(args["keys"], "recorded")}
    return {args["field"]: [[entry], []]}


@hint("kit_installed")
def _kit_installed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    items = list(args["items"])
    return {"protective_kit_installed": [items, items[:-1]]}


@hint("estimate_split")
def _estimate_split(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"estimate_total_labour": [100, 0], "estimate_total_parts": [200, 0]}


@hint("warranty_decided")
def _warranty_decided(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"warranty_status": ["not_applicable", "covered", "not_covered", "pending_oem"]}


def _nest(path: str, value: Any) -> tuple[str, Any]:
    """A dotted path's value as the value of its top field (``a.b: 1`` is ``a: {b: 1}``)."""
    top, *rest = path.split(".")
    for part in reversed(rest):
        value = {part: value}
    return top, value


def flow_guards(flow: Flow) -> list[Guard]:
    """Every guard of the flow: transitions' guards and unless, invariants, deadline and link conditions."""
    found: list[Guard] = list(flow.invariants)
    for transition in (*flow.starts, *flow.transitions):
        found.extend(g for g in (transition.guard, transition.unless) if g is not None)
        found.extend(link.when for link in (*transition.starts, *transition.fires) if link.when is not None)
    for state in flow.states.values():
        found.extend(spec.when for spec in state.deadlines if spec.when is not None)
    return found


def guard_values(
    guards: Sequence[Guard], params: Mapping[str, Any], now: datetime, hints: Hints | None = None
) -> dict[str, list[Any]]:
    """Candidate values by top-level field for every rule call in ``guards`` that has a hint.

    A hint that fails on odd arguments is skipped: hints only help, they never decide.
    """
    registry = hints if hints is not None else DEFAULT_HINTS
    found: dict[str, list[Any]] = {}
    for guard in guards:
        for call in rule_calls(guard):
            function = registry.get(call.name)
            if function is None:
                continue
            try:
                proposed = function(call.resolve(params), now)
            except Exception:  # noqa: BLE001, S112 - a hint that cannot read its arguments proposes nothing
                continue
            for path, values in proposed.items():
                for value in values:
                    top, nested = _nest(path, value)
                    bucket = found.setdefault(top, [])
                    if nested not in bucket:
                        bucket.append(nested)
    return found


# --- the shipped dealership rules --------------------------------------------------------------


@hint("sent_to_all")
def _sent_to_all(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    recipients = list(args["recipients"])
    return {args["field"]: [recipients, recipients[1:]]}


@hint("is_month")
def _is_month(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    earlier = now.replace(day=1) - timedelta(days=1)
    return {args["field"]: [earlier.strftime("%Y-%m"), now.strftime("%Y-%m"), "2026-13"]}


@hint("no_visit_for")
def _no_visit_for(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    days = int(args["days"])
    dates = [(now - timedelta(days=n)).date().isoformat() for n in (days + 1, days + 30, max(days - 1, 0))]
    return {args["field"]: dates}


@hint("attempts_made")
def _attempts_made(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args.get("field", "attempts"): _around(args["at_least"])}


@hint("slot_in_future")
def _slot_in_future(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"slot_at": [(now + timedelta(days=n, hours=2)).isoformat() for n in (3, 1, -1)]}


@hint("director_notified")
def _director_notified(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"director_notified": [True, False]}


@hint("level_participants_recorded")
def _level_participants(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    levels: Mapping[str, Sequence[str]] = args["levels"]
    every = [
        {
            "level": int(key.rpartition("_")[2]),
            "members": [{"role": role, "name": f"{role} 1"} for role in roles],
        }
        for key, roles in sorted(levels.items())
    ]
    return {"level_participants": [every, every[:1]]}
