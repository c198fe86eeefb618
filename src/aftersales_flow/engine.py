"""The engine: starts and fires events on instances, enforcing the flow, auditing everything.

The engine is stateless between calls: an instance's head lives in the store, so any number
of engines in any number of processes can serve one store. One command is one store
transaction: check the idempotency key, read the head, decide, append the audit row,
update the head, commit. A refusal is committed to the audit trail and then raised.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from aftersales_flow import errors
from aftersales_flow._build import canonical_json
from aftersales_flow._chain import acyclic_encoder, checked_encoder
from aftersales_flow._machine import CompiledFlow
from aftersales_flow._payload import MAX_PAYLOAD_BYTES, apply_effects, merge_payload
from aftersales_flow._plan import BranchPlan, FlowPlan, PlanCache
from aftersales_flow._time import Clock, format_timestamp, parse_timestamp, system_clock
from aftersales_flow._verify import verify_store
from aftersales_flow.checkpoint import Checkpoint
from aftersales_flow.links import Link, link_channel
from aftersales_flow.model import Flow, FlowSet, Transition, thaw
from aftersales_flow.rules._expr import Guard, describe, evaluate, rule_errors
from aftersales_flow.rules._local import to_local
from aftersales_flow.rules._registry import RuleContext
from aftersales_flow.scan import ServiceRecord, VehicleRecords, service_due
from aftersales_flow.states.deadline import SLA_BREACHED, Deadline, DeadlineSpec
from aftersales_flow.store import Head, Row, Store, StoreTransaction
from aftersales_flow.values import (
    SYSTEM,
    Actor,
    AuditEvent,
    Instance,
    Option,
    Reason,
    Step,
    VerifyProblem,
    VerifyReport,
)

MAX_ID_LENGTH = 200
"""Longest instance id or idempotency key accepted."""

_REFUSALS: dict[str, type[errors.TransitionRefused]] = {
    cls.__name__: cls
    for cls in (
        errors.IllegalTransition,
        errors.GuardRejected,
        errors.RoleDenied,
        errors.PayloadRejected,
        errors.VersionConflict,
        errors.UnknownInstance,
        errors.DuplicateInstance,
        errors.IdempotencyKeyReused,
    )
}


# _Decision and _Command are built on every command, so they are plain (not frozen) attrs
# classes: a frozen one costs twice as much to build. Nothing changes them after they are built.
@attrs.define(kw_only=True)
class _Decision:
    """What the engine decided for one command, before anything is written."""

    flow: Flow | None
    source: str | None
    transition: Transition | None = None
    refusal: type[errors.TransitionRefused] | None = None
    reasons: tuple[Reason, ...] = ()
    changes: Mapping[str, Any] = attrs.field(factory=dict)
    data: Mapping[str, Any] = attrs.field(factory=dict)
    guards: Mapping[str, bool] = attrs.field(factory=dict)
    changes_text: str | None = None
    """``changes`` as canonical JSON when already known (the payload's own text), else None."""


@attrs.define(kw_only=True)
class _Command:
    """One start or fire, with its arguments checked and the clock read once."""

    instance_id: str
    event: str
    actor: Actor
    payload: Mapping[str, Any]
    payload_text: str
    expected_version: int | None
    idempotency_key: str | None
    now: datetime
    deadline: str | None = None
    """The deadline this command fires, when a tick runs it."""
    payload_size: int = 0
    """The payload's size as canonical JSON (the text kept may be a digest of a too-large one)."""
    at: str = ""
    """``now`` as the audit trail writes it (ISO 8601, UTC); empty: format ``now`` when needed."""
    deciding_only: bool = False
    """True for :meth:`Engine.options`: decide, move nothing (the branch is read off the table)."""

    @property
    def at_text(self) -> str:
        """``now`` as the audit trail writes it."""
        return self.at or format_timestamp(self.now)


def _role_reason(event: str, branches: Sequence[Transition], actor: Actor) -> Reason:
    """The actor holds none of the roles these branches allow."""
    allowed = sorted(set().union(*(b.roles for b in branches)))
    held = ", ".join(sorted(actor.roles)) or "no role"
    return Reason(
        code="role_denied",
        message=f"'{event}' needs one of the roles {', '.join(allowed)}; {actor.id} holds {held}",
        rule="roles",
    )


_Linked = tuple[str, Link, "_Command", "_Decision"]
"""A planned linked command: the parent's id, the link, the command and its decision."""

MAX_LINK_DEPTH = 4
"""How deep linked starts may chain (a flow starting a flow starting a flow…)."""

NOW = "$now"
"""A deadline payload value replaced by the time the deadline fires."""


def _fill(payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A deadline's payload with ``$now`` replaced by the firing time."""
    return {key: format_timestamp(now) if value == NOW else value for key, value in payload.items()}


def _spec_of(flows: FlowSet, head: Head | None, deadline: Deadline) -> DeadlineSpec | None:
    """The declaration behind a pending deadline, if the instance is still where it was set."""
    if head is None or head.state != deadline.state or head.flow not in flows:
        return None
    for spec in flows[head.flow].states[head.state].deadlines:
        if spec.name == deadline.name:
            return spec
    return None


def _breach(flow: Flow, head: Head, spec: DeadlineSpec) -> _Decision:
    """The accepted decision of an ``sla_breached`` record: the state and data stay as they are."""
    transition = Transition(
        event=SLA_BREACHED,
        source=head.state,
        target=head.state,
        roles=frozenset({"system"}),
        label=spec.label,
        description=f"deadline '{spec.name}' passed",
    )
    return _Decision(flow=flow, source=head.state, transition=transition, data=json.loads(head.data))


def _same_command(prior: Row, command: _Command) -> bool:
    """True when a stored row is the same command again (a retry), not a reuse of its key."""
    return (prior["instance_id"], prior["event"], prior["payload"]) == (
        command.instance_id,
        command.event,
        command.payload_text,
    )


def _key_reused(prior: Row, head: Head | None, flows: FlowSet) -> _Decision:
    """The refusal of a command that reuses another command's idempotency key."""
    reason = Reason(
        code="idempotency_key_reused",
        message=(
            f"the idempotency key was already used for '{prior['event']}' on {prior['instance_id']} "
            f"(event #{prior['seq']}) with other data; use a new key for a new command"
        ),
        rule="idempotency",
    )
    flow = flows.flows.get(head.flow) if head is not None else None
    return _Decision(
        flow=flow,
        source=head.state if head else None,
        refusal=errors.IdempotencyKeyReused,
        reasons=(reason,),
    )


def _unless(guard: Guard, ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
    """Reasons an ``unless`` refuses: it holds, or one of its rules could not be checked."""
    found = evaluate(guard, ctx, facts)
    if rule_errors(found):
        return rule_errors(found)
    if found:
        return []
    return [
        Reason(code="unless", message=f"not allowed while {describe(guard, ctx.params)}", rule=repr(guard))
    ]


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""The characters of Unicode categories Cc (controls) and Cs (surrogates)."""


_CHECKED_TEXTS: set[str] = set()
"""Ids, event names and keys already found usable (the same few recur on every command)."""


def _check_text(value: object, what: str) -> str:
    if type(value) is str and value in _CHECKED_TEXTS:
        return value
    text = _check_new_text(value, what)
    if type(text) is str:
        if len(_CHECKED_TEXTS) >= 1024:
            _CHECKED_TEXTS.clear()
        _CHECKED_TEXTS.add(text)
    return text


def _check_new_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise errors.InvalidCommand(
            f"{what} must be non-empty text of at most {MAX_ID_LENGTH} characters (got {value!r})"
        )
    if _CONTROL.search(value) is not None:
        raise errors.InvalidCommand(f"{what} must not contain control characters (got {value!r})")
    return value


def _size(payload: Mapping[str, Any], text: str) -> int:
    if text.startswith('{"too_large":'):
        return int(json.loads(text)["too_large"]["bytes"])
    return len(text)


_CHECKED_ACTORS: dict[int, Actor] = {}
"""Actors already found usable, by identity (an actor is frozen: once usable, always usable)."""


def _check_actor(actor: object) -> Actor:
    """An actor whose id, roles and optional fields are usable text."""
    known = _CHECKED_ACTORS.get(id(actor))
    if known is not None and known is actor:
        return known
    checked = _check_actor_fields(actor)
    if len(_CHECKED_ACTORS) >= 256:
        _CHECKED_ACTORS.clear()
    _CHECKED_ACTORS[id(actor)] = checked
    return checked


def _check_actor_fields(actor: object) -> Actor:
    """An actor whose id, roles and optional fields are usable text."""
    if not isinstance(actor, Actor):
        raise errors.InvalidCommand(f"actor must be an af.Actor (got {type(actor).__name__})")
    _check_text(actor.id, "the actor's id")
    for role in actor.roles:
        _check_text(role, "an actor's role")
    if actor.on_behalf_of is not None:
        _check_text(actor.on_behalf_of, "the actor's on_behalf_of")
    if actor.channel is not None:
        _check_text(actor.channel, "the actor's channel")
    return actor


def _payload_text(payload: Mapping[str, Any]) -> str:
    """The payload as canonical JSON; unusable payloads raise InvalidCommand (nothing is written)."""
    try:
        text = _encode_payload(payload)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise errors.InvalidCommand(
            "payload must hold plain data (text, numbers, true/false, lists, mappings): "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if len(text) > MAX_PAYLOAD_BYTES:
        # The refusal (too_large) is audited without the payload itself: its size and digest only.
        digest = hashlib.sha256(text.encode()).hexdigest()
        return canonical_json({"too_large": {"bytes": len(text), "sha256": digest}})
    return text


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""The settings of ``canonical_json``."""
_encode_payload = checked_encoder(_CANONICAL)
"""``canonical_json``, errors included (a payload may be anything), minus its Python wrapping."""
_encode_data = acyclic_encoder(_CANONICAL)
"""``canonical_json`` for an instance's data: values decoded from JSON or from checked payloads
cannot hold a cycle, so one encoder made once writes it."""

_ROLES_TEXT: dict[frozenset[str], str] = {}
"""Role sets as the audit trail writes them, by set (actors repeat)."""


def _roles_text(roles: frozenset[str]) -> str:
    """The roles as canonical JSON: a sorted list."""
    text = _ROLES_TEXT.get(roles)
    if text is None:
        if len(_ROLES_TEXT) >= 256:
            _ROLES_TEXT.clear()
        text = _ROLES_TEXT[roles] = canonical_json(sorted(roles))
    return text


_FACTS_TEXT: dict[tuple[tuple[str, bool], ...], str] = {}
"""Guard outcomes as the audit trail writes them, by outcome (the same few recur endlessly)."""


def _facts_text(facts: Mapping[str, bool]) -> str:
    """The rule outcomes as canonical JSON."""
    key = tuple(facts.items())
    text = _FACTS_TEXT.get(key)
    if text is None:
        if len(_FACTS_TEXT) >= 1024:
            _FACTS_TEXT.clear()
        text = _FACTS_TEXT[key] = canonical_json(facts)
    return text


def _changes_text(decision: _Decision) -> str:
    """The decision's changes as canonical JSON (the payload's own text when they are the payload)."""
    return decision.changes_text if decision.changes_text is not None else canonical_json(decision.changes)


_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner behind ``json.loads``: (value, end) of the JSON text at a position."""


def _load_data(text: str) -> Any:
    """``json.loads(text)`` for a head's data, without the wrapping around the C scanner."""
    if type(text) is not str:
        return json.loads(text)
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        end = -1
    return value if end == len(text) else json.loads(text)


def _dedupe(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: dict[tuple[str, str], Reason] = {}
    for reason in reasons:
        seen.setdefault((reason.code, reason.message), reason)
    return tuple(seen.values())


def _event_from_row(row: Row) -> AuditEvent:
    roles = json.loads(row["actor_roles"])
    return AuditEvent(
        seq=row["seq"],
        instance_id=row["instance_id"],
        position=row["position"],
        version=row["version"],
        event=row["event"],
        source=row["source"],
        target=row["target"],
        accepted=bool(row["accepted"]),
        reasons=tuple(Reason(**r) for r in json.loads(row["reasons"])),
        actor=Actor(row["actor_id"], roles=roles, on_behalf_of=row["on_behalf_of"], channel=row["channel"]),
        at=parse_timestamp(row["at"]),
        payload=json.loads(row["payload"]),
        changes=json.loads(row["changes"]),
        guards=json.loads(row["guards"]),
        idempotency_key=row["idempotency_key"],
        flow=row["flow"],
        flow_version=row["flow_version"],
        flow_hash=row["flow_hash"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _step_from_row(row: Row, head_version: int | None = None) -> Step:
    event = _event_from_row(row)
    return Step(
        instance_id=event.instance_id,
        flow=event.flow,
        flow_version=event.flow_version,
        event=event.event,
        source=event.source,
        target=event.target,
        version=event.version if event.version is not None else (head_version or 0),
        actor=event.actor,
        at=event.at,
        accepted=event.accepted,
        reasons=event.reasons,
        seq=event.seq,
    )


def _step_of(decision: _Decision, head: Head | None, command: _Command, row: Row) -> Step:
    """The step of a command just written, from the values in hand (nothing is re-read)."""
    return Step(
        instance_id=command.instance_id,
        flow=row["flow"],
        flow_version=row["flow_version"],
        event=command.event,
        source=decision.source,
        target=row["target"],
        version=row["version"] if row["version"] is not None else (head.version if head else 0),
        actor=command.actor,
        at=command.now,
        accepted=decision.refusal is None,
        reasons=decision.reasons,
        seq=row["seq"],
    )


class Batch:
    """Commands run inside one open transaction: see :meth:`Engine.batch`."""

    def __init__(self, engine: Engine, tx: StoreTransaction) -> None:
        self._engine = engine
        self._tx = tx
        self.steps: list[Step] = []
        """The accepted steps so far, in order."""

    def start(
        self,
        flow: str,
        instance_id: str,
        *,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Step:
        """As :meth:`Engine.start`, inside the batch's transaction."""
        return self._run(self._engine.flows[flow], instance_id, event, actor, payload, None, idempotency_key)

    def fire(
        self,
        instance_id: str,
        event: str,
        *,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Step:
        """As :meth:`Engine.fire`, inside the batch's transaction."""
        return self._run(None, instance_id, event, actor, payload, expected_version, idempotency_key)

    def _run(
        self,
        start_flow: Flow | None,
        instance_id: str,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> Step:
        engine = self._engine
        command = engine._checked(instance_id, event, actor, payload, expected_version, idempotency_key)
        step, refused = engine._execute(self._tx, start_flow, command)
        if refused is not None:
            raise refused
        self.steps.append(step)
        return step


class Engine:
    """Runs a :class:`FlowSet` on a :class:`Store`.

    ``clock`` returns an aware UTC datetime; it is read once per command, and everything
    the command records uses that one reading.
    """

    def __init__(
        self,
        flows: FlowSet,
        store: Store,
        clock: Clock | None = None,
        *,
        vehicles: VehicleRecords | None = None,
    ) -> None:
        self.flows = flows
        self.store = store
        self.clock: Clock = clock or system_clock
        self.vehicles = vehicles
        self._compiled: dict[str, CompiledFlow] = {}
        self._plans = PlanCache()

    # --- commands ------------------------------------------------------------------------

    def start(
        self,
        flow: str,
        instance_id: str,
        *,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Step:
        """Create instance ``instance_id`` of ``flow`` through start event ``event``."""
        definition = self.flows[flow]
        return self._command(definition, instance_id, event, actor, payload, None, idempotency_key)

    def fire(
        self,
        instance_id: str,
        event: str,
        *,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Step:
        """Fire ``event`` on an instance; returns the accepted :class:`Step` or raises a refusal."""
        return self._command(None, instance_id, event, actor, payload, expected_version, idempotency_key)

    def _now(self) -> datetime:
        now = self.clock()
        if type(now) is datetime and now.tzinfo is UTC:
            return now  # what the checks below would give back unchanged
        if not isinstance(now, datetime):
            raise errors.InvalidCommand(f"the clock returned {now!r}, not a datetime; return aware UTC times")
        if now.tzinfo is None or now.utcoffset() is None:
            raise errors.InvalidCommand(
                f"the clock returned {now!r} without a time zone; return aware UTC times"
            )
        return now.astimezone(UTC)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Run many commands in one store transaction (nightly scans, imports).

        ``with engine.batch() as batch: batch.fire(...)``. Each command is decided and audited
        as usual and a refusal is raised at once (catch it to go on); everything commits
        together when the block ends, or nothing does if an exception leaves it.
        """
        with self.store.write() as tx:
            yield Batch(self, tx)

    def _command(
        self,
        start_flow: Flow | None,
        instance_id: str,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> Step:
        command = self._checked(instance_id, event, actor, payload, expected_version, idempotency_key)
        with self.store.write() as tx:
            step, refused = self._execute(tx, start_flow, command)
        if refused is not None:
            raise refused
        return step

    def _execute(
        self,
        tx: StoreTransaction,
        start_flow: Flow | None,
        command: _Command,
        decision: _Decision | None = None,
    ) -> tuple[Step, errors.TransitionRefused | None]:
        """Run one command inside an open write transaction: the step, and its refusal if refused."""
        prior = tx.find_key(command.idempotency_key) if command.idempotency_key is not None else None
        if prior is not None and _same_command(prior, command):
            return self._repeat(prior), None
        head = tx.head(command.instance_id)
        if prior is not None:
            decision = _key_reused(prior, head, self.flows)
            command = attrs.evolve(command, idempotency_key=None)
        elif decision is None:
            decision = self._decide(start_flow, head, command)
        linked: list[_Linked] = []
        transition = decision.transition
        if decision.refusal is None and transition is not None and (transition.starts or transition.fires):
            linked, problems = self._plan_links(tx, decision, head, command, depth=0, pending={})
            if problems:
                decision = attrs.evolve(
                    decision, transition=None, refusal=errors.GuardRejected, reasons=tuple(problems)
                )
        if decision.flow is not None:
            tx.ensure_flow(decision.flow)
        stored = tx.append(self._row(decision, head, command))
        step = _step_of(decision, head, command, stored)
        if decision.refusal is not None:
            return step, decision.refusal(step, decision.reasons)
        tx.put_head(self._next_head(decision, head, command, step.version))
        self._update_deadlines(tx, decision, head, command, step)
        if not linked:
            return step, None
        parents = {command.instance_id: step}
        for parent, link, child_command, child_decision in linked:
            child_head = tx.head(child_command.instance_id)
            if child_decision.flow is not None:
                tx.ensure_flow(child_decision.flow)
            child_row = tx.append(self._row(child_decision, child_head, child_command))
            child_step = _step_of(child_decision, child_head, child_command, child_row)
            self._apply(tx, child_decision, child_head, child_command, child_step)
            parent_step = parents[parent]
            tx.add_link(
                parent, parent_step.seq or 0, child_command.instance_id, child_step.seq or 0, link.kind
            )
            parents[child_command.instance_id] = child_step
        return step, None

    def _apply(
        self, tx: StoreTransaction, decision: _Decision, head: Head | None, command: _Command, step: Step
    ) -> None:
        """Write an accepted event's new head and deadlines."""
        tx.put_head(self._next_head(decision, head, command, step.version))
        self._update_deadlines(tx, decision, head, command, step)

    def _plan_links(
        self,
        tx: StoreTransaction,
        decision: _Decision,
        head: Head | None,
        command: _Command,
        depth: int,
        pending: dict[str, Head],
    ) -> tuple[list[_Linked], list[Reason]]:
        """Decide every linked command of an accepted decision (and theirs), before anything is written.

        Returns the commands to run in order, or the reasons a linked command was refused (the
        whole command is then refused: parent and children commit together or not at all).
        ``pending`` holds the heads planned so far, so a link may fire on an instance that an
        earlier link of the same command starts.
        """
        flow, transition = decision.flow, decision.transition
        assert flow is not None
        assert transition is not None
        if depth > MAX_LINK_DEPTH:
            return [], [
                Reason(code="link_depth", message="linked flows start each other in a loop", rule="links")
            ]
        version = (head.version if head else 0) + 1
        planned: list[_Linked] = []
        problems: list[Reason] = []
        for link in (*transition.starts, *transition.fires):
            if link.when is not None and evaluate(
                link.when, self._context(flow, transition, decision, command)
            ):
                continue
            child_id = link.child_id(command.instance_id, version)
            child_head = pending.get(child_id) or tx.head(child_id)
            child_command, child_decision = self._linked(link, child_head, decision, command, version)
            if child_decision.refusal is not None:
                listed = "; ".join(r.message for r in child_decision.reasons)
                problems.append(
                    Reason(
                        code="link_refused",
                        message=(
                            f"'{link.event}' on {link.flow} {child_command.instance_id} was refused: {listed}"
                        ),
                        rule="links",
                    )
                )
                continue
            planned.append((command.instance_id, link, child_command, child_decision))
            pending[child_id] = self._next_head(
                child_decision, child_head, child_command, (child_head.version if child_head else 0) + 1
            )
            grand, grand_problems = self._plan_links(
                tx, child_decision, child_head, child_command, depth + 1, pending
            )
            planned.extend(grand)
            problems.extend(grand_problems)
        return planned, problems

    def _linked(
        self, link: Link, head: Head | None, decision: _Decision, command: _Command, version: int
    ) -> tuple[_Command, _Decision]:
        """The command a link makes, and its decision on the linked instance as it stands."""
        child_id = link.child_id(command.instance_id, version)
        payload = link.child_payload(
            parent=command.instance_id,
            event=command.event,
            now=format_timestamp(command.now),
            data=decision.data,
            payload=command.payload,
        )
        actor = Actor(
            "system",
            roles={"system"},
            on_behalf_of=command.actor.id,
            channel=link_channel(command.instance_id),
        )
        child = self._checked(child_id, link.event, actor, payload, None, None)
        if link.kind == "start":
            return child, self._decide(self.flows[link.flow], head, child)
        if head is not None and head.flow != link.flow:
            reason = Reason(
                code="link_flow",
                message=f"{child_id} is a {head.flow}, not a {link.flow}",
                rule="links",
            )
            return child, _Decision(
                flow=None, source=head.state, refusal=errors.IllegalTransition, reasons=(reason,)
            )
        return child, self._decide(None, head, child)

    def _update_deadlines(
        self, tx: StoreTransaction, decision: _Decision, head: Head | None, command: _Command, step: Step
    ) -> None:
        """Set the deadlines of the state entered, keep or move those of a state stayed in."""
        flow, transition = decision.flow, decision.transition
        assert flow is not None
        assert transition is not None
        specs = flow.states[transition.target].deadlines
        if not specs and (head is None or self._plans[flow].keeps_no_deadlines(head)):
            return  # nothing to set, and nothing stored to clear
        current = tx.deadlines_of(command.instance_id) if head is not None else []
        if not specs and not current:
            return
        stayed = head is not None and head.state == transition.target
        before = json.loads(head.data) if head is not None else {}
        # Staying in a state keeps its deadlines, fired ones included (they do not re-arm);
        # a deadline on a data field moves when the field changes; entering a state sets all.
        kept = {d.name: d for d in current} if stayed else {}
        result: list[Deadline] = []
        for spec in specs:
            existing = kept.get(spec.name)
            if existing is not None and spec.name == command.deadline:
                existing = attrs.evolve(existing, status="done")
            moved = spec.field is not None and before.get(spec.field) != decision.data.get(spec.field)
            if existing is not None and not moved:
                result.append(existing)
                continue
            if spec.when is not None and evaluate(
                spec.when, self._context(flow, transition, decision, command)
            ):
                continue
            due = spec.due_at(entered_at=command.now, data=decision.data, params=flow.params)
            if due is not None:
                result.append(
                    Deadline(
                        instance_id=command.instance_id,
                        flow=flow.name,
                        name=spec.name,
                        state=transition.target,
                        due_at=due,
                        event=spec.event,
                        set_seq=step.seq or 0,
                    )
                )
        if result != current:
            tx.set_deadlines(command.instance_id, result)

    def _context(
        self, flow: Flow, transition: Transition, decision: _Decision, command: _Command
    ) -> RuleContext:
        """What a deadline's ``when`` guard sees: the data as the event left it."""
        return RuleContext(
            data=decision.data,
            before=decision.data,
            payload=command.payload,
            params=flow.params,
            now=command.now,
            actor=command.actor,
            instance_id=command.instance_id,
            flow=flow.name,
            state=transition.target,
            event=command.event,
            target=transition.target,
        )

    def _checked(
        self,
        instance_id: str,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> _Command:
        """The command's arguments, checked; unusable ones raise InvalidCommand (nothing is written)."""
        _check_text(instance_id, "the instance id")
        _check_text(event, "the event name")
        _check_actor(actor)
        if idempotency_key is not None:
            _check_text(idempotency_key, "the idempotency key")
        if expected_version is not None and (
            not isinstance(expected_version, int) or isinstance(expected_version, bool)
        ):
            raise errors.InvalidCommand(f"expected_version must be a whole number (got {expected_version!r})")
        if payload is None:
            payload = {}
        elif type(payload) is not dict and not isinstance(payload, Mapping):
            raise errors.InvalidCommand(f"payload must be a mapping (got {type(payload).__name__})")
        payload_text = _payload_text(payload)
        now = self._now()
        return _Command(
            instance_id=instance_id,
            event=event,
            actor=actor,
            payload=payload,
            payload_text=payload_text,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            now=now,
            payload_size=_size(payload, payload_text),
            at=now.isoformat(),  # format_timestamp(now): now is in UTC already
        )

    def _next_head(self, decision: _Decision, head: Head | None, command: _Command, version: int) -> Head:
        assert decision.flow is not None
        assert decision.transition is not None
        at = command.at_text
        return Head(
            id=command.instance_id,
            flow=decision.flow.name,
            flow_version=decision.flow.version,
            flow_hash=decision.flow.content_hash,
            state=decision.transition.target,
            version=version,
            data=_encode_data(decision.data),
            created_at=head.created_at if head else at,
            updated_at=at,
        )

    def _repeat(self, prior: Row) -> Step:
        """The original outcome of a command whose idempotency key was seen; nothing is written."""
        if prior["accepted"]:
            return _step_from_row(prior)
        earlier = [
            row
            for row in self.store.events(prior["instance_id"])
            if row["accepted"] and row["position"] < prior["position"]
        ]
        step = _step_from_row(prior, earlier[-1]["version"] if earlier else 0)
        refusal = _REFUSALS.get(prior["refusal"] or "", errors.TransitionRefused)
        raise refusal(step, step.reasons)

    # --- deciding ------------------------------------------------------------------------

    def _compiled_for(self, flow: Flow) -> CompiledFlow:
        compiled = self._compiled.get(flow.content_hash)
        if compiled is None:
            compiled = self._compiled[flow.content_hash] = CompiledFlow(flow)
        return compiled

    def _flow_of(self, head: Head) -> Flow:
        return self.flows[head.flow]

    def _decide(self, start_flow: Flow | None, head: Head | None, command: _Command) -> _Decision:
        instance_id, expected_version = command.instance_id, command.expected_version
        if start_flow is not None:
            if head is not None:
                reason = Reason(
                    code="instance_exists",
                    message=f"{instance_id} already exists (a {head.flow} in state '{head.state}')",
                    rule="start",
                )
                return _Decision(
                    flow=start_flow, source=head.state, refusal=errors.DuplicateInstance, reasons=(reason,)
                )
            return self._evaluate(start_flow, None, {}, command)
        if head is None:
            reason = Reason(
                code="unknown_instance", message=f"there is no instance {instance_id}", rule="instance"
            )
            return _Decision(flow=None, source=None, refusal=errors.UnknownInstance, reasons=(reason,))
        flow = self.flows[head.flow]
        if expected_version is not None and expected_version != head.version:
            reason = Reason(
                code="version_conflict",
                message=(
                    f"{instance_id} is at version {head.version}, not {expected_version}: someone else "
                    "changed it; reload it and try again"
                ),
                rule="expected_version",
            )
            return _Decision(flow=flow, source=head.state, refusal=errors.VersionConflict, reasons=(reason,))
        return self._evaluate(flow, head.state, _load_data(head.data), command)

    def _evaluate(
        self, flow: Flow, source: str | None, data: Mapping[str, Any], command: _Command
    ) -> _Decision:
        """Decide one command on a known head: the whole check, every reason collected."""
        plans = self._plans[flow]
        plan = plans.event(source, command.event)
        if plan is None:
            return _Decision(
                flow=flow,
                source=source,
                refusal=errors.IllegalTransition,
                reasons=(self._illegal_reason(flow, source, command.event),),
            )
        event, actor, payload = command.event, command.actor, command.payload
        denied = list(map(actor.roles.isdisjoint, plan.roles))  # per branch: the actor holds none
        reasons: list[Reason] = []
        refusal: type[errors.TransitionRefused] | None = None
        if False not in denied:
            reasons.append(_role_reason(event, plan.branches, actor))
            refusal = errors.RoleDenied
        payload_reasons = plan.payload(payload, command.payload_size)
        usable = payload
        if payload_reasons:
            reasons.extend(payload_reasons)
            refusal = refusal or errors.PayloadRejected
            # Guards still judge the rest of a faulty payload, so a refusal lists every problem.
            faulty = {r.field for r in payload_reasons}
            usable = {k: v for k, v in payload.items() if k not in faulty}
        merges = plan.payload.merges(usable)
        prospective = merge_payload(flow, data, usable) if merges else {**data, **usable}
        facts: dict[str, bool] = {}
        verdicts: list[bool] = []
        branch_effects: list[dict[str, Any]] = []
        per_branch: list[list[Reason]] = []
        for branch, role_denied in zip(plan.plans, denied, strict=True):
            found: list[Reason] = []
            effects = apply_effects(branch.transition, prospective, command.now) if branch.effects else {}
            if branch.needs_context:
                found = self._judge(plans, branch, flow, source, data, prospective, effects, command, facts)
            branch_effects.append(effects)
            if role_denied and refusal is not errors.RoleDenied:
                # Only this branch needs another role; say so, so that its reasons are never empty.
                found.insert(0, _role_reason(event, [branch.transition], actor))
            per_branch.append(found)
            verdicts.append(not found)
        if refusal is None:
            index = self._choose(flow, source, event, verdicts, command.deciding_only)
            if index is not None:
                effects = branch_effects[index]
                changes_text = None
                if effects or merges:
                    changes = {key: prospective[key] for key in payload}
                    changes.update(effects)
                else:  # the data took the payload as given: the changes are the payload itself
                    changes = dict(payload)
                    changes_text = command.payload_text
                return _Decision(
                    flow=flow,
                    source=source,
                    transition=plan.branches[index],
                    changes=changes,
                    data={**prospective, **effects} if effects else prospective,
                    guards=facts,
                    changes_text=changes_text,
                )
            refusal = errors.GuardRejected
        # Of several branches, the one closest to passing explains the refusal best.
        closest: list[Reason] = min(per_branch, key=len)
        reasons.extend(closest)
        return _Decision(flow=flow, source=source, refusal=refusal, reasons=_dedupe(reasons), guards=facts)

    def _judge(
        self,
        plans: FlowPlan,
        branch: BranchPlan,
        flow: Flow,
        source: str | None,
        data: Mapping[str, Any],
        prospective: dict[str, Any],
        effects: dict[str, Any],
        command: _Command,
        facts: dict[str, bool],
    ) -> list[Reason]:
        """Every reason one branch's guard, ``unless`` and the flow's invariants give."""
        ctx = RuleContext(
            data=prospective,
            before=data,
            payload=command.payload,
            params=flow.params,
            now=command.now,
            actor=command.actor,
            instance_id=command.instance_id,
            flow=flow.name,
            state=source,
            event=command.event,
            target=branch.target,
        )
        found: list[Reason] = branch.guard(ctx, facts) if branch.guard is not None else []
        if branch.unless is not None:
            found.extend(_unless(branch.unless, ctx, facts))
        if plans.invariants:
            after = ctx.with_data({**prospective, **effects})
            for invariant in plans.invariants:
                found.extend(invariant(after, facts))
        return found

    def _choose(
        self, flow: Flow, source: str | None, event: str, verdicts: list[bool], deciding_only: bool
    ) -> int | None:
        """Which branch the event takes: the flow's machine moves (options() reads it off the table)."""
        if True not in verdicts:
            return None  # no condition can hold: the machine stays where it is
        if deciding_only:
            return verdicts.index(True)  # the machine takes the first branch whose condition holds
        compiled = self._compiled.get(flow.content_hash)
        if compiled is None:
            compiled = self._compiled_for(flow)
        return compiled.choose(source, event, verdicts)

    def _illegal_reason(self, flow: Flow, source: str | None, event: str) -> Reason:
        if source is None:
            starts = ", ".join(flow.events_from(None))
            message = f"'{event}' cannot start a {flow.name}; start events: {starts}"
        elif flow.states[source].terminal:
            label = flow.states[source].label.en
            message = f"the {flow.name} is in its final state '{source}' ({label}) and accepts no more events"
        else:
            possible = ", ".join(flow.events_from(source)) or "none"
            message = f"'{event}' is not possible in state '{source}'; possible now: {possible}"
        return Reason(code="illegal_transition", message=message, rule="flow")

    def _row(self, decision: _Decision, head: Head | None, command: _Command) -> dict[str, Any]:
        actor = command.actor
        flow = decision.flow
        accepted = decision.refusal is None
        return {
            "instance_id": command.instance_id,
            "version": (head.version if head else 0) + 1 if accepted else None,
            "event": command.event,
            "source": decision.source,
            "target": decision.transition.target if accepted and decision.transition else None,
            "accepted": 1 if accepted else 0,
            "refusal": None if accepted else decision.refusal.__name__ if decision.refusal else None,
            "reasons": canonical_json([r.to_dict() for r in decision.reasons]) if decision.reasons else "[]",
            "actor_id": actor.id,
            "actor_roles": _roles_text(actor.roles),
            "on_behalf_of": actor.on_behalf_of,
            "channel": actor.channel,
            "at": command.at_text,
            "payload": command.payload_text,
            "changes": _changes_text(decision),
            "guards": _facts_text(decision.guards),
            "idempotency_key": command.idempotency_key,
            "flow": flow.name if flow else (head.flow if head else ""),
            "flow_version": flow.version if flow else 0,
            "flow_hash": flow.content_hash if flow else "",
        }

    # --- reading -------------------------------------------------------------------------

    def _head(self, instance_id: str) -> Head:
        head = self.store.head(instance_id)
        if head is None:
            raise errors.InstanceNotFound(f"there is no instance {instance_id!r}")
        return head

    def instance(self, instance_id: str) -> Instance:
        """The instance's current head."""
        head = self._head(instance_id)
        return Instance(
            id=head.id,
            flow=head.flow,
            flow_version=head.flow_version,
            state=head.state,
            version=head.version,
            data=json.loads(head.data),
        )

    def options(self, instance: str | Instance, actor: Actor) -> list[Option]:
        """What ``actor`` can do now: each event from the current state, allowed or with reasons.

        Evaluated as if the event carried no payload, so required fields show up as reasons.
        ``instance`` is an instance id (its head is read from the store) or an
        :class:`Instance` already in hand (from :meth:`instance`), decided on as it is: a
        screen showing an order and its next steps reads the order once. Either way the
        answer is advice; :meth:`fire` decides again on the stored head.
        """
        if isinstance(instance, Instance):
            instance_id, state, data = instance.id, instance.state, instance.data
            flow = self.flows[instance.flow]
        else:
            head = self._head(instance)
            instance_id, flow, state, data = instance, self._flow_of(head), head.state, _load_data(head.data)
        plans = self._plans[flow]
        now = self._now()
        quick = type(self)._evaluate is Engine._evaluate  # the table decides as _evaluate does
        result = []
        command: _Command | None = None
        for event in plans.events_from(state):
            option = self._allowed(plans, instance_id, state, data, event, actor, now) if quick else None
            if option is None:
                if command is None:
                    command = _Command(
                        instance_id=instance_id,
                        event=event,
                        actor=actor,
                        payload={},
                        payload_text="{}",
                        expected_version=None,
                        idempotency_key=None,
                        now=now,
                        deciding_only=True,
                    )
                command.event = event  # one command, asked of each event in turn
                option = self._option(flow, state, data, command)
            result.append(option)
        return result

    def _option(self, flow: Flow, state: str, data: Mapping[str, Any], command: _Command) -> Option:
        """One event's option, with every reason when it is refused."""
        decision = self._evaluate(flow, state, data, command)
        transition = decision.transition
        target = transition.target if transition else flow.branches(state, command.event)[0].target
        return Option(
            event=command.event, target=target, allowed=decision.refusal is None, reasons=decision.reasons
        )

    def _allowed(
        self,
        plans: FlowPlan,
        instance_id: str,
        state: str,
        data: Mapping[str, Any],
        event: str,
        actor: Actor,
        now: datetime,
    ) -> Option | None:
        """The option of an event the actor may take now, read off the flow's tables; None otherwise.

        The branch :meth:`_evaluate` would choose is the first one whose roles include one of
        the actor's and whose rules all hold; no reason is needed when there is one. When
        there is none (or a required field is missing), None: :meth:`_option` says why.
        """
        plan = plans.event(state, event)
        if plan is None or plan.payload.required:
            return None
        flow = plans.flow
        prospective = {**data}
        for branch in plan.plans:
            if actor.roles.isdisjoint(branch.roles):
                continue
            if branch.needs_context:
                ctx = RuleContext(
                    data=prospective,
                    before=data,
                    payload={},
                    params=flow.params,
                    now=now,
                    actor=actor,
                    instance_id=instance_id,
                    flow=flow.name,
                    state=state,
                    event=event,
                    target=branch.target,
                )
                if branch.guard is not None and branch.guard(ctx, None):
                    continue
                if branch.unless is not None and _unless(branch.unless, ctx, None):
                    continue
                if plans.invariants and not self._invariants_hold(plans, branch, ctx, prospective, now):
                    continue
            return Option(event=event, target=branch.target, allowed=True)
        return None

    @staticmethod
    def _invariants_hold(
        plans: FlowPlan, branch: BranchPlan, ctx: RuleContext, prospective: dict[str, Any], now: datetime
    ) -> bool:
        """Whether the flow's invariants hold on the data as the branch would leave it."""
        effects = apply_effects(branch.transition, prospective, now) if branch.effects else {}
        after = ctx.with_data({**prospective, **effects})
        return not any(invariant(after, None) for invariant in plans.invariants)

    def history(self, instance_id: str) -> list[AuditEvent]:
        """Every audit event of the instance in order, refused attempts included."""
        return [_event_from_row(row) for row in self.store.events(instance_id)]

    def replay(self, instance_id: str) -> Instance:
        """The instance rebuilt from its audit events alone (the head is not read)."""
        rows = [row for row in self.store.events(instance_id) if row["accepted"]]
        if not rows:
            raise errors.InstanceNotFound(f"there is no instance {instance_id!r}")
        data: dict[str, Any] = {}
        for row in rows:
            data.update(json.loads(row["changes"]))
        last = rows[-1]
        return Instance(
            id=instance_id,
            flow=last["flow"],
            flow_version=last["flow_version"],
            state=last["target"],
            version=last["version"],
            data=data,
        )

    # --- time ----------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[Deadline]:
        """Pending deadlines due at ``now`` (the clock's now by default), earliest first."""
        return self.store.due(now if now is not None else self._now())

    def tick(self, now: datetime | None = None) -> list[Step]:
        """Fire every deadline due at ``now`` exactly once, as the ``system`` actor.

        Each deadline runs in its own transaction that re-checks it is still pending, so two
        processes ticking at once, or a tick repeated after a crash, fire it once. A deadline
        whose event is refused is marked done (the refusal is audited) and not retried.
        Returns the accepted steps.
        """
        steps = []
        for deadline in self.due(now):
            step = self._fire_deadline(deadline)
            if step is not None:
                steps.append(step)
        return steps

    def _fire_deadline(self, deadline: Deadline) -> Step | None:
        with self.store.write() as tx:
            pending = {d.name: d for d in tx.deadlines_of(deadline.instance_id)}
            current = pending.get(deadline.name)
            if current is None or current.status != "pending" or current.set_seq != deadline.set_seq:
                return None  # fired by another process, or moved or cleared since it was listed
            head = tx.head(deadline.instance_id)
            spec = _spec_of(self.flows, head, deadline)
            if (
                head is not None
                and spec is not None
                and spec.when is not None
                and not self._still_applies(head, spec)
            ):
                # 'when' no longer holds (what it waited for was recorded meanwhile): done, silently.
                tx.set_deadlines(
                    deadline.instance_id,
                    [
                        attrs.evolve(d, status="done") if d.name == deadline.name else d
                        for d in pending.values()
                    ],
                )
                return None
            if head is None or spec is None:
                tx.set_deadlines(
                    deadline.instance_id, [d for d in pending.values() if d.name != deadline.name]
                )
                return None
            # A deadline event is never recorded before it was due: tick(now) with a 'now' ahead
            # of the clock (catching up, or a simulation) stamps it with its due time instead.
            moment = max(self._now(), deadline.due_at)
            payload = (
                _fill(spec.payload, moment)
                if spec.fire
                else {"deadline": spec.name, "due_at": deadline.due_at.isoformat()}
            )
            command = attrs.evolve(
                self._checked(
                    deadline.instance_id,
                    spec.event,
                    SYSTEM,
                    payload,
                    None,
                    f"deadline:{deadline.instance_id}:{deadline.name}:{deadline.set_seq}",
                ),
                deadline=deadline.name,
                now=moment,
                at=format_timestamp(moment),
            )
            decision = None if spec.fire else _breach(self._flow_of(head), head, spec)
            step, refused = self._execute(tx, None, command, decision)
            if refused is not None:
                tx.set_deadlines(
                    deadline.instance_id,
                    [
                        attrs.evolve(d, status="done") if d.name == deadline.name else d
                        for d in pending.values()
                    ],
                )
                return None
            return step

    # --- scans ---------------------------------------------------------------------------

    def scan(self, now: datetime | None = None, *, vehicles: VehicleRecords | None = None) -> list[Step]:
        """Open reminder outreach and lost-customer cases that are due; returns the steps started.

        For each vehicle: an ``appointment`` (``create_outreach``) when its first or regular
        service falls due within the brand's ``reminder_lead_days``, and a
        ``lost_customer_case`` when it has not been seen for ``lost_customer_days``. Each is
        opened once per vehicle and due date (or last visit): scanning again opens nothing new.
        """
        source = vehicles if vehicles is not None else self.vehicles
        if source is None:
            raise errors.InvalidCommand(
                "scan() needs vehicle records: Engine(..., vehicles=...) or scan(vehicles=...)"
            )
        moment = now if now is not None else self._now()
        steps = []
        for record in source.records():
            for opened in (self._scan_service(record, moment), self._scan_lost(record, moment)):
                if opened is not None:
                    steps.append(opened)
        return steps

    def _open_once(self, flow: str, instance_id: str, event: str, payload: dict[str, Any]) -> Step | None:
        if self.store.head(instance_id) is not None or self.store.events(instance_id):
            return None  # opened (or tried) by an earlier scan
        try:
            return self.start(
                flow,
                instance_id,
                event=event,
                actor=SYSTEM,
                payload=payload,
                idempotency_key=f"scan:{instance_id}",
            )
        except errors.TransitionRefused:
            return None  # audited; the scan goes on with the next vehicle

    def _scan_service(self, record: ServiceRecord, now: datetime) -> Step | None:
        flow = self.flows.flows.get("appointment")
        if flow is None:
            return None
        params = thaw(flow.params)
        origin, due = service_due(record, params)
        today = to_local(now, params.get("timezone")).date()
        fewest, most = min(params["reminder_lead_days"]), max(params["reminder_lead_days"])
        if not due - timedelta(days=most) <= today <= due:
            return None
        payload: dict[str, Any] = {
            "origin": origin,
            "customer": thaw(record.customer),
            "vehicle": {"vin": record.vin, **thaw(record.vehicle)},
            "service_due_date": due.isoformat(),
            "sale_date": record.sale_date.isoformat(),
        }
        if record.last_service_date is not None:
            payload["last_service_date"] = record.last_service_date.isoformat()
        if record.last_service_km is not None:
            payload["last_service_mileage"] = int(record.last_service_km)
        if record.mileage is not None:
            payload["mileage"] = int(record.mileage)
        if (due - today).days < fewest:
            payload["lead_time_override_reason"] = (
                f"found by the reminder scan {(due - today).days} days before due"
            )
        return self._open_once(
            "appointment", f"OUT-{record.vin}-{due.isoformat()}", "create_outreach", payload
        )

    def _scan_lost(self, record: ServiceRecord, now: datetime) -> Step | None:
        flow = self.flows.flows.get("lost_customer_case")
        if flow is None:
            return None
        params = thaw(flow.params)
        today = to_local(now, params.get("timezone")).date()
        unseen = (today - record.last_seen).days
        if unseen < params["lost_customer_days"]:
            return None
        payload = {
            "customer": thaw(record.customer),
            "vehicle": {"vin": record.vin, **thaw(record.vehicle)},
            "last_visit_on": record.last_seen.isoformat(),
            "churn_tier": "lost" if unseen >= params["lost_after_days"] else "at_risk",
        }
        return self._open_once(
            "lost_customer_case",
            f"LC-{record.vin}-{record.last_seen.isoformat()}",
            "customer_identified",
            payload,
        )

    def _still_applies(self, head: Head, spec: DeadlineSpec) -> bool:
        """Whether a deadline's ``when`` guard still holds on the instance's current data."""
        flow = self._flow_of(head)
        data = json.loads(head.data)
        ctx = RuleContext(
            data=data,
            before=data,
            payload={},
            params=flow.params,
            now=self._now(),
            actor=SYSTEM,
            instance_id=head.id,
            flow=flow.name,
            state=head.state,
            event=spec.event,
            target=head.state,
        )
        return spec.when is None or not evaluate(spec.when, ctx)

    def children(self, instance_id: str) -> list[str]:
        """The instances this instance's events started, in the order they were started."""
        return [
            row["child_id"]
            for row in self.store.links(instance_id)
            if row["parent_id"] == instance_id and row["kind"] == "start"
        ]

    def parent(self, instance_id: str) -> str | None:
        """The instance whose event started this one, or None."""
        for row in self.store.links(instance_id):
            if row["child_id"] == instance_id and row["kind"] == "start":
                return str(row["parent_id"])
        return None

    def events_since(self, seq: int, limit: int = 1000) -> list[AuditEvent]:
        """Audit events after global sequence number ``seq``: the outbox subscribers read."""
        return [_event_from_row(row) for row in self.store.events_since(seq, limit)]

    def verify(
        self, checkpoint: Checkpoint | None = None, *, secret: bytes | str | None = None
    ) -> VerifyReport:
        """Check every chain, version sequence and head against the audit events.

        With a ``checkpoint`` (and the ``secret`` it was sealed with), also find chains cut
        short, instances deleted whole and chains rewritten from scratch since it was taken.
        """
        if checkpoint is None:
            return verify_store(self.store)
        if secret is None:
            raise errors.InvalidCommand("verifying against a checkpoint needs the secret it was sealed with")
        if not checkpoint.sealed_by(secret):
            problem = VerifyProblem(
                instance_id="*",
                kind="checkpoint",
                message="the checkpoint's seal does not match: it was altered, or sealed with another secret",
            )
            return VerifyReport(ok=False, checked=0, instances=0, problems=(problem,))
        return verify_store(self.store, checkpoint.chains)

    def checkpoint(self, secret: bytes | str) -> Checkpoint:
        """Seal every chain's length and last hash with an HMAC of ``secret`` (keep it outside the store)."""
        return Checkpoint.take(format_timestamp(self._now()), self.store.chain_heads(), secret)
