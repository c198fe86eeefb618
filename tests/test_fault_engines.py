"""A test of the tests: engines with one deliberate fault each are caught by the property suite.

Each engine below breaks one promise the way a real bug would. The state machine of
``aftersales_flow.testing`` runs on shipped flows, derandomized so that every run finds the
same failure, and must raise a :class:`FlowPropertyViolation` naming the broken promise.
Shrinking is skipped: finding the fault is the point, and a shrunk report takes longer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings

import aftersales_flow as af
from aftersales_flow.engine import _Command, _Decision
from aftersales_flow.store import Head, StoreTransaction
from aftersales_flow.testing import FlowPropertyViolation, check_flow
from conftest import FLOWS

FIND = settings(
    max_examples=200,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
"""Enough runs to find each fault many times over; the first failure ends the search."""


def _unguarded(flow: af.Flow) -> af.Flow:
    def strip(transition: af.Transition) -> af.Transition:
        return attrs.evolve(transition, guard=None, unless=None)

    return attrs.evolve(
        flow,
        starts=tuple(map(strip, flow.starts)),
        transitions=tuple(map(strip, flow.transitions)),
        invariants=(),
    )


class IgnoresGuards(af.Engine):
    """Decides as if no transition had a guard, an ``unless`` or an invariant."""

    def _evaluate(
        self, flow: af.Flow, source: str | None, data: Mapping[str, Any], command: _Command
    ) -> _Decision:
        return super()._evaluate(_unguarded(flow), source, data, command)


class SkipsRoleCheck(af.Engine):
    """Decides as if the actor held every role of the flow (the audit still names the real actor)."""

    def _evaluate(
        self, flow: af.Flow, source: str | None, data: Mapping[str, Any], command: _Command
    ) -> _Decision:
        actor = command.actor
        widened = af.Actor(actor.id, roles=actor.roles | flow.roles, channel=actor.channel)
        return super()._evaluate(flow, source, data, attrs.evolve(command, actor=widened))


class MovesOnRefusal(af.Engine):
    """Audits a refusal, then moves the instance to where the refused event would have gone."""

    def _execute(
        self,
        tx: StoreTransaction,
        start_flow: af.Flow | None,
        command: _Command,
        decision: _Decision | None = None,
    ) -> tuple[af.Step, af.TransitionRefused | None]:
        step, refused = super()._execute(tx, start_flow, command, decision)
        head = tx.head(command.instance_id)
        if refused is not None and head is not None:
            branches = self.flows[head.flow].branches(head.state, command.event)
            targets = [b.target for b in branches if b.target != head.state]
            if targets:
                tx.put_head(attrs.evolve(head, state=targets[0]))
        return step, refused


class SkipsAVersion(af.Engine):
    """Numbers an instance's second accepted event 3 (and counts on from there)."""

    def _row(self, decision: _Decision, head: Head | None, command: _Command) -> dict[str, Any]:
        row = super()._row(decision, head, command)
        if row["version"] is not None and row["version"] >= 2:
            row["version"] += 1
        return row


FAULTS = [
    pytest.param(IgnoresGuards, {"guard", "unless", "invariant", "branch_order"}, id="guard-ignored"),
    pytest.param(SkipsRoleCheck, {"role"}, id="role-check-skipped"),
    pytest.param(MovesOnRefusal, {"refusal"}, id="refusal-moves-state"),
    pytest.param(SkipsAVersion, {"version"}, id="version-skipped"),
]


@pytest.mark.parametrize("flow", ["repair_order", "appointment"])
@pytest.mark.parametrize(("engine", "promises"), FAULTS)
def test_property_suite_catches_the_faulty_engine(
    engine: type[af.Engine], promises: set[str], flow: str
) -> None:
    """The state machine finds the engine's fault and names the promise it breaks."""
    flows = af.load_flows(FLOWS)
    with pytest.raises(FlowPropertyViolation) as caught:
        check_flow(flows, flow, engine=engine, settings=FIND)
    assert caught.value.prop in promises, str(caught.value)


def test_faulty_engines_really_are_faulty(clock: Any) -> None:
    """Outside the suite too, each engine has its fault (so the suite's catch is no accident)."""
    flows = af.load_flows(FLOWS)
    advisor, nobody = af.Actor("sa-1", roles={"service_advisor"}), af.Actor("nobody")
    opening = {"customer": {"name": "Li Wei"}, "vehicle": {"vin": "LFV1"}}

    def opened(engine: type[af.Engine], store: af.SQLiteStore, actor: af.Actor = advisor) -> af.Engine:
        running = engine(flows, store, clock)
        running.start("repair_order", "RO-1", event="open_walk_in", actor=actor, payload=opening)
        return running

    with af.SQLiteStore(":memory:") as store:
        assert opened(IgnoresGuards, store).fire("RO-1", "complete_check_in", actor=advisor).accepted
    with af.SQLiteStore(":memory:") as store:
        assert opened(SkipsRoleCheck, store, nobody).instance("RO-1").state == "checking_in"
    with af.SQLiteStore(":memory:") as store:
        moving = opened(MovesOnRefusal, store)
        with pytest.raises(af.PayloadRejected):
            moving.fire("RO-1", "authorize_diagnosis", actor=advisor)
        assert (moving.instance("RO-1").state, moving.instance("RO-1").version) == ("diagnosing", 1)
    with af.SQLiteStore(":memory:") as store:
        skipping = opened(SkipsAVersion, store)
        skipping.fire("RO-1", "cancel", actor=advisor, payload={"cancel_reason": "no_show"})
        assert [e.version for e in skipping.history("RO-1") if e.accepted] == [1, 3]


def test_a_caught_fault_is_reported_as_a_short_run() -> None:
    """Shrinking turns the failing run into the few commands that show the fault, plan by plan."""
    flows = af.load_flows(FLOWS)
    shrinking = settings(FIND, phases=[Phase.generate, Phase.shrink])
    with pytest.raises(FlowPropertyViolation) as caught:
        check_flow(flows, "repair_order", engine=SkipsAVersion, settings=shrinking)
    steps = [line for line in getattr(caught.value, "__notes__", []) if line.startswith("state.")]
    commands = [line for line in steps if "_event(" in line or "start_instance(" in line]
    assert len(commands) == 2, "\n".join(caught.value.__notes__)
