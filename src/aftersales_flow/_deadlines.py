"""Loading deadlines declared on states: their shape, and what they may name."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aftersales_flow._problems import Problems, listing, suggest
from aftersales_flow._time import parse_duration
from aftersales_flow._yaml import Mark, MarkedDict
from aftersales_flow.errors import FlowShapeError, GraphError, UnknownFieldError, UnknownParameterError
from aftersales_flow.model import FieldSpec, Transition, thaw
from aftersales_flow.rules._local import parse_window
from aftersales_flow.states.deadline import UNITS, DeadlineSpec, ParamValue, Setting
from aftersales_flow.states.state import State

if TYPE_CHECKING:
    from aftersales_flow._shape import ShapeChecker

DEADLINE_KEYS = {
    "name": "a snake_case name, unique in the state",
    "after": "a duration ('1h', '3d', or {param: name}): from entering the state, or after 'field'",
    "before": "a duration before the time in 'field'",
    "field": "a datetime data field the deadline counts from (e.g. slot_at)",
    "fire": "the event fired as the system actor when due (omit to record sla_breached)",
    "payload": "the fired event's payload",
    "avoid": "local time windows to move the due time out of, e.g. {param: callback_blackouts}",
    "unit": "days, hours or minutes, when 'after' / 'before' are plain numbers (a count of days)",
    "when": "a guard: the deadline is only set when it holds on entering the state",
    "label": "{en: ..., zh: ...}",
    "description": "text",
}


def _setting(check: ShapeChecker, doc: MarkedDict, key: str, what: str) -> Setting | tuple[str, ...]:
    """A literal value or ``{param: name}``, checked against its kind."""
    if key not in doc:
        return None if key != "avoid" else ()
    raw = doc[key]
    at = doc.mark_of(key)
    if isinstance(raw, MarkedDict) and set(raw) == {"param"}:
        name = raw["param"]
        if not isinstance(name, str) or name not in check.params:
            check.problems.add(
                UnknownParameterError,
                f"{what} '{key}' refers to unknown parameter {name!r}{suggest(str(name), check.params)}; "
                f"the flow's params: {listing(check.params)}",
                raw.mark_of("param"),
            )
            return None
        value: Any = thaw(check.params[name])
        at = check.param_marks.get(name, at)
        result: Setting | tuple[str, ...] = ParamValue(name)
    else:
        value = thaw(raw)
        result = tuple(value) if key == "avoid" and isinstance(value, list) else value
    problem = _problem(key, value, doc.get("unit"))
    if problem:
        check.shape(f"{what} '{key}' {problem}", at)
        return None if key != "avoid" else ()
    return result


def _problem(key: str, value: Any, unit: Any = None) -> str | None:
    try:
        if key in ("after", "before") and isinstance(value, int | float) and not isinstance(value, bool):
            if unit is None or (isinstance(unit, str) and unit not in UNITS):
                # A unit that is not a word at all is reported on its own by the unit check.
                return (
                    f"is the plain number {value}; add 'unit: days' (or hours, minutes) to say what it counts"
                )
            return None
        if key == "avoid":
            if not isinstance(value, list):
                return "must be a list of time windows like '09:00-11:00'"
            for window in value:
                parse_window(window)
        elif value is not None:
            parse_duration(value)
    except ValueError as exc:
        return f"is not usable: {exc}"
    return None


def build_deadlines(check: ShapeChecker, state: str, doc: MarkedDict) -> tuple[DeadlineSpec, ...]:
    """The deadlines declared under a state's ``deadlines`` key."""
    items = check.sequence(doc["deadlines"], f"state {state!r} 'deadlines'", doc.mark_of("deadlines"))
    built: list[DeadlineSpec] = []
    for index, item in enumerate(items or []):
        assert items is not None
        what = f"state {state!r} deadline #{index + 1}"
        entry = check.mapping(item, what, items.mark_of(index))
        if entry is None:
            continue
        name = check.name(entry, "name", what)
        if name is not None:
            what = f"state {state!r} deadline {name!r}"
        check.keys(entry, DEADLINE_KEYS, what, ("name",))
        if "after" not in entry and "before" not in entry and "field" not in entry:
            check.shape(f"{what} needs 'after' (a duration), or a 'field' to count from", entry.mark)
        if "before" in entry and "field" not in entry:
            check.shape(
                f"{what}: 'before' counts back from a 'field'; name the field", entry.key_mark("before")
            )
        payload = entry.get("payload", {})
        if not isinstance(payload, MarkedDict | dict):
            check.shape(f"{what} 'payload' must be a mapping", entry.mark_of("payload"))
            payload = {}
        if name is None:
            continue
        if any(d.name == name for d in built):
            check.shape(
                f"{what}: the state has two deadlines named {name!r}; rename one", entry.mark_of("name")
            )
            continue
        field = entry.get("field")
        unit = entry.get("unit")
        if unit is not None and (not isinstance(unit, str) or unit not in UNITS):
            check.shape(
                f"{what} 'unit' must be one of {', '.join(UNITS)} (got {unit!r})", entry.mark_of("unit")
            )
            unit = None
        when = (
            check.guard(entry["when"], entry.mark_of("when"), f"{what} 'when'") if "when" in entry else None
        )
        check.deadline_marks[(state, name)] = entry.mark
        built.append(
            DeadlineSpec(
                name=name,
                state=state,
                after=_setting(check, entry, "after", what),  # type: ignore[arg-type]
                before=_setting(check, entry, "before", what),  # type: ignore[arg-type]
                field=field if isinstance(field, str) else None,
                fire=check.name(entry, "fire", what),
                payload=thaw(payload),
                avoid=_setting(check, entry, "avoid", what),
                unit=unit,
                when=when,
                label=check.label(entry, "label", what, required=False),
                where=str(entry.mark),
            )
        )
    return tuple(built)


def check_deadlines(
    problems: Problems,
    states: Mapping[str, State],
    transitions: Sequence[Transition],
    fields: Mapping[str, FieldSpec],
    marks: Mapping[tuple[str, str], Mark],
    written_events: Collection[Any] = (),
) -> None:
    """A deadline's event must leave its state and let the system fire it; its field must exist."""
    for state in states.values():
        for spec in state.deadlines:
            at = marks[(state.name, spec.name)]
            what = f"state {state.name!r} deadline {spec.name!r}"
            if state.terminal:
                problems.add(GraphError, f"{what}: a terminal state cannot have deadlines", at)
            if spec.field is not None:
                declared = fields.get(spec.field)
                if declared is None:
                    problems.add(
                        UnknownFieldError,
                        f"{what} counts from field {spec.field!r}, which the flow does not declare"
                        f"{suggest(spec.field, fields)}; known fields: {listing(fields)}",
                        at,
                    )
                elif declared.type not in ("datetime", "any"):
                    problems.add(
                        UnknownFieldError,
                        f"{what} counts from {spec.field!r}, a {declared.type} field; it must be a datetime",
                        at,
                    )
            if spec.fire is not None:
                _check_fired(problems, what, spec, state, transitions, at, written_events)


def _check_fired(
    problems: Problems,
    what: str,
    spec: DeadlineSpec,
    state: State,
    transitions: Sequence[Transition],
    at: Mark,
    written_events: Collection[Any],
) -> None:
    branches = [t for t in transitions if t.source == state.name and t.event == spec.fire]
    if not branches and problems and spec.fire in written_events:
        return  # the event is written but was dropped for a problem already reported
    if not branches:
        possible = sorted({t.event for t in transitions if t.source == state.name})
        problems.add(
            GraphError,
            f"{what} fires {spec.fire!r}, which is not an event from {state.name!r}"
            f"{suggest(str(spec.fire), possible)}; events from it: {listing(possible)}",
            at,
        )
        return
    if not any("system" in b.roles for b in branches):
        problems.add(
            GraphError,
            f"{what} fires {spec.fire!r}, which the 'system' role may not fire; add system to its roles",
            at,
        )
    accepted = set().union(*(b.fields for b in branches))
    for key in spec.payload:
        if key not in accepted:
            problems.add(
                FlowShapeError,
                f"{what} payload key {key!r} is not taken by {spec.fire!r}; it takes: {listing(accepted)}",
                at,
            )
