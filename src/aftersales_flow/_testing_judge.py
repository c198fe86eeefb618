"""An independent judge of an audit trail: each event is checked against the promises of its flow.

The judge follows audit events in ``seq`` order and keeps its own model of every instance's
head. For an accepted event it re-checks, from the flow definition alone, that the event is
declared from the state, that the actor holds a role of the branch, that the payload is
declared, typed and gives the required fields, that guards held (``unless`` did not, the
invariants did) on the data the event saw, that the first passing branch was taken, that the
version is the next one, and what the data became. For a refused event it checks that the
model does not move, and that some promise would have been broken had it been accepted.
Only the rules themselves are shared with the engine (``aftersales_flow.rules.evaluate``);
the deciding, merging and effect code is written again here, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import attrs

from aftersales_flow._testing_data import blank_field, effects, merged, plain, type_problem
from aftersales_flow.model import FieldSpec, Flow, FlowSet, Transition
from aftersales_flow.rules import RuleContext, evaluate
from aftersales_flow.rules._expr import RULE_ERROR
from aftersales_flow.states.deadline import SLA_BREACHED, Deadline
from aftersales_flow.values import Actor, AuditEvent, Instance

# Refusals whose cause lies outside the flow definition (the command, the store, a linked flow).
_OUTSIDE_CAUSES = frozenset(
    {
        "version_conflict",
        "idempotency_key_reused",
        "instance_exists",
        "unknown_instance",
        "link_refused",
        "link_depth",
        "link_flow",
    }
)


class FlowPropertyViolation(AssertionError):
    """An engine broke a promise of its flows; ``prop`` names the promise (``guard``, ``version``…)."""

    def __init__(
        self, prop: str, message: str, *, instance_id: str | None = None, seq: int | None = None
    ) -> None:
        where = ""
        if instance_id is not None:
            where = f"instance {instance_id!r}"
            if seq is not None:
                where += f", event #{seq}"
            where += ": "
        super().__init__(f"[{prop}] {where}{message}")
        self.prop = prop
        self.instance_id = instance_id
        self.seq = seq


@attrs.frozen(kw_only=True)
class BranchVerdict:
    """What the judge found for one branch of an event: each failed promise, by kind."""

    branch: Transition
    failures: tuple[tuple[str, str], ...]
    after: Mapping[str, Any]
    count: int = 0
    """How many reasons the guards, unless and invariants fail for (for tuning payloads)."""

    @property
    def passes(self) -> bool:
        """True when the branch may be taken."""
        return not self.failures


def judge_branch(
    flow: Flow,
    branch: Transition,
    *,
    data: Mapping[str, Any],
    payload: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    instance_id: str,
) -> BranchVerdict:
    """One branch judged on ``data`` with ``payload`` written in: role, guard, unless, invariants."""
    seen = merged(flow, data, payload)
    failures: list[tuple[str, str]] = []
    count = 0
    if not actor.roles & branch.roles:
        held = sorted(actor.roles) or "no role"
        failures.append(("role", f"{actor.id} holds {held}, none of {sorted(branch.roles)}"))
    ctx = RuleContext(
        data=seen,
        before=dict(data),
        payload=payload,
        params=flow.params,
        now=now,
        actor=actor,
        instance_id=instance_id,
        flow=flow.name,
        state=branch.source,
        event=branch.event,
        target=branch.target,
    )
    if branch.guard is not None:
        reasons = evaluate(branch.guard, ctx)
        count += len(reasons)
        if reasons:
            failures.append(("guard", f"its guard {branch.guard!r} failed: {reasons[0].message}"))
    if branch.unless is not None:
        reasons = evaluate(branch.unless, ctx)
        if not reasons or any(r.code == RULE_ERROR for r in reasons):
            count += 1
            failures.append(("unless", f"its unless {branch.unless!r} held"))
    after = {**seen, **effects(branch, seen, now)}
    later = attrs.evolve(ctx, data=after)
    for invariant in flow.invariants:
        reasons = evaluate(invariant, later)
        count += len(reasons)
        if reasons:
            failures.append(("invariant", f"the invariant {invariant!r} failed: {reasons[0].message}"))
    return BranchVerdict(branch=branch, failures=tuple(failures), after=after, count=count)


class Judge:
    """Follows audit events in order and checks each against the flows; raises on the first broken promise.

    ``heads`` is the judge's own model of every instance, built from accepted events alone.
    """

    def __init__(self, flows: FlowSet) -> None:
        self.flows = flows
        self.heads: dict[str, Instance] = {}
        self.last_seq = 0
        self.seen = 0

    def follow(self, events: Iterable[AuditEvent]) -> list[AuditEvent]:
        """Judge each event in turn; returns them."""
        followed = list(events)
        for event in followed:
            self.judge(event)
        return followed

    def judge(self, event: AuditEvent) -> None:
        """Check one audit event against its flow and move the model when it was accepted."""
        if event.seq <= self.last_seq:
            self._fail("order", f"event #{event.seq} after #{self.last_seq}", event)
        self.last_seq = event.seq
        self.seen += 1
        before = self.heads.get(event.instance_id)
        if not event.accepted:
            self._refused(event, before)
            return
        flow = self.flows.flows.get(event.flow)
        if flow is None:
            self._fail("undeclared_event", f"accepted for unknown flow {event.flow!r}", event)
        if event.flow_hash != flow.content_hash:
            self._fail("flow_hash", "recorded a different definition than the one loaded", event)
        if before is not None and before.flow != flow.name:
            self._fail("flow", f"a {before.flow} received an event of {flow.name}", event)
        source = before.state if before is not None else None
        if event.source != source:
            self._fail(
                "source", f"recorded source {event.source!r}, but the instance was in {source!r}", event
            )
        version = (before.version if before is not None else 0) + 1
        if event.version != version:
            self._fail(
                "version", f"accepted as version {event.version}, the next version is {version}", event
            )
        if source is not None and flow.states[source].terminal:
            self._fail("terminal", f"accepted '{event.event}' in final state '{source}'", event)
        if event.event == SLA_BREACHED and not flow.branches(source, SLA_BREACHED):
            self._breach(flow, before, event)
            return
        self._accepted(flow, before, event)

    # --- accepted events ---------------------------------------------------------------------

    def _accepted(self, flow: Flow, before: Instance | None, event: AuditEvent) -> None:
        source = before.state if before is not None else None
        branches = flow.branches(source, event.event)
        where = "as a start event" if source is None else f"from '{source}'"
        if not branches:
            self._fail(
                "undeclared_event", f"'{event.event}' was accepted {where}; the flow has no such event", event
            )
        if not any(b.target == event.target for b in branches):
            targets = sorted({b.target for b in branches})
            self._fail(
                "undeclared_target", f"'{event.event}' went to {event.target!r}, not one of {targets}", event
            )
        self._deadline_fired(flow, source, event)
        problem = self.payload_problem(flow, branches, event.payload)
        if problem is not None:
            self._fail("payload", problem, event)
        data = dict(before.data) if before is not None else {}
        verdicts = self.verdicts(flow, source, data, event)
        seen = merged(flow, data, event.payload)
        recorded = plain(event.changes)
        # The branch taken is told by its target and by what it wrote (branches to one state
        # may set different fields); the first branch that holds is the one to take.
        candidates = [v for v in verdicts if v.branch.target == event.target]
        matching = [v for v in candidates if _changes(v.branch, seen, event) == recorded]
        if not matching:
            expected = _changes(candidates[0].branch, seen, event)
            self._fail("changes", f"recorded changes {recorded!r}, expected {expected!r}", event)
        taken = next((v for v in matching if v.passes), matching[0])
        if not taken.passes:
            kind, message = taken.failures[0]
            self._fail(
                kind, f"'{event.event}' {where} to '{event.target}' was accepted although {message}", event
            )
        first = next(v for v in verdicts if v.passes)
        if all(first is not verdict for verdict in matching):
            self._fail(
                "branch_order",
                f"'{event.event}' went to '{event.target}', but the branch to '{first.branch.target}' "
                "holds and comes first",
                event,
            )
        missing = [name for name in taken.branch.requires if blank_field(event.payload.get(name))]
        if missing:
            self._fail("required_field", f"'{event.event}' was accepted without {', '.join(missing)}", event)
        self.heads[event.instance_id] = Instance(
            id=event.instance_id,
            flow=flow.name,
            flow_version=flow.version,
            state=taken.branch.target,
            version=(before.version if before is not None else 0) + 1,
            data=taken.after,
        )

    def _deadline_fired(self, flow: Flow, source: str | None, event: AuditEvent) -> None:
        """An event fired by a deadline is the one its state declares."""
        key = event.idempotency_key or ""
        if not key.startswith("deadline:") or source is None:
            return
        name = key.rsplit(":", 2)[-2]
        specs = {spec.name: spec for spec in flow.states[source].deadlines}
        spec = specs.get(name)
        if spec is None or spec.event != event.event:
            self._fail(
                "deadline",
                f"deadline {name!r} fired '{event.event}', which state '{source}' does not declare",
                event,
            )

    def _breach(self, flow: Flow, before: Instance | None, event: AuditEvent) -> None:
        if before is None:
            self._fail("deadline", "an SLA breach was recorded for an instance that does not exist", event)
        declared = {spec.name for spec in flow.states[before.state].deadlines if spec.fire is None}
        name = event.payload.get("deadline")
        if name not in declared:
            self._fail(
                "deadline",
                f"SLA breach {name!r} recorded in '{before.state}', which declares {sorted(declared)}",
                event,
            )
        if "system" not in event.actor.roles:
            self._fail("role", f"SLA breach recorded by {event.actor.id}, not the system", event)
        if event.target != before.state or event.changes:
            self._fail("deadline", "an SLA breach moved the instance or changed its data", event)
        self.heads[event.instance_id] = attrs.evolve(before, version=before.version + 1)

    def verdicts(
        self, flow: Flow, source: str | None, data: Mapping[str, Any], event: AuditEvent
    ) -> list[BranchVerdict]:
        """Each branch of the event, in order, judged on the data the event saw."""
        return [
            judge_branch(
                flow,
                branch,
                data=data,
                payload=event.payload,
                actor=event.actor,
                now=event.at,
                instance_id=event.instance_id,
            )
            for branch in flow.branches(source, event.event)
        ]

    def payload_problem(
        self, flow: Flow, branches: Sequence[Transition], payload: Mapping[str, Any]
    ) -> str | None:
        """What is wrong with the payload for the event's branches: undeclared or mistyped fields."""
        accepted = set().union(*(b.fields for b in branches))
        for name, value in payload.items():
            if name not in accepted:
                return f"the payload carries '{name}', which the event does not take"
            problem = type_problem(flow.fields.get(name, FieldSpec(name=name)), value)
            if problem is not None:
                return problem
        return None

    # --- refused events ----------------------------------------------------------------------

    def _refused(self, event: AuditEvent, before: Instance | None) -> None:
        if event.version is not None or event.target is not None:
            self._fail("refusal", "a refused event recorded a version or a target", event)
        if not event.reasons:
            self._fail("refusal", "a refused event says no reason", event)
        if {r.code for r in event.reasons} & _OUTSIDE_CAUSES:
            return
        flow = self.flows.flows.get(event.flow)
        if flow is None:
            return
        source = before.state if before is not None else None
        branches = flow.branches(source, event.event)
        if not branches or (source is not None and flow.states[source].terminal):
            return
        if self.payload_problem(flow, branches, event.payload) is not None:
            return
        data = dict(before.data) if before is not None else {}
        required = set(branches[0].requires).intersection(*(b.requires for b in branches[1:]))
        if any(blank_field(event.payload.get(name)) for name in required):
            return
        for verdict in self.verdicts(flow, source, data, event):
            if verdict.passes:
                if verdict.branch.starts or verdict.branch.fires:
                    return  # a linked command may have been refused; its reasons are the parent's
                reasons = "; ".join(r.message for r in event.reasons)
                self._fail(
                    "unjustified_refusal",
                    f"'{event.event}' was refused ({reasons}), but its branch to "
                    f"'{verdict.branch.target}' holds",
                    event,
                )
            return

    # --- heads -------------------------------------------------------------------------------

    def check_head(self, instance_id: str, actual: Instance | None, prop: str = "head") -> None:
        """The engine's head of ``instance_id`` equals the judge's model (both absent, or the same).

        ``prop`` names the promise a difference breaks (``refusal`` right after a refused command).
        """
        expected = self.heads.get(instance_id)
        if expected is None:
            if actual is not None:
                self._fail(
                    prop,
                    f"the instance exists in state '{actual.state}' though no accepted event created it",
                    None,
                    instance_id,
                )
            return
        if actual is None:
            self._fail(prop, "the instance's head is missing", None, instance_id)
        for name in ("flow", "flow_version", "state", "version", "data"):
            want, got = getattr(expected, name), getattr(actual, name)
            if name == "data":
                got = plain(got)
            if want != got:
                self._fail(
                    prop,
                    f"the head's {name} is {got!r}; its accepted events make it {want!r}",
                    None,
                    instance_id,
                )

    def check_deadlines(self, instance_id: str, deadlines: Sequence[Deadline]) -> None:
        """Every stored deadline of the instance hangs on its current state, as declared there."""
        head = self.heads.get(instance_id)
        for deadline in deadlines:
            if head is None or deadline.state != head.state:
                where = head.state if head is not None else "no state"
                self._fail(
                    "deadline",
                    f"deadline {deadline.name!r} of state '{deadline.state}' is kept in {where}",
                    None,
                    instance_id,
                )
            declared = {spec.name: spec for spec in self.flows[head.flow].states[head.state].deadlines}
            spec = declared.get(deadline.name)
            if spec is None or spec.event != deadline.event:
                self._fail(
                    "deadline",
                    f"deadline {deadline.name!r} ({deadline.event}) is not declared on '{head.state}'",
                    None,
                    instance_id,
                )

    def _fail(
        self, prop: str, message: str, event: AuditEvent | None, instance_id: str | None = None
    ) -> NoReturn:
        if event is not None:
            raise FlowPropertyViolation(prop, message, instance_id=event.instance_id, seq=event.seq)
        raise FlowPropertyViolation(prop, message, instance_id=instance_id)


def _changes(branch: Transition, seen: Mapping[str, Any], event: AuditEvent) -> dict[str, Any]:
    """What taking ``branch`` writes: the payload's fields as merged, and the branch's effects."""
    found = {name: seen[name] for name in event.payload}
    found.update(effects(branch, seen, event.at))
    return found
