"""Hypothesis strategies for any loaded flow: actors, payloads, commands, event walks.

Like the values they are made of (``_testing_values``), most strategies are cached or drawn
from small pools: one choice per actor, one per field value.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
from hypothesis import strategies as st

from aftersales_flow._testing_hints import Hints
from aftersales_flow._testing_judge import judge_branch
from aftersales_flow._testing_values import (
    DEFAULT_NOW,
    draw_good,
    one_in,
    placed,
    spec_of,
    typed,
    values_of,
    wrong_values,
)
from aftersales_flow.model import Flow, Transition
from aftersales_flow.states.deadline import SLA_BREACHED
from aftersales_flow.values import Actor

EXTRA_ROLES = ("customer", "nobody")
"""Roles no shipped flow grants, held by some generated actors."""

UNDECLARED_EVENTS = (SLA_BREACHED, "bogus_event")
"""Events generated besides the flow's own: no person may fire these."""

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


def _example(example: Example, now: datetime) -> Payload:
    if callable(example):
        from aftersales_flow.testing import SimulatedClock

        return dict(example(SimulatedClock(now)))
    return dict(example)


def _draw_fault(draw: st.DrawFn, flow: Flow, branches: Sequence[Transition], payload: Payload) -> Payload:
    """The payload with one fault every branch refuses.

    The fault is a required field missing or blank, a value of the wrong type, or a field the
    event does not take.
    """
    result = dict(payload)
    # A field is required when every branch requires it; a wrong type needs a type to miss.
    required = tuple(sorted(set.intersection(*(set(branch.requires) for branch in branches))))
    retypable = tuple(sorted(name for name in result if not wrong_values(spec_of(flow, name)).is_empty))
    taken = set().union(*(branch.fields for branch in branches))
    others = tuple(sorted(set(flow.fields) - taken)) or ("bogus",)
    faults = ["undeclared"]
    if required:
        faults += ["drop_required", "blank_required"]
    if retypable:
        faults.append("wrong_type")
    fault = draw(st.sampled_from(tuple(faults)))
    if fault == "drop_required":
        result.pop(draw(st.sampled_from(required)), None)
    elif fault == "blank_required":
        result[draw(st.sampled_from(required))] = draw(st.sampled_from((None, "")))
    elif fault == "wrong_type":
        name = draw(st.sampled_from(retypable))
        result[name] = draw(wrong_values(spec_of(flow, name)))
    else:
        name = draw(st.sampled_from(others))
        result[name] = placed(draw(typed(spec_of(flow, name))), DEFAULT_NOW)
    return result


def _draw_branch_payload(
    draw: st.DrawFn, flow: Flow, branch: Transition, now: datetime, hints: Hints | None
) -> Payload:
    """The branch's required fields and about half of its accepted ones."""
    payload: Payload = {}
    for name in branch.requires:
        payload[name] = draw_good(draw, flow, name, now, hints)
    for name in sorted(branch.accepts):
        if draw(st.booleans()):
            payload[name] = draw_good(draw, flow, name, now, hints)
    return payload


_FAULTY = one_in(4)
_EXAMPLE_FIRST = st.sampled_from([True, True, False])


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
    deliberate fault (a required field missing or blank, a wrong type, an undeclared field);
    ``None`` mixes both, one payload in four being faulty.
    """
    return _draw_payload(
        draw, flow, event, state=state, now=now or DEFAULT_NOW, hints=hints, examples=examples, faults=faults
    )


def _draw_payload(
    draw: st.DrawFn,
    flow: Flow,
    event: str,
    *,
    state: str | None,
    now: datetime,
    hints: Hints | None,
    examples: Examples | None,
    faults: bool | None,
) -> Payload:
    moment = now
    branches = flow.branches(state, event)
    if not branches:
        names = draw(
            st.lists(st.sampled_from(tuple(sorted(flow.fields)) or ("bogus",)), max_size=2, unique=True)
        )
        return {name: placed(draw(typed(spec_of(flow, name))), moment) for name in names}
    known = tuple((examples or {}).get(event, ()))
    if len(known) > 0 and draw(_EXAMPLE_FIRST):
        payload = _example(draw(st.sampled_from(known)), moment)
    else:
        branch = branches[draw(st.integers(0, len(branches) - 1))]
        payload = _draw_branch_payload(draw, flow, branch, moment, hints)
    broken = faults if faults is not None else draw(_FAULTY)
    return _draw_fault(draw, flow, branches, payload) if broken else payload


_MISSING = object()


def _draw_tuned(
    draw: st.DrawFn,
    flow: Flow,
    branch: Transition,
    payload: Payload,
    *,
    data: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    hints: Hints | None,
) -> tuple[Payload, int]:
    """The payload changed field by field, keeping each change that lets fewer guards fail.

    Each accepted field may be left out, take a value mined from the guards, or one drawn value
    of its type. The rules decide: a custom rule without a hint holds when a drawn value
    happens to satisfy it. Returns the payload and how many reasons are left.
    """
    values = values_of(flow, hints)
    options: dict[str, list[Any]] = {}
    for name in sorted(branch.fields):
        spec = spec_of(flow, name)
        drawn = placed(draw(typed(spec)), now)
        options[name] = [
            *([] if name in branch.requires else [_MISSING]),
            *values.candidates(spec, now),
            drawn,
        ]

    def score(trial: Payload) -> int:
        missing = sum(1 for name in branch.requires if trial.get(name) in (None, ""))
        verdict = judge_branch(
            flow, branch, data=data, payload=trial, actor=actor, now=now, instance_id="tuning"
        )
        return verdict.count + missing

    best, least = dict(payload), score(payload)
    for _ in range(2):
        for name, choices in options.items():
            if least == 0:
                return best, least
            for choice in choices:
                trial = dict(best)
                if choice is _MISSING:
                    trial.pop(name, None)
                else:
                    trial[name] = choice
                found = score(trial)
                if found < least:
                    best, least = trial, found
                    if least == 0:
                        return best, least
    return best, least


def _exits(flow: Flow) -> frozenset[tuple[str, str]]:
    """Ways out: ``(event, final state)`` pairs taken from a state the flow starts in and two more."""
    final, starts = flow.terminal_states, {start.target for start in flow.starts}
    sources: dict[tuple[str, str], set[str | None]] = {}
    for transition in flow.transitions:
        if transition.target in final:
            sources.setdefault((transition.event, transition.target), set()).add(transition.source)
    return frozenset(pair for pair, found in sources.items() if len(found) >= 3 and found & starts)


def _draw_tuned_actor(
    draw: st.DrawFn,
    flow: Flow,
    branch: Transition,
    payload: Payload,
    *,
    data: Mapping[str, Any],
    actor: Actor,
    now: datetime,
) -> tuple[Actor, int]:
    """Another actor holding one of the branch's roles, when one lets fewer guards fail.

    Some guards read who acts (a complaint is handled by the participants of its current level,
    a subset of the event's roles): after the payload is tuned, the actors holding one role of
    the branch each are tried, from a drawn one on, and the first that lets fewer guards fail
    is taken. Returns the actor and how many reasons are left.
    """

    def score(who: Actor) -> int:
        verdict = judge_branch(
            flow, branch, data=data, payload=payload, actor=who, now=now, instance_id="tuning"
        )
        missing = sum(1 for name in branch.requires if payload.get(name) in (None, ""))
        return verdict.count + missing

    least = score(actor)
    single = [Actor(f"{role}-1", roles={role}) for role in sorted(branch.roles)]
    first = draw(st.integers(0, len(single) - 1)) if len(single) > 1 else 0
    for other in single[first:] + single[:first]:
        found = score(other)
        if found < least:
            return other, found
    return actor, least


def _anyone_pool(pool: tuple[str, ...]) -> list[Actor]:
    """Actors with no role, one role, or two (the pool's roles, unknown ones included)."""
    found = [Actor("staff-0")]
    found += [Actor(f"staff-{n}", roles={role}) for n, role in enumerate(pool, 1)]
    found += [Actor(f"staff-{n}x", roles={a, b}) for n, (a, b) in enumerate(itertools.pairwise(pool), 1)]
    return found


def _holder_pool(roles: tuple[str, ...], pool: tuple[str, ...]) -> list[Actor]:
    """Actors holding one of ``roles``, some with another role of the pool besides."""
    found = [Actor(f"{role}-1", roles={role}) for role in roles]
    found += [Actor(f"{role}-2", roles={role, other}) for role in roles for other in pool[-2:]]
    return found


@functools.cache
def _anyone(pool: tuple[str, ...]) -> st.SearchStrategy[Actor]:
    return st.sampled_from(_anyone_pool(pool))


@functools.cache
def _holders(roles: tuple[str, ...], pool: tuple[str, ...]) -> st.SearchStrategy[Actor]:
    return st.sampled_from(_holder_pool(roles, pool))


@functools.cache
def _outsiders(roles: tuple[str, ...], pool: tuple[str, ...]) -> st.SearchStrategy[Actor]:
    """Actors holding none of ``roles``: a command good in every other way must still be refused."""
    return st.sampled_from([actor for actor in _anyone_pool(pool) if not actor.roles & set(roles)])


_OUTSIDER = one_in(6)


@functools.cache
def _mostly_holders(roles: tuple[str, ...], pool: tuple[str, ...]) -> st.SearchStrategy[Actor]:
    # One choice from a pool where holders are three times as likely as anyone else.
    holders, anyone = _holder_pool(roles, pool), _anyone_pool(pool)
    weight = max(1, 3 * len(anyone) // len(holders))
    return st.sampled_from(holders * weight + anyone)


def actors(
    flow: Flow,
    *,
    roles: Sequence[str] | frozenset[str] | None = None,
    extra_roles: Sequence[str] = EXTRA_ROLES,
) -> st.SearchStrategy[Actor]:
    """Actors holding none, some or unknown roles; with ``roles``, mostly actors holding one of them."""
    pool = (*sorted(flow.roles), *extra_roles)
    if not roles:
        return _anyone(pool)
    return _mostly_holders(tuple(sorted(roles)), pool)


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
    data: Mapping[str, Any] | None = None,
) -> Command:
    """A command on an instance in ``state`` (``None``: not started, so start events).

    Events possible from the state are drawn most often, then any event of the flow and events
    no one may fire. With ``likely=True`` the command aims at acceptance: a possible event, an
    actor holding a role of one of its branches (one time in six an actor who does not, so
    that a command good in every other way meets the role check), a payload without deliberate
    faults and, when the instance's ``data`` is given, tuned so that as few of the branch's
    guards fail as the mined and drawn values allow.
    """
    return draw_command(
        draw,
        flow,
        state=state,
        now=now or DEFAULT_NOW,
        hints=hints,
        examples=examples,
        likely=likely,
        data=data,
    )


def draw_command(
    draw: st.DrawFn,
    flow: Flow,
    *,
    state: str | None,
    now: datetime,
    hints: Hints | None,
    examples: Examples | None,
    likely: bool,
    data: Mapping[str, Any] | None,
    visited: Collection[str] = (),
) -> Command:
    """:func:`commands` as a function of a draw, for composite strategies that build many.

    A likely command tries branches into states not in ``visited`` first (final states last
    among them), half of the time, and ways out from almost anywhere (a withdrawal, a
    cancellation) into a state already visited after every other branch; when a guard still
    fails, another actor holding one of the branch's roles may be taken (guards that read who
    acts).
    """
    moment = now
    declared = tuple(flow.events_from(state))
    pool = (*sorted(flow.roles), *EXTRA_ROLES)
    if likely and declared:
        # Up to three of the state's branches, in a drawn order: the first whose guards the
        # tuned payload satisfies is taken (else the last), so deep states are reached.
        choices = [(event, branch) for event in declared for branch in flow.branches(state, event)]
        order = draw(st.permutations(range(len(choices))))
        final, exits = flow.terminal_states, _exits(flow)
        if len(visited) > 0 and draw(st.booleans()):
            # New states first, final ones last among them: a final state ends the instance.
            order = sorted(
                order, key=lambda n: (choices[n][1].target in visited, choices[n][1].target in final)
            )
        # A way out from almost anywhere (withdraw, cancel) whose state was seen goes last: taken
        # again and again, it ends most instances before they reach the deep states.
        order = sorted(
            order,
            key=lambda n: (choices[n][0], choices[n][1].target) in exits and choices[n][1].target in visited,
        )
        order = order[:3]
        for position, index in enumerate(order):
            event, branch = choices[index]
            allowed = tuple(sorted(branch.roles))
            outsider = draw(_OUTSIDER)
            actor = draw(_outsiders(allowed, pool) if outsider else _holders(allowed, pool))
            known = tuple((examples or {}).get(event, ()))
            if len(known) > 0 and draw(_EXAMPLE_FIRST):
                payload = _example(draw(st.sampled_from(known)), moment)
            else:
                payload = _draw_branch_payload(draw, flow, branch, moment, hints)
            if data is None:
                break
            payload, left = _draw_tuned(
                draw, flow, branch, payload, data=data, actor=actor, now=moment, hints=hints
            )
            if left > 0 and not outsider:
                actor, left = _draw_tuned_actor(
                    draw, flow, branch, payload, data=data, actor=actor, now=moment
                )
            if left == 0 or position == len(order) - 1:
                break
        return Command(event=event, actor=actor, payload=payload)
    if declared and not draw(one_in(4)):
        event = draw(st.sampled_from(declared))
    else:
        event = draw(st.sampled_from((*flow.events, *UNDECLARED_EVENTS)))
    roles = frozenset().union(*(branch.roles for branch in flow.branches(state, event)))
    actor = draw(actors(flow, roles=roles))
    payload = _draw_payload(
        draw, flow, event, state=state, now=moment, hints=hints, examples=examples, faults=None
    )
    return Command(event=event, actor=actor, payload=payload)


@st.composite
def event_sequences(draw: st.DrawFn, flow: Flow, *, max_size: int = 20) -> list[str]:
    """Event names along a walk of the flow's graph from a start event (guards ignored).

    About one event in ten is drawn from all events instead (one the state may not declare),
    and the walk stays where it was; a walk ending in a final state sometimes adds one more.
    """
    state: str | None = None
    found: list[str] = []
    anything = st.sampled_from((*flow.events, *UNDECLARED_EVENTS))
    while len(found) < max_size:
        declared = tuple(flow.events_from(state))
        if not declared:
            if draw(st.booleans()):
                found.append(draw(anything))
            break
        if draw(one_in(10)):
            found.append(draw(anything))
            continue
        event = draw(st.sampled_from(declared))
        found.append(event)
        branches = flow.branches(state, event)
        state = branches[draw(st.integers(0, len(branches) - 1))].target
    return found
