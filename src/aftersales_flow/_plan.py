"""What the engine decides from, worked out once per flow instead of on every command.

A :class:`FlowPlan` holds, for each (state, event) of one loaded flow, the branches with
their role sets, compiled guards, the payload check and whether anything beyond the plain
move happens (effects, links). Plans are built lazily, on first use, and only ever read: the
flow is a frozen value, so nothing in a plan can go stale.
"""

from __future__ import annotations

from aftersales_flow._payload import PayloadCheck
from aftersales_flow.model import Flow, Transition
from aftersales_flow.rules._expr import Check, Guard, compile_guard
from aftersales_flow.store import Head


class BranchPlan:
    """One branch of an event: its transition and what deciding it needs."""

    __slots__ = ("effects", "guard", "links", "needs_context", "roles", "target", "transition", "unless")

    def __init__(self, transition: Transition, invariants: bool) -> None:
        self.transition = transition
        self.target = transition.target
        self.roles = transition.roles
        self.guard: Check | None = compile_guard(transition.guard) if transition.guard is not None else None
        self.unless: Guard | None = transition.unless
        self.effects = bool(transition.set or transition.increment or transition.stamp)
        """Whether the branch sets, counts or stamps anything itself."""
        self.links = bool(transition.starts or transition.fires)
        self.needs_context = self.guard is not None or self.unless is not None or invariants
        """Whether any rule runs for the branch (its guard, its ``unless``, the flow's invariants)."""


class EventPlan:
    """An event from one state (``source is None``: a start event) and its branches, in order."""

    __slots__ = ("branches", "event", "payload", "plans", "roles", "source")

    def __init__(self, flow: Flow, source: str | None, event: str, branches: tuple[Transition, ...]) -> None:
        self.source = source
        self.event = event
        self.branches = branches
        self.plans = tuple(BranchPlan(branch, bool(flow.invariants)) for branch in branches)
        self.roles = tuple(branch.roles for branch in branches)
        self.payload = PayloadCheck(flow, event, branches)


class FlowPlan:
    """Every (state, event) plan of one flow, built on first use, and the flow's invariants compiled."""

    __slots__ = ("_events", "_events_from", "_quiet_states", "flow", "invariants")

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.invariants: tuple[Check, ...] = tuple(compile_guard(guard) for guard in flow.invariants)
        self._events: dict[tuple[str | None, str], EventPlan | None] = {}
        self._events_from: dict[str | None, tuple[str, ...]] = {}
        self._quiet_states = frozenset(name for name, state in flow.states.items() if not state.deadlines)
        """The states that declare no deadline."""

    def event(self, source: str | None, event: str) -> EventPlan | None:
        """The plan of ``event`` from ``source``, or None when the flow has no such branch."""
        key = (source, event)
        try:
            return self._events[key]
        except KeyError:
            pass
        branches = self.flow.branches(source, event)
        plan = EventPlan(self.flow, source, event, branches) if branches else None
        self._events[key] = plan
        return plan

    def events_from(self, source: str | None) -> tuple[str, ...]:
        """:meth:`Flow.events_from`, remembered."""
        found = self._events_from.get(source)
        if found is None:
            found = self._events_from[source] = tuple(self.flow.events_from(source))
        return found

    def keeps_no_deadlines(self, head: Head) -> bool:
        """True when an instance whose head this is, last moved under this very flow, has no deadline stored.

        The engine stores deadlines only for the state an instance is in, and only for a state
        that declares them (entering any other state clears them); so under the same
        definition, a state without deadline declarations has none stored.
        """
        return head.flow_hash == self.flow.content_hash and head.state in self._quiet_states


class PlanCache:
    """Plans by flow object: flows are frozen, so a plan is good for as long as its flow lives.

    Keyed by identity (the cache holds the flow, so its id is never reused while cached) and
    bounded, since a caller may hand the engine many flow objects.
    """

    __slots__ = ("_plans", "limit")

    def __init__(self, limit: int = 64) -> None:
        self._plans: dict[int, FlowPlan] = {}
        self.limit = limit

    def __getitem__(self, flow: Flow) -> FlowPlan:
        plan = self._plans.get(id(flow))
        if plan is not None and plan.flow is flow:
            return plan
        if len(self._plans) >= self.limit:
            self._plans.clear()
        plan = self._plans[id(flow)] = FlowPlan(flow)
        return plan
