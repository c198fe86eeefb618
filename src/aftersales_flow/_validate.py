"""Meaning layer: names that must exist, and a state graph that makes sense."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from aftersales_flow._problems import Problems, listing, suggest
from aftersales_flow._yaml import Mark, MarkedDict, MarkedList
from aftersales_flow.errors import (
    AmbiguousTransitionError,
    FlowShapeError,
    GraphError,
    UnknownFieldError,
    UnknownRoleError,
    UnknownStateError,
)
from aftersales_flow.model import FieldSpec, Transition
from aftersales_flow.states.state import State


@attrs.frozen(kw_only=True)
class Declared:
    """The role, state and field names a flow declares, whatever the shape of each declaration.

    A name written in a malformed declaration (``roles: service_advisor`` instead of a list, a
    state that is not a mapping) is still declared: its shape error is reported once, not
    again as an unknown name at every use. ``None`` means the declaration is missing or too
    malformed to read names from, and uses of such names are not checked.
    """

    roles: frozenset[str] | None
    states: frozenset[str] | None
    fields: frozenset[str] | None

    @classmethod
    def of(cls, doc: MarkedDict) -> Declared:
        """The names declared in a flow document."""
        return cls(
            roles=_declared(doc, "roles", required=True),
            states=_declared(doc, "states", required=True),
            fields=_declared(doc, "fields", required=False),
        )


def _declared(doc: MarkedDict, key: str, *, required: bool) -> frozenset[str] | None:
    if key not in doc:
        # A missing required section is reported as missing; an optional one declares nothing.
        return None if required else frozenset()
    value = doc[key]
    if isinstance(value, str):
        return frozenset((value,))
    if isinstance(value, MarkedDict | MarkedList):
        return frozenset(name for name in value if isinstance(name, str))
    return None


def _item_mark(entry: MarkedDict, key: str, name: str | None) -> Mark:
    value = entry.get(key)
    if isinstance(value, MarkedList) and name in value:
        return value.mark_of(value.index(name))
    return entry.mark_of(key)


def _what(transition: Transition) -> str:
    return f"start event {transition.event!r}" if transition.is_start else f"transition {transition.event!r}"


def check_meaning(
    problems: Problems,
    *,
    doc: MarkedDict,
    declared: Declared,
    params: Mapping[str, Any],
    fields: Mapping[str, FieldSpec],
    states: Mapping[str, State],
    state_marks: Mapping[str, Mark],
    starts: Sequence[Transition],
    transitions: Sequence[Transition],
    marks: Mapping[int, MarkedDict],
) -> None:
    """Report unknown names, ambiguous branches and graph problems into ``problems``.

    Names are checked against ``declared``; ``fields`` and ``states`` are the well-formed
    declarations, whose types and terminal flags are checked too.
    """
    del params  # parameter references are checked where guards are built
    if "start" in doc and not starts and not problems:
        problems.add(
            FlowShapeError, "the flow needs at least one start event under 'start'", doc.mark_of("start")
        )
    every = [*starts, *transitions]
    for transition in every:
        entry = marks[id(transition)]
        _check_names(problems, transition, entry, declared)
        _check_fields(problems, transition, entry, fields, declared.fields)
        what = _what(transition)
        source_state = states.get(transition.source or "")
        if source_state is not None and source_state.terminal:
            problems.add(
                GraphError,
                f"{what} leaves terminal state {transition.source!r}; a terminal state accepts no event "
                "(remove the transition or make the state non-terminal)",
                _item_mark(entry, "from", transition.source),
            )
    _check_ambiguity(problems, every, marks)
    if states and not problems.errors:
        _check_graph(problems, doc, states, state_marks, starts, transitions)


def _check_names(problems: Problems, transition: Transition, entry: MarkedDict, declared: Declared) -> None:
    """The states and roles a transition names must be declared."""
    what = _what(transition)
    states = declared.states
    if states is not None and transition.source is not None and transition.source not in states:
        problems.add(
            UnknownStateError,
            f"{what} comes from unknown state {transition.source!r}{suggest(transition.source, states)}; "
            f"known states: {listing(states)}",
            _item_mark(entry, "from", transition.source),
        )
    if states is not None and transition.target not in states:
        problems.add(
            UnknownStateError,
            f"{what} targets unknown state {transition.target!r}{suggest(transition.target, states)}; "
            f"known states: {listing(states)}",
            entry.mark_of("to"),
        )
    roles = declared.roles
    if roles is None:
        return
    for role in sorted(transition.roles - roles):
        problems.add(
            UnknownRoleError,
            f"{what} names role {role!r}, which the flow does not declare{suggest(role, roles)}; "
            f"add it to the flow's 'roles' or use one of: {listing(roles)}",
            _item_mark(entry, "roles", role),
        )


def _check_fields(
    problems: Problems,
    transition: Transition,
    entry: MarkedDict,
    fields: Mapping[str, FieldSpec],
    declared: frozenset[str] | None,
) -> None:
    what = _what(transition)
    known = declared if declared is not None else frozenset(fields)
    for key in ("requires", "accepts", "increment", "stamp"):
        for name in getattr(transition, key):
            if declared is not None and name not in declared:
                problems.add(
                    UnknownFieldError,
                    f"{what} '{key}' names field {name!r}, which the flow does not declare"
                    f"{suggest(name, known)}; declare it under 'fields' or use one of: {listing(known)}",
                    _item_mark(entry, key, name),
                )
            elif name not in fields:
                continue  # declared, but malformed: its shape error says what is wrong
            elif key == "increment" and fields[name].type not in ("integer", "number"):
                problems.add(
                    UnknownFieldError,
                    f"{what} increments {name!r}, which is a {fields[name].type} field; "
                    "declare it as integer",
                    _item_mark(entry, key, name),
                )
            elif key == "stamp" and fields[name].type not in ("datetime", "any"):
                problems.add(
                    UnknownFieldError,
                    f"{what} stamps {name!r} with the time, but it is a {fields[name].type} field; "
                    "declare it as datetime",
                    _item_mark(entry, key, name),
                )
    set_doc = entry.get("set")
    for name in transition.set:
        if declared is not None and name not in declared:
            at = set_doc.key_mark(name) if isinstance(set_doc, MarkedDict) else entry.mark_of("set")
            problems.add(
                UnknownFieldError,
                f"{what} 'set' names field {name!r}, which the flow does not declare{suggest(name, known)}; "
                f"declare it under 'fields' or use one of: {listing(known)}",
                at,
            )


def _check_ambiguity(
    problems: Problems, transitions: Sequence[Transition], marks: Mapping[int, MarkedDict]
) -> None:
    groups: dict[tuple[str | None, str], list[Transition]] = {}
    for transition in transitions:
        groups.setdefault((transition.source, transition.event), []).append(transition)
    for (source, event), branches in groups.items():
        if len(branches) < 2:
            continue
        origin = "as a start event" if source is None else f"from state {source!r}"
        seen: dict[str, Transition] = {}
        for index, branch in enumerate(branches):
            entry = marks[id(branch)]
            unguarded = branch.guard is None and branch.unless is None
            if unguarded and index < len(branches) - 1:
                problems.add(
                    AmbiguousTransitionError,
                    f"event {event!r} has {len(branches)} branches {origin}, and this one (to "
                    f"{branch.target!r}) has no guard, so the branches after it could never be taken; "
                    "give each branch a guard that tells them apart, or keep the unguarded one last",
                    entry.mark,
                )
            key = repr((branch.guard, branch.unless))
            if not unguarded and key in seen:
                other = seen[key]
                problems.add(
                    AmbiguousTransitionError,
                    f"event {event!r} has two branches {origin} with the same guard (to "
                    f"{other.target!r} and to {branch.target!r}); give each branch a guard that tells "
                    "them apart",
                    entry.mark,
                )
            seen[key] = branch


def _closure(seeds: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    """Every state reachable from ``seeds`` along ``edges`` (seeds included)."""
    reached = set(seeds)
    frontier = list(reached)
    while frontier:
        for nxt in edges[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    return reached


def _check_graph(
    problems: Problems,
    doc: MarkedDict,
    states: Mapping[str, State],
    state_marks: Mapping[str, Mark],
    starts: Sequence[Transition],
    transitions: Sequence[Transition],
) -> None:
    outgoing: dict[str, set[str]] = {name: set() for name in states}
    incoming: dict[str, set[str]] = {name: set() for name in states}
    for transition in transitions:
        if transition.source is not None:
            outgoing[transition.source].add(transition.target)
            incoming[transition.target].add(transition.source)
    reached = _closure((t.target for t in starts), outgoing)
    terminals = {name for name, state in states.items() if state.terminal}
    for name, state in states.items():
        if name not in reached:
            problems.add(
                GraphError,
                f"state {name!r} cannot be reached from any start event; add a transition into it or "
                "remove it",
                state_marks[name],
            )
        elif not state.terminal and not outgoing[name]:
            problems.add(
                GraphError,
                f"state {name!r} is not terminal but has no way out; add a transition from it or mark "
                "it 'terminal: true'",
                state_marks[name],
            )
    if not terminals & reached:
        problems.add(
            GraphError,
            "no terminal state can be reached; mark the final states with 'terminal: true'",
            doc.key_mark("states"),
        )
        return
    # States from which no terminal state can ever be reached trap an instance forever.
    can_finish = _closure(terminals, incoming)
    for name in sorted(reached - can_finish):
        if outgoing[name]:
            problems.add(
                GraphError,
                f"state {name!r} can never lead to a terminal state; add a way out of its loop",
                state_marks[name],
            )
