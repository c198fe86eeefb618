"""Build a :class:`Flow` from a parsed (and merged) flow document: shape, then meaning."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aftersales_flow._deadlines import check_deadlines
from aftersales_flow._problems import Problems
from aftersales_flow._shape import (
    FLOW_KEYS,
    NAME,
    REQUIRED_FLOW_KEYS,
    TRANSITION_KEYS,
    ShapeChecker,
    _kind,
)
from aftersales_flow._validate import Declared, check_meaning
from aftersales_flow._yaml import Mark, MarkedDict, MarkedList, mark_of
from aftersales_flow.errors import FlowShapeError
from aftersales_flow.links import LINK_KEYS, Link, reference_problem
from aftersales_flow.model import Flow, Transition, thaw
from aftersales_flow.rules._expr import Guard
from aftersales_flow.rules._registry import RuleRegistry
from aftersales_flow.states.state import Label

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: the same data always gives the same text."""
    return _CANONICAL.encode(value)


def content_hash(definition: Any) -> str:
    """sha256 of the canonical JSON of a flow definition."""
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def build_flow(doc: Any, registry: RuleRegistry, *, file: str, source: str, brand: str | None = None) -> Flow:
    """Check ``doc`` and build the flow, raising every problem found together."""
    problems = Problems()
    top_mark = Mark(file, 1, 1)
    if not isinstance(doc, MarkedDict):
        mark = mark_of(doc, top_mark)
        raise FlowShapeError(
            f"a flow file must be a YAML mapping with 'flow', 'states', 'transitions'… (got {_kind(doc)})",
            file=mark.file,
            line=mark.line,
            column=mark.column,
        )
    params_doc = doc.get("params", {})
    params = thaw(params_doc) if isinstance(params_doc, dict) else {}
    declared = Declared.of(doc)
    check = ShapeChecker(problems, registry, params, declared.fields)
    if isinstance(params_doc, MarkedDict):
        check.param_marks = params_doc.value_marks
    check.keys(doc, FLOW_KEYS, "the flow", REQUIRED_FLOW_KEYS)
    if "params" in doc:
        check.mapping(params_doc, "'params'", doc.mark_of("params"))
    name = check.name(doc, "flow", "the flow's") or "unnamed"
    version = doc.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        check.shape(
            f"'version' must be a whole number of at least 1 (got {_kind(version)})", doc.mark_of("version")
        )
        version = 1
    label = check.label(doc, "label", "the flow", required=False) or Label(en=name, zh=name)
    roles = frozenset(check.names(doc, "roles", "the flow"))

    fields, _ = _named_section(check, doc, "fields", "field", check.field)
    states, state_marks = _named_section(check, doc, "states", "state", check.state)
    starts = _transitions(check, doc, "start", start=True)
    transitions = _transitions(check, doc, "transitions", start=False)
    invariants = _invariants(check, doc)

    check_meaning(
        problems,
        doc=doc,
        declared=declared,
        params=params,
        fields=fields,
        states=states,
        state_marks=state_marks,
        starts=[t for t, _ in starts],
        transitions=[t for t, _ in transitions],
        marks={id(t): m for t, m in (*starts, *transitions)},
    )
    written = doc.get("transitions")
    events = (
        {e["event"] for e in written if isinstance(e, MarkedDict) and isinstance(e.get("event"), str)}
        if isinstance(written, list)
        else set()
    )
    check_deadlines(problems, states, [t for t, _ in transitions], fields, check.deadline_marks, events)
    problems.raise_if_any()
    # The Flow freezes (deep-copies) its definition; a shallow copy to set the brand is enough here.
    definition = {key: value for key, value in doc.items() if key != "brand"}
    if brand is not None:
        definition["brand"] = brand
    return Flow(
        name=name,
        version=version,
        label=label,
        brand=brand,
        description=check.text(doc, "description", "the flow"),
        roles=roles,
        params=params,
        fields=fields,
        states=states,
        starts=tuple(t for t, _ in starts),
        transitions=tuple(t for t, _ in transitions),
        invariants=tuple(invariants),
        source=source,
        content_hash=content_hash(definition),
        definition=definition,
    )


_T = TypeVar("_T")


def _named_section(
    check: ShapeChecker,
    doc: MarkedDict,
    key: str,
    what: str,
    build: Callable[[str, Any, Mark], _T | None],
) -> tuple[dict[str, _T], dict[str, Mark]]:
    """Build each entry of a ``name: definition`` section, with the marks of the names."""
    built: dict[str, _T] = {}
    marks: dict[str, Mark] = {}
    section = check.mapping(doc[key], f"'{key}'", doc.mark_of(key)) if key in doc else None
    for name, value in (section or {}).items():
        assert section is not None
        if not _is_name(name):
            check.shape(f"{what} name {name!r} must be snake_case", section.key_mark(name))
            continue
        item = build(name, value, section.mark_of(name))
        if item is not None:
            built[name] = item
            marks[name] = section.key_mark(name)
    return built, marks


def _invariants(check: ShapeChecker, doc: MarkedDict) -> list[Guard]:
    if "invariants" not in doc:
        return []
    items = check.sequence(doc["invariants"], "'invariants'", doc.mark_of("invariants"))
    if items is None:
        return []
    guards = [check.guard(item, items.mark_of(index), "invariant") for index, item in enumerate(items)]
    return [guard for guard in guards if guard is not None]


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME.match(value))


def _check_not_empty(check: ShapeChecker, entry: MarkedDict, what: str, *, start: bool) -> None:
    """An empty 'from' or 'roles' would make a transition that can never be taken."""
    sources, roles = entry.get("from"), entry.get("roles")
    if not start and isinstance(sources, MarkedList) and not sources:
        check.shape(f"{what} 'from' must name at least one state", entry.mark_of("from"))
    if isinstance(roles, MarkedList) and not roles:
        check.shape(
            f"{what} 'roles' is empty: nobody could fire it; list at least one role", entry.mark_of("roles")
        )


def _transitions(
    check: ShapeChecker, doc: MarkedDict, key: str, *, start: bool
) -> list[tuple[Transition, MarkedDict]]:
    if key not in doc:
        return []
    items = check.sequence(doc[key], f"'{key}'", doc.mark_of(key))
    if items is None:
        return []
    built: list[tuple[Transition, MarkedDict]] = []
    for index, item in enumerate(items):
        what = "start event" if start else "transition"
        entry = check.mapping(item, f"{what} #{index + 1}", items.mark_of(index))
        if entry is None:
            continue
        event = entry.get("event")
        if isinstance(event, str):
            what = f"{what} {event!r}"
        allowed = {k: v for k, v in TRANSITION_KEYS.items() if not (start and k == "from")}
        required = ("event", "to", "roles") if start else ("event", "from", "to", "roles")
        check.keys(entry, allowed, what, required)
        _check_not_empty(check, entry, what, start=start)
        event_name = check.name(entry, "event", what)
        target = check.name(entry, "to", what)
        sources: tuple[str | None, ...] = (
            (None,) if start else check.names(entry, "from", what, single_ok=True)
        )
        roles = frozenset(check.names(entry, "roles", what))
        requires = check.names(entry, "requires", what)
        accepts = check.names(entry, "accepts", what)
        guard = (
            check.guard(entry["guard"], entry.mark_of("guard"), f"{what} guard") if "guard" in entry else None
        )
        unless = (
            check.guard(entry["unless"], entry.mark_of("unless"), f"{what} unless")
            if "unless" in entry
            else None
        )
        label = check.label(entry, "label", what, required=False)
        setter: dict[str, Any] = {}
        if "set" in entry:
            set_doc = check.mapping(entry["set"], f"{what} 'set'", entry.mark_of("set"))
            setter = thaw(set_doc) if set_doc is not None else {}
        increment = check.names(entry, "increment", what)
        stamp = check.names(entry, "stamp", what)
        starts = _links(check, entry, "starts", what)
        fires = _links(check, entry, "fires", what)
        description = check.text(entry, "description", what)
        if event_name is None or target is None or (not start and not sources):
            continue
        if ("guard" in entry and guard is None) or ("unless" in entry and unless is None):
            continue
        for source in sources:
            transition = Transition(
                event=event_name,
                source=source,
                target=target,
                roles=roles,
                requires=requires,
                accepts=accepts,
                guard=guard,
                unless=unless,
                label=label,
                set=setter,
                increment=increment,
                stamp=stamp,
                starts=starts,
                fires=fires,
                description=description,
                where=str(entry.mark),
            )
            built.append((transition, entry))
    return built


def _links(check: ShapeChecker, entry: MarkedDict, key: str, what: str) -> tuple[Link, ...]:
    """The ``starts`` or ``fires`` of a transition."""
    if key not in entry:
        return ()
    items = check.sequence(entry[key], f"{what} '{key}'", entry.mark_of(key))
    links: list[Link] = []
    for index, item in enumerate(items or []):
        assert items is not None
        where = f"{what} '{key}' #{index + 1}"
        doc = check.mapping(item, where, items.mark_of(index))
        if doc is None:
            continue
        check.keys(doc, LINK_KEYS, where, ("flow", "event"))
        flow = check.name(doc, "flow", where)
        event = check.name(doc, "event", where)
        template = doc.get("id", "{id}/{flow}")
        if not isinstance(template, str) or not template.strip():
            check.shape(f"{where} 'id' must be a text template like '{{id}}-RO'", doc.mark_of("id"))
            continue
        payload = doc.get("payload", MarkedDict())
        if not isinstance(payload, MarkedDict):
            check.shape(f"{where} 'payload' must be a mapping", doc.mark_of("payload"))
            continue
        for name, value in payload.items():
            problem = reference_problem(value)
            if problem:
                check.shape(f"{where} payload {name!r}: {problem}", payload.mark_of(name))
        when = check.guard(doc["when"], doc.mark_of("when"), f"{where} 'when'") if "when" in doc else None
        if flow is None or event is None:
            continue
        links.append(
            Link(
                kind=key.removesuffix("s"),
                flow=flow,
                event=event,
                id=template,
                payload=thaw(payload),
                when=when,
                where=str(doc.mark),
            )
        )
    return tuple(links)
