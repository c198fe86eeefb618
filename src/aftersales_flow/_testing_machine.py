"""A hypothesis state machine that runs random commands on a flow and checks every promise.

Each command's new audit events go to the :class:`~aftersales_flow._testing_judge.Judge`,
which checks them against the flow definition alone; then the machine compares the engine's
heads, deadlines and replays with the judge's model, and checks that refusals change nothing
but the audit log, that retried commands write nothing, and that ``verify()`` stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from aftersales_flow import errors
from aftersales_flow._testing_hints import Hints
from aftersales_flow._testing_judge import FlowPropertyViolation, Judge
from aftersales_flow._testing_strategies import Command, Examples, draw_command
from aftersales_flow._testing_values import one_in
from aftersales_flow._time import Clock, parse_duration
from aftersales_flow.engine import Engine
from aftersales_flow.model import Flow, FlowSet
from aftersales_flow.sqlite_store import SQLiteStore
from aftersales_flow.states.deadline import UNITS, Deadline, resolve
from aftersales_flow.store import Store
from aftersales_flow.values import AuditEvent, Instance, Step

EngineFactory = Callable[[FlowSet, Store, Clock], Engine]
"""Makes the engine under test from the flows, a store and a clock (``af.Engine`` itself will do)."""

UNKNOWN_ID = "no-such-instance"
"""The id commands are now and then fired at, which no instance has."""

_DAY = 86400
_WAITS = st.sampled_from((0, 0, 60, 600, 1800))


def deadline_durations(flow: Flow) -> list[int]:
    """The seconds after which the flow's state-entry deadlines fall due, each once, sorted."""
    found: set[int] = set()
    for state in flow.states.values():
        for spec in state.deadlines:
            value = resolve(spec.after, flow.params)
            try:
                if spec.unit is not None and isinstance(value, int | float) and not isinstance(value, bool):
                    seconds = value * UNITS[spec.unit]
                else:
                    seconds = parse_duration(value).total_seconds() if value is not None else 0
            except (ValueError, KeyError):
                continue
            if 0 < seconds < 400 * _DAY:
                found.add(int(seconds))
    return sorted(found)


@attrs.frozen(kw_only=True)
class Plan:
    """What one rule of the machine does: wait, then send a command to an instance."""

    instance_id: str
    command: Command
    wait: int = 0
    """Seconds the clock moves before the command."""
    expected_version: int | None = None
    keyed: bool = False
    """Send the command with a fresh idempotency key."""
    retry: bool = False
    """Send the keyed command a second time, at once."""


def flow_machine(
    flows: FlowSet,
    flow: str | Flow,
    *,
    examples: Examples | None = None,
    hints: Hints | None = None,
    engine: EngineFactory | None = None,
    instances: int = 2,
    start: datetime | None = None,
) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` that property-tests ``flow`` of ``flows`` on a fresh engine.

    Its rules start up to ``instances`` instances, fire generated commands at them (most often
    events possible from their state, by actors holding the event's roles, with payloads mined
    from the guards or taken from ``examples``, sometimes with deliberate faults), retry keyed
    commands, and move a simulated clock (from ``start``) to tick deadlines. After each rule it
    checks the promises listed in docs/testing.md and raises :class:`FlowPropertyViolation`
    naming the one broken. ``engine`` makes the engine under test (default: ``af.Engine``).
    Run it with :func:`check_flow`, or collect its ``TestCase`` with pytest or unittest.
    """
    from aftersales_flow.testing import SimulatedClock

    tested = flows[flow] if isinstance(flow, str) else flow
    make = engine or Engine
    ids = [f"{tested.name}-{n}" for n in range(1, instances + 1)]
    ticks = deadline_durations(tested)
    waits = st.one_of(st.sampled_from((60, 3600, _DAY, 3 * _DAY, *ticks)), st.integers(0, 2 * _DAY))

    def command_for(
        draw: st.DrawFn,
        flow: Flow,
        head: Instance | None,
        now: datetime,
        visited: frozenset[tuple[str, str]],
        *,
        likely: bool,
    ) -> Command:
        return draw_command(
            draw,
            flow,
            state=head.state if head is not None else None,
            now=now,
            hints=hints,
            examples=examples,
            likely=likely,
            data=head.data if head is not None else {},
            visited={state for name, state in visited if name == flow.name},
        )

    @st.composite
    def start_plans(
        draw: st.DrawFn, heads: Mapping[str, Instance], now: datetime, visited: frozenset[tuple[str, str]]
    ) -> Plan:
        free = [i for i in ids if i not in heads]
        taken = [i for i in ids if i in heads]
        reuse = len(taken) > 0 and draw(one_in(10))
        instance_id = draw(st.sampled_from(taken if reuse else free))
        wait = draw(_WAITS)
        likely = not draw(one_in(4))
        command = command_for(draw, tested, None, now + timedelta(seconds=wait), visited, likely=likely)
        keyed = draw(one_in(5))
        return Plan(
            instance_id=instance_id,
            command=command,
            wait=wait,
            keyed=keyed,
            retry=keyed and draw(st.booleans()),
        )

    @st.composite
    def fire_plans(
        draw: st.DrawFn,
        heads: Mapping[str, Instance],
        now: datetime,
        visited: frozenset[tuple[str, str]],
        likely: bool | None,
    ) -> Plan:
        known = sorted(heads)
        aimed = draw(st.booleans()) if likely is None else likely
        if aimed:
            # Instances in a final state have nothing possible left; aim at the others.
            known = [i for i in known if flows[heads[i].flow].events_from(heads[i].state)] or known
        unknown = not aimed and draw(one_in(20))
        instance_id = UNKNOWN_ID if unknown else draw(st.sampled_from(known))
        head = heads[known[0] if unknown else instance_id]
        wait = draw(_WAITS)
        command = command_for(
            draw, flows[head.flow], head, now + timedelta(seconds=wait), visited, likely=aimed
        )
        expected = None
        if not aimed:
            expected = draw(st.sampled_from((None, None, None, None, head.version, head.version - 1)))
        keyed = draw(one_in(5))
        return Plan(
            instance_id=instance_id,
            command=command,
            wait=wait,
            expected_version=expected,
            keyed=keyed,
            retry=keyed and draw(st.booleans()),
        )

    class FlowMachine(RuleBasedStateMachine):
        """Random commands on one flow, each outcome checked against the flow definition."""

        def __init__(self) -> None:
            super().__init__()
            self.clock = SimulatedClock(start)
            self.store = SQLiteStore(":memory:")
            self.engine = make(flows, self.store, self.clock)
            self.judge = Judge(flows)
            self.keys = 0
            self.since_tick = 0
            self.visited: set[tuple[str, str]] = set()

        # --- rules -------------------------------------------------------------------------

        @precondition(lambda self: any(i not in self.judge.heads for i in ids))
        @rule(data=st.data())
        def start_instance(self, data: st.DataObject) -> None:
            """Start an instance (now and then on an id that exists already)."""
            plan = data.draw(
                start_plans(dict(self.judge.heads), self.clock(), frozenset(self.visited)), label="plan"
            )
            self._run(
                plan,
                lambda key: self.engine.start(
                    tested.name,
                    plan.instance_id,
                    event=plan.command.event,
                    actor=plan.command.actor,
                    payload=plan.command.payload,
                    idempotency_key=key,
                ),
            )

        @precondition(lambda self: bool(self.judge.heads))
        @rule(data=st.data())
        def fire_event(self, data: st.DataObject) -> None:
            """Fire a generated command: half aim at acceptance, the others are anything, faults included."""
            self._fire(
                data.draw(
                    fire_plans(dict(self.judge.heads), self.clock(), frozenset(self.visited), None),
                    label="plan",
                )
            )

        @precondition(lambda self: bool(self.judge.heads))
        @rule(data=st.data())
        def fire_possible_event(self, data: st.DataObject) -> None:
            """Fire an event possible from the instance's state, aiming at acceptance."""
            self._fire(
                data.draw(
                    fire_plans(dict(self.judge.heads), self.clock(), frozenset(self.visited), True),
                    label="plan",
                )
            )

        @precondition(lambda self: self.since_tick >= 1 and self._pending())
        @rule(seconds=waits)
        def tick(self, seconds: int) -> None:
            """Move the clock on and fire the deadlines that fell due."""
            self.since_tick = 0
            self.clock.advance(seconds)
            due = {d.instance_id for d in self.engine.due()}
            self.engine.tick()
            new = self.judge.follow(self.engine.events_since(self.judge.last_seq, limit=100_000))
            self._settle(due | {e.instance_id for e in new})

        # --- invariants --------------------------------------------------------------------

        @invariant()
        def audit_trail_verifies(self) -> None:
            """``verify()`` finds every chain, version sequence and head sound."""
            report = self.engine.verify()
            if not report.ok:
                problems = "; ".join(str(p) for p in report.problems)
                raise FlowPropertyViolation("verify", f"verify() found: {problems}")

        def teardown(self) -> None:
            self.store.close()

        # --- helpers -----------------------------------------------------------------------

        def _pending(self) -> bool:
            return any(d.status == "pending" for d in self.store.pending_deadlines())

        def _fire(self, plan: Plan) -> None:
            head = self.judge.heads.get(plan.instance_id)
            step = self._run(
                plan,
                lambda key: self.engine.fire(
                    plan.instance_id,
                    plan.command.event,
                    actor=plan.command.actor,
                    payload=plan.command.payload,
                    expected_version=plan.expected_version,
                    idempotency_key=key,
                ),
            )
            stale = head is not None and plan.expected_version not in (None, head.version)
            if step is not None and stale:
                raise FlowPropertyViolation(
                    "expected_version",
                    f"'{plan.command.event}' was accepted with expected_version {plan.expected_version}; "
                    f"the instance was at version {head.version if head else 0}",
                    instance_id=plan.instance_id,
                )

        def _run(self, plan: Plan, call: Callable[[str | None], Step]) -> Step | None:
            """Run one command and check its outcome; retry it at once when the plan says so."""
            self.since_tick += 1
            self.clock.advance(plan.wait)
            key: str | None = None
            if plan.keyed:
                self.keys += 1
                key = f"key-{self.keys}"
            deadlines = self.store.pending_deadlines(plan.instance_id)
            links = self.store.links(plan.instance_id)
            try:
                step: Step | None = call(key)
                refusal: errors.TransitionRefused | None = None
            except errors.TransitionRefused as exc:
                step, refusal = None, exc
            new = self.judge.follow(self.engine.events_since(self.judge.last_seq, limit=100_000))
            if refusal is not None:
                self._refused(plan, refusal, new, deadlines, links)
            else:
                assert step is not None
                self._accepted(plan, step, new)
            self._settle({plan.instance_id, *(e.instance_id for e in new)})
            if key is not None and plan.retry:
                self._retry(plan, call, key, step, refusal)
            return step

        def _accepted(self, plan: Plan, step: Step, new: Sequence[AuditEvent]) -> None:
            first = new[0] if new else None
            if first is None or (first.instance_id, first.event, first.accepted) != (
                plan.instance_id,
                plan.command.event,
                True,
            ):
                raise FlowPropertyViolation(
                    "audit",
                    f"'{plan.command.event}' was accepted but its audit event is not the first new one",
                    instance_id=plan.instance_id,
                )
            if (step.version, step.target, step.seq) != (first.version, first.target, first.seq):
                raise FlowPropertyViolation(
                    "audit", f"the step {step!r} differs from its audit event", instance_id=plan.instance_id
                )

        def _refused(
            self,
            plan: Plan,
            refusal: errors.TransitionRefused,
            new: Sequence[AuditEvent],
            deadlines: list[Deadline],
            links: list[Mapping[str, Any]],
        ) -> None:
            event, instance_id = plan.command.event, plan.instance_id
            if not refusal.reasons:
                raise FlowPropertyViolation(
                    "refusal", f"'{event}' was refused without a reason", instance_id=instance_id
                )
            if len(new) != 1 or new[0].accepted or new[0].instance_id != instance_id:
                raise FlowPropertyViolation(
                    "refusal",
                    f"refusing '{event}' wrote {len(new)} audit events, not one refused event",
                    instance_id=instance_id,
                )
            self.judge.check_head(instance_id, self._instance(instance_id), prop="refusal")
            if (self.store.pending_deadlines(instance_id), self.store.links(instance_id)) != (
                deadlines,
                links,
            ):
                raise FlowPropertyViolation(
                    "refusal",
                    f"refusing '{event}' changed the instance's deadlines or links",
                    instance_id=instance_id,
                )

        def _retry(
            self,
            plan: Plan,
            call: Callable[[str | None], Step],
            key: str,
            step: Step | None,
            refusal: errors.TransitionRefused | None,
        ) -> None:
            try:
                again: Step | None = call(key)
                second: errors.TransitionRefused | None = None
            except errors.TransitionRefused as exc:
                again, second = None, exc
            if refusal is None:
                same = again == step
            else:
                same = (
                    second is not None and type(second) is type(refusal) and second.reasons == refusal.reasons
                )
            written = self.engine.events_since(self.judge.last_seq)
            if not same or written:
                raise FlowPropertyViolation(
                    "idempotency",
                    f"retrying the command keyed {key!r} gave another outcome or wrote {len(written)} events",
                    instance_id=plan.instance_id,
                )

        def _instance(self, instance_id: str) -> Instance | None:
            try:
                return self.engine.instance(instance_id)
            except errors.InstanceNotFound:
                return None

        def _settle(self, touched: Iterable[str]) -> None:
            """Judge any events not seen yet, then compare each touched instance with the model."""
            self.judge.follow(self.engine.events_since(self.judge.last_seq, limit=100_000))
            for instance_id in sorted(set(touched)):
                current = self._instance(instance_id)
                self.judge.check_head(instance_id, current)
                if current is not None and (current.flow, current.state) not in self.visited:
                    self.visited.add((current.flow, current.state))
                    # Shown by pytest --hypothesis-show-statistics: how deep the runs went.
                    note_event(f"reached {current.flow}.{current.state}")
                self.judge.check_deadlines(instance_id, self.store.pending_deadlines(instance_id))
                if current is None:
                    continue
                replayed = self.engine.replay(instance_id)
                if replayed != current:
                    raise FlowPropertyViolation(
                        "replay",
                        f"replay() gives {replayed!r}, the head is {current!r}",
                        instance_id=instance_id,
                    )

    FlowMachine.__name__ = FlowMachine.__qualname__ = f"{_camel(tested.name)}Machine"
    return FlowMachine


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def check_flow(
    flows: FlowSet,
    flow: str | Flow,
    *,
    settings: Any = None,
    examples: Examples | None = None,
    hints: Hints | None = None,
    engine: EngineFactory | None = None,
) -> None:
    """Property-test ``flow`` of ``flows``: raise the first broken promise, shrunk to a short run.

    ``settings`` is a ``hypothesis.settings`` (default: the loaded profile); see
    :func:`flow_machine` for the rest.
    """
    machine = flow_machine(flows, flow, examples=examples, hints=hints, engine=engine)
    run_state_machine_as_test(machine, settings=settings)
