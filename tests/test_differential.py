"""Differential check: random event sequences get the same decisions from python-statemachine.

Each flow is exported to python-statemachine (``differential_export``) with its guards as
conditions over drawn facts; our engine runs the same flow with rules that answer from the
same facts, an actor holding every role and payloads with every required field. At each step
both must accept or both refuse, and end in the same state. A disagreement fails with the
shortest sequence hypothesis finds, written out step by step.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from statemachine import StateChart

import aftersales_flow as af
from aftersales_flow.model import Flow
from aftersales_flow.rules._expr import Explained, Guard, Not, RuleCall
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS
from differential_export import (
    EVENT_PREFIX,
    NOT_STARTED,
    STATE_PREFIX,
    Export,
    FactHolder,
    call_key,
    event_id,
    export,
    fact_rules,
    load_document,
    relevant_facts,
)

CHECKED = [
    pytest.param(None, "repair_order", id="repair_order"),
    pytest.param(None, "appointment", id="appointment"),
    pytest.param(None, "complaint", id="complaint"),
    pytest.param("faw", "repair_order", id="faw-repair_order"),
    pytest.param("baoya", "appointment", id="baoya-appointment"),
]
MAX_STEPS = 60
NO_SUCH_EVENT = "no_such_event"
ACTOR_ID = "differential"
AT = "2026-11-02T09:00:00+00:00"
"""The time every datetime field of a payload holds."""
_VALUES: dict[str, Any] = {
    "string": "text",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "datetime": AT,
    "date": "2026-11-02",
    "list": [],
    "object": {},
    "any": "text",
}
_ids = itertools.count()


def valid_payload(flow: Flow, source: str | None, event: str) -> dict[str, Any]:
    """A payload with every field the event's branches require, each of its declared type."""
    payload: dict[str, Any] = {}
    for branch in flow.branches(source, event):
        for name in branch.requires:
            spec = flow.fields[name]
            value: Any = _VALUES[spec.type]
            if spec.values:
                value = [spec.values[0]] if spec.type == "list" else spec.values[0]
            elif spec.key is not None:
                value = [{spec.key: "K1"}]
            payload[name] = value
    return payload


@attrs.frozen
class Outcome:
    """What one engine did with one event: accepted or not, and the state after it."""

    accepted: bool
    state: str | None
    why: tuple[str, ...] = attrs.field(default=(), eq=False)
    """The reasons of a refusal, when the engine gives them (shown, not compared)."""

    def __str__(self) -> str:
        where = self.state or "(not started)"
        if self.accepted:
            return f"accepted -> {where}"
        because = f" ({'; '.join(self.why)})" if self.why else ""
        return f"refused{because}, stays in {where}"


@attrs.frozen
class Record:
    """One step of a sequence, for the failure message."""

    source: str | None
    event: str
    facts: tuple[tuple[str, bool], ...]
    ours: Outcome
    theirs: Outcome

    def lines(self, number: int) -> list[str]:
        facts = ", ".join(f"{key}={value}" for key, value in self.facts) or "none"
        marker = "" if self.ours == self.theirs else "   <-- differ"
        return [
            f"  {number}. in {self.source or '(not started)'}: {self.event}   facts: {facts}",
            f"       aftersales_flow: {self.ours} | python-statemachine: {self.theirs}{marker}",
        ]


class _Transitions:
    """A python-statemachine listener counting the transitions taken."""

    def __init__(self) -> None:
        self.taken = 0

    def after_transition(self) -> None:
        self.taken += 1


@attrs.frozen
class Harness:
    """One flow loaded with fact rules, and its python-statemachine export."""

    flows: af.FlowSet
    flow: Flow
    holder: FactHolder
    exported: Export

    @classmethod
    def build(cls, brand: str | None, name: str) -> Harness:
        holder = FactHolder(name)
        flows = af.load_flows(FLOWS, brand=brand, rules=fact_rules(holder))
        return cls(flows=flows, flow=flows[name], holder=holder, exported=export(flows[name]))

    def tampered(self, doc: Mapping[str, Any]) -> Harness:
        """The same harness with another python-statemachine document (to plant a difference)."""
        machine = load_document(doc)
        return attrs.evolve(self, exported=attrs.evolve(self.exported, document=doc, machine=machine))


_HARNESSES: dict[tuple[str | None, str], Harness] = {}


def harness(brand: str | None, name: str) -> Harness:
    """The harness of a flow, built once per session."""
    key = (brand, name)
    if key not in _HARNESSES:
        _HARNESSES[key] = Harness.build(brand, name)
    return _HARNESSES[key]


def _theirs_state(machine: StateChart) -> str | None:
    (state,) = [s.id for s in machine.configuration]
    return None if state == NOT_STARTED else state.removeprefix(STATE_PREFIX)


def _ours(engine: af.Engine, h: Harness, instance_id: str, state: str | None, event: str) -> Outcome:
    flow = h.flow
    actor = af.Actor(ACTOR_ID, roles=flow.roles)
    payload = valid_payload(flow, state, event)
    try:
        if state is None:
            step = engine.start(flow.name, instance_id, event=event, actor=actor, payload=payload)
        else:
            step = engine.fire(instance_id, event, actor=actor, payload=payload)
    except (af.GuardRejected, af.IllegalTransition, af.UnknownInstance) as refusal:
        broken = [r for r in refusal.reasons if r.code == "rule_error"]
        assert not broken, f"the harness left a rule without its fact: {broken}"
        return Outcome(accepted=False, state=state, why=tuple(r.code for r in refusal.reasons))
    # Roles and payloads are made valid, so any other refusal is a bug of the harness.
    assert step.target == engine.instance(instance_id).state
    return Outcome(accepted=True, state=step.target)


def _polarities(guard: Guard | None, holds: bool, found: dict[str, bool], params: Mapping[str, Any]) -> None:
    """The value of each fact (first seen wins) that makes ``guard`` hold (or fail, ``holds=False``)."""
    if guard is None:
        return
    if isinstance(guard, RuleCall):
        found.setdefault(call_key(guard, params), holds)
    elif isinstance(guard, Not):
        _polarities(guard.item, not holds, found, params)
    elif isinstance(guard, Explained):
        _polarities(guard.item, holds, found, params)
    else:
        for item in guard.items:
            _polarities(item, holds, found, params)


def favourable_facts(flow: Flow, source: str | None, event: str) -> dict[str, bool]:
    """Facts under which the event's first branch passes (when its guard can pass at all)."""
    found: dict[str, bool] = {}
    for invariant in flow.invariants:
        _polarities(invariant, True, found, flow.params)
    for branch in flow.branches(source, event):
        _polarities(branch.guard, True, found, flow.params)
        _polarities(branch.unless, False, found, flow.params)
    return {key: found[key] for key in relevant_facts(flow, source, event)}


def _weighted_facts(count: int) -> st.SearchStrategy[list[bool]]:
    # Mostly true, so that sequences get deep into the flow; shrinks to all true.
    return st.lists(st.integers(0, 4).map(lambda n: n != 4), min_size=count, max_size=count)


def _events(flow: Flow, state: str | None) -> st.SearchStrategy[str]:
    """Mostly an event that leads on from ``state``, sometimes one that ends the flow or any event."""
    possible = flow.events_from(state)
    onward = [e for e in possible if any(not _ends(flow, b.target) for b in flow.branches(state, e))]
    anything = st.sampled_from([*flow.events, NO_SUCH_EVENT])
    return st.integers(0, 9).flatmap(
        lambda n: (
            st.sampled_from(onward)
            if n < 7 and onward
            else st.sampled_from(possible)
            if n < 9 and possible
            else anything
        )
    )


def _ends(flow: Flow, state: str) -> bool:
    return flow.states[state].terminal


def check_sequence(h: Harness, data: st.DataObject) -> None:
    """Draw an event sequence and facts; both engines decide every step alike."""
    flow, exported, holder = h.flow, h.exported, h.holder
    background = dict(zip(exported.facts, data.draw(_weighted_facts(len(exported.facts))), strict=True))
    length = data.draw(st.integers(1, MAX_STEPS), label="steps")
    listener = _Transitions()
    machine = exported.machine(listeners=[listener])
    instance_id = f"DIFF-{next(_ids)}"
    records: list[Record] = []
    with af.SQLiteStore(":memory:") as store:
        engine = af.Engine(h.flows, store, clock=SimulatedClock())
        state: str | None = None
        for _ in range(length):
            event = data.draw(_events(flow, state), label="event")
            deciding = relevant_facts(flow, state, event)
            if data.draw(st.booleans(), label="facts drawn one by one"):
                drawn = dict(zip(deciding, data.draw(_weighted_facts(len(deciding))), strict=True))
            else:
                drawn = favourable_facts(flow, state, event)
            facts = {**background, **drawn}
            holder.current = facts
            ours = _ours(engine, h, instance_id, state, event)
            taken = listener.taken
            machine.send(event_id(event), **exported.arguments(facts))
            theirs = Outcome(accepted=listener.taken > taken, state=_theirs_state(machine))
            records.append(Record(state, event, tuple(drawn.items()), ours, theirs))
            if ours != theirs:
                lines = [f"{flow.name}: the engines disagree at step {len(records)} of {len(records)}:"]
                for number, record in enumerate(records, 1):
                    lines += record.lines(number)
                raise AssertionError("\n".join(lines))
            state = ours.state


@pytest.mark.parametrize(("brand", "name"), CHECKED)
def test_random_sequences_get_the_same_decisions(brand: str | None, name: str) -> None:
    """Both engines accept or refuse every step of random sequences alike, and agree on the state."""
    h = harness(brand, name)

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check_sequence(h, data)

    run()


def test_every_shipped_flow_exports() -> None:
    """Every shipped flow of every brand loads in python-statemachine, with one state per flow state."""
    for brand in (None, *af.available_brands(FLOWS)):
        holder = FactHolder("")
        for flow in af.load_flows(FLOWS, brand=brand, rules=fact_rules(holder)):
            exported = export(flow)
            states = {s.id for s in exported.machine.states_map.values()}
            assert states == {NOT_STARTED, *(STATE_PREFIX + s for s in flow.states)}
            events = {e.id for e in exported.machine.events}
            assert events == {EVENT_PREFIX + e for e in flow.events}


def _retargeted(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document with the first transition out of the first start's target going elsewhere."""
    changed = copy.deepcopy(dict(doc))
    states = changed["states"]
    first = states[NOT_STARTED]["transitions"][0]["target"]
    moved = states[first]["transitions"][0]
    moved["target"] = next(s for s in states if s not in (NOT_STARTED, moved["target"]))
    return changed


def test_a_planted_difference_is_found_with_the_shortest_sequence() -> None:
    """A transition retargeted in the export only fails the check, shrunk to the two steps reaching it."""
    h = harness(None, "repair_order")
    tampered = h.tampered(_retargeted(h.exported.document))

    @settings(
        max_examples=200,
        derandomize=True,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check_sequence(tampered, data)

    with pytest.raises(AssertionError, match="disagree at step 2 of 2") as failure:
        run()
    assert "<-- differ" in str(failure.value)
