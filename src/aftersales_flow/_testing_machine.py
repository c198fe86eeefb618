"""A hypothesis state machine that runs random commands on a flow and checks every promise.

Each command's new audit events go to the :class:`~aftersales_flow._testing_judge.Judge`,
which checks them against the flow definition alone; then the machine compares the engine's
heads, deadlines and replays with the judge's model, and checks that refusals change nothing
but the audit log, that retried commands write nothing, and that ``verify()`` stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

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
from aftersales_flow._testing_strategies import Command, Examples, commands
from aftersales_flow._time import Clock, parse_duration
from aftersales_flow.engine import Engine
from aftersales_flow.model import Flow, FlowSet
from aftersales_flow.sqlite_store import SQLiteStore
from aftersales_flow.states.deadline import UNITS, resolve
from aftersales_flow.store import Store
from aftersales_flow.values import Instance, Step

EngineFactory = Callable[[FlowSet, Store, Clock], Engine]
"""Makes the engine under test from the flows, a store and a clock (``af.Engine`` itself will do)."""

_UNKNOWN_ID = "no-such-instance"
_MINUTE = 60
_DAY = 86400


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


def flow_machine(
    flows: FlowSet,
    flow: str | Flow,
    *,
    examples: Examples | None = None,
    hints: Hints | None = None,
    engine: EngineFactory | None = None,
    instances: int = 3,
    start: datetime | None = None,
) -> type[RuleBasedStateMachine]:
    """A ``RuleBasedStateMachine`` that property-tests ``flow`` of ``flows`` on a fresh engine.

    Its rules start up to ``instances`` instances, fire generated commands at them (most often
    events possible from their state, by actors holding the event's roles, with payloads mined
    from the guards or taken from ``examples``, sometimes with deliberate faults), retry keyed
    commands, and move a simulated clock and tick deadlines. After each rule it checks the
    promises listed in docs/testing.md and raises :class:`FlowPropertyViolation` naming the
    one broken. ``engine`` makes the engine under test (default: :class:`af.Engine`).
    Run it with :func:`check_flow`, or collect its ``TestCase`` with pytest or unittest.
    """
    from aftersales_flow.testing import SimulatedClock

    tested = flows[flow] if isinstance(flow, str) else flow
    make = engine or Engine
    ids = [f"{tested.name}-{n}" for n in range(1, instances + 1)]
    ticks = deadline_durations(tested)
    waits = st.one_of(
        st.sampled_from([_MINUTE, 3600, _DAY, 3 * _DAY, *ticks]),
        st.integers(0, 2 * _DAY),
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

        # --- rules -------------------------------------------------------------------------

        @precondition(lambda self: any(i not in self.judge.heads for i in ids))
        @rule(data=st.data())
        def start_instance(self, data: st.DataObject) -> None:
            """Start an instance (now and then on an id that exists already)."""
            free = [i for i in ids if i not in self.judge.heads]
            taken = [i for i in ids if i in self.judge.heads]
            instance_id = data.draw(
                st.sampled_from(taken)
                if taken and data.draw(st.integers(0, 9)) == 0
                else st.sampled_from(free),
                label="instance",
            )
            self._wait(data)
            command = data.draw(self._commands(None, likely=False), label="command")
            self._run(
                instance_id,
                command,
                lambda key: self.engine.start(
                    tested.name,
                    instance_id,
                    event=command.event,
                    actor=command.actor,
                    payload=command.payload,
                    idempotency_key=key,
                ),
                data,
            )

        @precondition(lambda self: bool(self.judge.heads))
        @rule(data=st.data())
        def fire_event(self, data: st.DataObject) -> None:
            """Fire any generated command on an instance (or on one that does not exist)."""
            self._fire(data, likely=False)

        @precondition(lambda self: bool(self.judge.heads))
        @rule(data=st.data())
        def fire_possible_event(self, data: st.DataObject) -> None:
            """Fire an event possible from the instance's state, aiming at acceptance."""
            self._fire(data, likely=True)

        @rule(data=st.data())
        def tick(self, data: st.DataObject) -> None:
            """Move the clock on and fire the deadlines that fell due."""
            self.clock.advance(data.draw(waits, label="seconds"))
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

        def _commands(self, state: str | None, *, likely: bool, flow: Flow = tested) -> Any:
            return commands(
                flow, state=state, now=self.clock(), hints=hints, examples=examples, likely=likely
            )

        def _wait(self, data: st.DataObject) -> None:
            self.clock.advance(data.draw(st.sampled_from([0, 60, 600, 1800]), label="wait"))

        def _fire(self, data: st.DataObject, *, likely: bool) -> None:
            known = sorted(self.judge.heads)
            if not likely and data.draw(st.integers(0, 19)) == 0:
                instance_id = _UNKNOWN_ID
                head = self.judge.heads[known[0]]
            else:
                instance_id = data.draw(st.sampled_from(known), label="instance")
                head = self.judge.heads[instance_id]
            self._wait(data)
            command = data.draw(
                self._commands(head.state, likely=likely, flow=flows[head.flow]), label="command"
            )
            expected: int | None = None
            if not likely:
                expected = data.draw(
                    st.sampled_from([None, None, None, None, head.version, head.version - 1]),
                    label="expected_version",
                )
            step = self._run(
                instance_id,
                command,
                lambda key: self.engine.fire(
                    instance_id,
                    command.event,
                    actor=command.actor,
                    payload=command.payload,
                    expected_version=expected,
                    idempotency_key=key,
                ),
                data,
            )
            if step is not None and expected is not None and expected != head.version:
                raise FlowPropertyViolation(
                    "expected_version",
                    f"'{command.event}' was accepted with expected_version {expected}; the instance "
                    f"was at version {head.version}",
                    instance_id=instance_id,
                )

        def _run(
            self,
            instance_id: str,
            command: Command,
            call: Callable[[str | None], Step],
            data: st.DataObject,
        ) -> Step | None:
            """Run one command, check its outcome; sometimes with a key, retried at once."""
            key: str | None = None
            if data.draw(st.integers(0, 4), label="keyed") == 0:
                self.keys += 1
                key = f"key-{self.keys}"
            deadlines = self.store.pending_deadlines(instance_id)
            links = self.store.links(instance_id)
            try:
                step: Step | None = call(key)
                refusal: errors.TransitionRefused | None = None
            except errors.TransitionRefused as exc:
                step, refusal = None, exc
            new = self.engine.events_since(self.judge.last_seq, limit=100_000)
            self.judge.follow(new)
            if refusal is not None:
                self._refused(instance_id, command, refusal, new, deadlines, links)
            else:
                assert step is not None
                self._accepted(instance_id, command, step, new)
            self._settle({instance_id, *(e.instance_id for e in new)})
            if key is not None and data.draw(st.booleans(), label="retry"):
                self._retry(instance_id, call, key, step, refusal)
            return step

        def _accepted(self, instance_id: str, command: Command, step: Step, new: list[Any]) -> None:
            first = new[0] if new else None
            if first is None or (first.instance_id, first.event, first.accepted) != (
                instance_id,
                command.event,
                True,
            ):
                raise FlowPropertyViolation(
                    "audit",
                    f"'{command.event}' was accepted but its audit event is not the first new one",
                    instance_id=instance_id,
                )
            if (step.version, step.target, step.seq) != (first.version, first.target, first.seq):
                raise FlowPropertyViolation(
                    "audit", f"the step {step!r} differs from its audit event", instance_id=instance_id
                )

        def _refused(
            self,
            instance_id: str,
            command: Command,
            refusal: errors.TransitionRefused,
            new: list[Any],
            deadlines: list[Any],
            links: list[Any],
        ) -> None:
            if not refusal.reasons:
                raise FlowPropertyViolation(
                    "refusal", f"'{command.event}' was refused without a reason", instance_id=instance_id
                )
            if len(new) != 1 or new[0].accepted or new[0].instance_id != instance_id:
                raise FlowPropertyViolation(
                    "refusal",
                    f"refusing '{command.event}' wrote {len(new)} audit events, not one refused event",
                    instance_id=instance_id,
                )
            self.judge.check_head(instance_id, self._instance(instance_id), prop="refusal")
            if (
                self.store.pending_deadlines(instance_id) != deadlines
                or self.store.links(instance_id) != links
            ):
                raise FlowPropertyViolation(
                    "refusal",
                    f"refusing '{command.event}' changed the instance's deadlines or links",
                    instance_id=instance_id,
                )

        def _retry(
            self,
            instance_id: str,
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
            same = (
                again == step
                if refusal is None
                else second is not None
                and type(second) is type(refusal)
                and second.reasons == refusal.reasons
            )
            written = self.engine.events_since(self.judge.last_seq)
            if not same or written:
                raise FlowPropertyViolation(
                    "idempotency",
                    f"retrying the command keyed {key!r} gave another outcome or wrote {len(written)} events",
                    instance_id=instance_id,
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
                versions = [e.version for e in self.engine.history(instance_id) if e.accepted]
                if versions != list(range(1, len(versions) + 1)):
                    raise FlowPropertyViolation(
                        "version",
                        f"accepted versions are {versions}, not 1…{len(versions)}",
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
