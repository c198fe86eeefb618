"""Property tests: random command sequences on the repair order never let an illegal event through."""

from __future__ import annotations

from typing import Any

from hypothesis import event as note_event
from hypothesis import given
from hypothesis import strategies as st

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS
from repair_order_steps import HAPPY_PATH, SA
from strategies import commands, opening

FLOW_SET = af.load_flows(FLOWS)
FLOW = FLOW_SET["repair_order"]
PATH_EVENTS = [event for event, _, _ in HAPPY_PATH]


def accepted_rows(store: af.SQLiteStore) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.db.execute("SELECT * FROM events WHERE accepted = 1 ORDER BY seq")]


def head_row(store: af.SQLiteStore, instance_id: str) -> tuple[Any, ...] | None:
    found = store.db.execute("SELECT * FROM instances WHERE id = ?", [instance_id]).fetchone()
    return tuple(found) if found else None


@given(steps=st.lists(st.one_of(st.none(), st.none(), commands(FLOW)), min_size=4, max_size=40))
def test_random_sequences_never_accept_an_undeclared_event(steps: list[Any]) -> None:
    """Accepted events are declared from their state, by a permitted role, with the required fields;
    refusals change nothing but the audit log; versions are contiguous; replay equals the head."""
    clock = SimulatedClock()
    with af.SQLiteStore(":memory:") as store:
        engine = af.Engine(FLOW_SET, store, clock=clock)
        engine.start("repair_order", "RO-P", event="open_walk_in", actor=SA, payload=opening())
        path = iter(HAPPY_PATH)
        for command in steps:
            # None means "the next step of the happy path", so that deep states are reached too.
            event, actor, payload_of = command if command is not None else next(path, HAPPY_PATH[-1])
            clock.advance("7m")
            before = engine.instance("RO-P")
            before_rows = accepted_rows(store)
            before_head = head_row(store, "RO-P")
            count = len(engine.history("RO-P"))
            payload = payload_of(clock)
            try:
                step = engine.fire("RO-P", event, actor=actor, payload=payload)
            except af.TransitionRefused as refusal:
                assert refusal.reasons, "a refusal always says why"
                assert head_row(store, "RO-P") == before_head
                assert accepted_rows(store) == before_rows
                history = engine.history("RO-P")
                assert len(history) == count + 1
                assert (history[-1].accepted, history[-1].event) == (False, event)
                continue
            branches = FLOW.branches(before.state, event)
            assert branches, f"{event} accepted from {before.state} where the flow does not declare it"
            chosen = [b for b in branches if b.target == step.target]
            assert chosen, f"{event} went to {step.target}, not a declared target"
            assert actor.roles & chosen[0].roles, "accepted without a permitted role"
            assert all(payload.get(f) not in (None, "") for f in chosen[0].requires)
            assert set(payload) <= chosen[0].fields
            assert not FLOW.states[before.state].terminal
            assert step.version == before.version + 1
            assert engine.instance("RO-P").state == step.target
        note_event(f"ended in {engine.instance('RO-P').state}")
        assert engine.replay("RO-P") == engine.instance("RO-P")
        report = engine.verify()
        assert report.ok, report.problems
        versions = [e.version for e in engine.history("RO-P") if e.accepted]
        assert versions == list(range(1, len(versions) + 1))
