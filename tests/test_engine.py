"""The engine: the design.md API, enforcement, refusals audited before they are raised."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
import repair_order_steps as steps
from aftersales_flow._machine import CompiledFlow
from aftersales_flow.engine import _Command, _Decision
from aftersales_flow.testing import SimulatedClock

MINI = """\
flow: mini
version: 3
label: {en: Mini, zh: 迷你}
roles: [service_advisor, technician, system]
params: {limit: 2}
fields:
  note: string
  ok: boolean
  count: integer
  touched_at: datetime
  lines: {type: list, key: line_id}
  kind: {type: string, values: [a, b]}
start:
  - {event: open, to: a, roles: [service_advisor], accepts: [note, kind]}
states:
  a: {label: {en: A, zh: 甲}}
  b: {label: {en: B, zh: 乙}}
  c: {label: {en: C, zh: 丙}}
  done: {terminal: true, label: {en: Done, zh: 完}}
transitions:
  - {event: go, from: a, to: b, roles: [service_advisor], requires: [ok], guard: {rule: field_true, field: ok}}
  - {event: go, from: a, to: c, roles: [service_advisor], requires: [ok], increment: [count], stamp: [touched_at],
     set: {note: via c}}
  - event: finish
    from: [b, c]
    to: done
    roles: [technician]
    accepts: [lines, note]
    guard:
      all:
        - {rule: field_present, field: note}
        - {rule: count_where, field: lines, op: ">=", value: {param: limit}}
"""

SA = af.Actor("sa-1", roles={"service_advisor"})
TECH = af.Actor("tech-1", roles={"technician"})


@pytest.fixture
def mini(tmp_path: Path, clock: SimulatedClock) -> af.Engine:
    path = tmp_path / "mini.yaml"
    path.write_text(MINI, encoding="utf-8")
    flow = af.load_flow(path)
    return af.Engine(af.FlowSet({"mini": flow}), af.SQLiteStore(":memory:"), clock=clock)


def dump(engine: af.Engine) -> tuple[list[object], list[object]]:
    store = engine.store
    assert isinstance(store, af.SQLiteStore)
    heads = [tuple(r) for r in store.db.execute("SELECT * FROM instances ORDER BY id").fetchall()]
    accepted = [tuple(r) for r in store.db.execute("SELECT * FROM events WHERE accepted = 1").fetchall()]
    return heads, accepted


def test_start_returns_a_step_and_creates_the_head(mini: af.Engine, clock: SimulatedClock) -> None:
    """start() returns a frozen Step and the instance exists at version 1 in the target state."""
    step = mini.start("mini", "M-1", event="open", actor=SA, payload={"note": "hi"})
    assert (step.instance_id, step.flow, step.flow_version, step.event) == ("M-1", "mini", 3, "open")
    assert (step.source, step.target, step.version, step.accepted, step.reasons) == (None, "a", 1, True, ())
    assert step.actor == SA and step.at == clock()
    with pytest.raises(AttributeError):
        step.version = 2  # type: ignore[misc]
    assert mini.instance("M-1") == af.Instance(
        id="M-1", flow="mini", flow_version=3, state="a", version=1, data={"note": "hi"}
    )


def test_every_event_records_the_flow_name_version_and_hash(mini: af.Engine) -> None:
    """History names the exact definition each event ran under."""
    mini.start("mini", "M-1", event="open", actor=SA)
    event = mini.history("M-1")[0]
    flow = mini.flows["mini"]
    assert (event.flow, event.flow_version, event.flow_hash) == ("mini", 3, flow.content_hash)
    store = mini.store
    assert isinstance(store, af.SQLiteStore)
    assert store.flow_definition(flow.content_hash) is not None


def test_branches_pick_the_one_whose_guard_holds_and_apply_effects(
    mini: af.Engine, clock: SimulatedClock
) -> None:
    """An event with two branches takes the first whose guard holds; set, increment and stamp apply."""
    mini.start("mini", "M-1", event="open", actor=SA)
    step = mini.fire("M-1", "go", actor=SA, payload={"ok": False})
    assert step.target == "c"
    data = mini.instance("M-1").data
    assert data == {"ok": False, "count": 1, "touched_at": clock().isoformat(), "note": "via c"}
    mini.start("mini", "M-2", event="open", actor=SA)
    assert mini.fire("M-2", "go", actor=SA, payload={"ok": True}).target == "b"


def test_refusal_lists_every_reason_role_payload_and_guards(mini: af.Engine) -> None:
    """A refused event lists the role, payload and every failing guard, classed by the first kind."""
    mini.start("mini", "M-1", event="open", actor=SA)
    mini.fire("M-1", "go", actor=SA, payload={"ok": True})
    with pytest.raises(af.RoleDenied) as refused:
        mini.fire("M-1", "finish", actor=SA, payload={"lines": [{"line_id": "L1"}], "bogus": 1})
    assert [(r.code, r.field) for r in refused.value.reasons] == [
        ("role_denied", None),
        ("undeclared_field", "bogus"),
        ("field_present", None),
        ("count_where", None),
    ]
    assert [r.message for r in refused.value.reasons] == [
        "'finish' needs one of the roles technician; sa-1 holds service_advisor",
        "'finish' does not take the field 'bogus'; it takes: lines, note",
        "'note' is not recorded",
        "the number of 'lines' entries must be at least 2 (it is 1)",
    ]


def test_refusal_is_audited_before_it_is_raised(mini: af.Engine) -> None:
    """When the refusal reaches the caller, the audit store already holds it."""
    mini.start("mini", "M-1", event="open", actor=SA)
    try:
        mini.fire("M-1", "finish", actor=TECH)
    except af.IllegalTransition as refusal:
        last = mini.history("M-1")[-1]
        assert (last.event, last.accepted, last.reasons) == ("finish", False, refusal.reasons)
        assert refusal.step.seq == last.seq and refusal.step.accepted is False
    else:
        pytest.fail("finish from 'a' must be refused")


def test_refusal_changes_nothing_but_the_audit_log(mini: af.Engine) -> None:
    """Heads and accepted events are identical before and after a refused command."""
    mini.start("mini", "M-1", event="open", actor=SA)
    before = dump(mini)
    count = len(mini.history("M-1"))
    with pytest.raises(af.PayloadRejected):
        mini.fire("M-1", "go", actor=SA, payload={"ok": "yes"})
    assert dump(mini) == before
    assert len(mini.history("M-1")) == count + 1


def test_payload_types_and_enumerations_are_checked(mini: af.Engine) -> None:
    """A wrong type or a value outside the declared values is refused, naming the field."""
    with pytest.raises(af.PayloadRejected) as refused:
        mini.start("mini", "M-1", event="open", actor=SA, payload={"note": 5, "kind": "z"})
    assert [r.message for r in refused.value.reasons] == [
        "'note' must be text (got 5)",
        "'kind' must be one of a, b (got 'z')",
    ]


def test_missing_required_field_is_named(mini: af.Engine) -> None:
    """A required payload field that is absent is refused with its name."""
    mini.start("mini", "M-1", event="open", actor=SA)
    with pytest.raises(af.PayloadRejected) as refused:
        mini.fire("M-1", "go", actor=SA)
    # Of the two branches, the unguarded one (to 'c') is closest: only the missing field is named.
    assert [(r.code, r.field, r.message) for r in refused.value.reasons] == [
        ("missing_field", "ok", "'go' must record 'ok'"),
    ]


def test_unknown_instance_is_refused_and_audited(mini: af.Engine) -> None:
    """Firing on an id with no instance raises UnknownInstance and the attempt is in its history."""
    with pytest.raises(af.UnknownInstance) as refused:
        mini.fire("NOPE", "go", actor=SA, payload={"ok": True})
    assert refused.value.reasons[0].message == "there is no instance NOPE"
    assert [(e.event, e.accepted) for e in mini.history("NOPE")] == [("go", False)]
    with pytest.raises(af.InstanceNotFound):
        mini.instance("NOPE")
    assert mini.verify().ok


def test_duplicate_start_is_refused(mini: af.Engine) -> None:
    """Starting an id that exists raises DuplicateInstance and leaves the instance as it was."""
    mini.start("mini", "M-1", event="open", actor=SA)
    with pytest.raises(af.DuplicateInstance) as refused:
        mini.start("mini", "M-1", event="open", actor=SA)
    assert refused.value.reasons[0].message == "M-1 already exists (a mini in state 'a')"
    assert mini.instance("M-1").version == 1


def test_unknown_start_event_and_flow(mini: af.Engine) -> None:
    """A start event the flow does not have is an IllegalTransition; an unknown flow a KeyError."""
    with pytest.raises(af.IllegalTransition) as refused:
        mini.start("mini", "M-1", event="go", actor=SA)
    assert refused.value.reasons[0].message == "'go' cannot start a mini; start events: open"
    with pytest.raises(af.UnknownFlowError, match="unknown flow 'nope'; loaded flows: mini"):
        mini.start("nope", "M-1", event="open", actor=SA)


def test_terminal_state_absorbs(mini: af.Engine) -> None:
    """A terminal state accepts no event."""
    mini.start("mini", "M-1", event="open", actor=SA)
    mini.fire("M-1", "go", actor=SA, payload={"ok": True})
    mini.fire(
        "M-1", "finish", actor=TECH, payload={"note": "n", "lines": [{"line_id": "1"}, {"line_id": "2"}]}
    )
    with pytest.raises(af.IllegalTransition, match="final state 'done'"):
        mini.fire("M-1", "finish", actor=TECH)


def test_expected_version(mini: af.Engine) -> None:
    """A matching expected_version is accepted; a stale one raises VersionConflict, audited."""
    mini.start("mini", "M-1", event="open", actor=SA)
    assert mini.fire("M-1", "go", actor=SA, payload={"ok": True}, expected_version=1).version == 2
    with pytest.raises(af.VersionConflict) as refused:
        mini.fire("M-1", "finish", actor=TECH, expected_version=1)
    assert "is at version 2, not 1" in refused.value.reasons[0].message
    assert mini.history("M-1")[-1].reasons == refused.value.reasons


def test_idempotency_key_returns_the_original_step(mini: af.Engine) -> None:
    """The same idempotency key returns the first step and writes nothing."""
    first = mini.start("mini", "M-1", event="open", actor=SA, idempotency_key="k-1")
    again = mini.start("mini", "M-1", event="open", actor=SA, idempotency_key="k-1")
    assert again == first
    assert len(mini.history("M-1")) == 1


def test_options_say_what_the_actor_can_do(mini: af.Engine) -> None:
    """options() lists the events from the current state, allowed or with reasons, writing nothing."""
    mini.start("mini", "M-1", event="open", actor=SA, payload={"note": "x"})
    mini.fire("M-1", "go", actor=SA, payload={"ok": True})
    options = mini.options("M-1", TECH)
    assert options == [
        af.Option(
            event="finish",
            target="done",
            allowed=False,
            reasons=(
                af.Reason(
                    code="count_where",
                    message="the number of 'lines' entries must be at least 2 (it is 0)",
                    rule="count_where",
                ),
            ),
        )
    ]
    assert len(mini.history("M-1")) == 2
    assert mini.options("M-1", SA)[0].reasons[0].code == "role_denied"


def test_replay_equals_instance(mini: af.Engine) -> None:
    """replay() rebuilds the head from the events alone."""
    mini.start("mini", "M-1", event="open", actor=SA)
    mini.fire("M-1", "go", actor=SA, payload={"ok": False})
    with pytest.raises(af.GuardRejected):
        mini.fire("M-1", "finish", actor=TECH, payload={"note": "x"})
    mini.fire("M-1", "finish", actor=TECH, payload={"lines": [{"line_id": "1"}, {"line_id": "2"}]})
    assert mini.replay("M-1") == mini.instance("M-1")


def test_keyed_lists_merge_by_key(mini: af.Engine) -> None:
    """A keyed list field updates items with the same key and appends new ones."""
    mini.start("mini", "M-1", event="open", actor=SA)
    mini.fire("M-1", "go", actor=SA, payload={"ok": True})
    with pytest.raises(af.GuardRejected):
        mini.fire("M-1", "finish", actor=TECH, payload={"lines": [{"line_id": "1", "x": 1}]})
    mini.fire(
        "M-1",
        "finish",
        actor=TECH,
        payload={"note": "n", "lines": [{"line_id": "1", "x": 1}, {"line_id": "2", "x": 2}]},
    )
    assert mini.instance("M-1").data["lines"] == [{"line_id": "1", "x": 1}, {"line_id": "2", "x": 2}]


def test_events_since_is_the_outbox(mini: af.Engine) -> None:
    """events_since(seq) returns later audit events in order, refusals included."""
    mini.start("mini", "M-1", event="open", actor=SA)
    with pytest.raises(af.TransitionRefused):
        mini.fire("M-1", "finish", actor=TECH)
    mini.fire("M-1", "go", actor=SA, payload={"ok": True})
    events = mini.events_since(1)
    assert [(e.seq, e.event, e.accepted) for e in events] == [(2, "finish", False), (3, "go", True)]
    assert mini.events_since(0, limit=1)[0].seq == 1


@pytest.mark.parametrize(
    ("instance_id", "actor", "payload", "message"),
    [
        ("", SA, None, "the instance id must be non-empty text"),
        ("x" * 201, SA, None, "at most 200 characters"),
        ("M\n1", SA, None, "must not contain control characters"),
        ("M-1", "sa-1", None, "actor must be an af.Actor"),
        ("M-1", SA, ["note"], "payload must be a mapping"),
        ("M-1", SA, {"note": object()}, "payload must hold plain data"),
    ],
)
def test_unusable_commands_raise_invalid_command(
    mini: af.Engine, instance_id: str, actor: object, payload: object, message: str
) -> None:
    """Unusable arguments raise InvalidCommand naming the problem, and nothing is written."""
    with pytest.raises(af.InvalidCommand, match=message):
        mini.start("mini", instance_id, event="open", actor=actor, payload=payload)  # type: ignore[arg-type]
    store = mini.store
    assert isinstance(store, af.SQLiteStore)
    assert store.count_events() == 0


def test_clock_must_be_aware(tmp_path: Path) -> None:
    """A clock returning naive datetimes is rejected with a clear error."""
    path = tmp_path / "mini.yaml"
    path.write_text(MINI, encoding="utf-8")
    engine = af.Engine(
        af.FlowSet({"mini": af.load_flow(path)}), af.SQLiteStore(), clock=lambda: datetime(2026, 1, 1)
    )
    with pytest.raises(af.InvalidCommand, match="without a time zone"):
        engine.start("mini", "M-1", event="open", actor=SA)


def test_one_shared_static_machine_per_flow_version(mini: af.Engine) -> None:
    """Instances share one compiled transitions Machine with no models attached."""
    for number in range(5):
        mini.start("mini", f"M-{number}", event="open", actor=SA)
        mini.fire(f"M-{number}", "go", actor=SA, payload={"ok": True})
    compiled = list(mini._compiled.values())
    assert len(compiled) == 1
    assert isinstance(compiled[0], CompiledFlow)
    assert compiled[0].machine.models == []
    assert compiled[0].machine.auto_transitions is False


def test_integrator_rule_registry(tmp_path: Path) -> None:
    """An integrator's own registry adds rules a flow can name; its reasons reach the caller."""
    registry = af.RuleRegistry(af.rules.DEFAULT_REGISTRY)

    @registry.rule("plate_is_local", description="the plate is from Guangdong")
    def plate_is_local(ctx: af.RuleContext) -> str | None:
        return None if str(ctx.get("note")).startswith("粤") else "the plate is not from Guangdong"

    path = tmp_path / "mini.yaml"
    path.write_text(
        MINI.replace("accepts: [note, kind]}", "accepts: [note, kind], guard: plate_is_local}"),
        encoding="utf-8",
    )
    with pytest.raises(af.UnknownRuleError):
        af.load_flow(path)
    engine = af.Engine(af.FlowSet({"mini": af.load_flow(path, rules=registry)}), af.SQLiteStore())
    with pytest.raises(af.GuardRejected, match="the plate is not from Guangdong"):
        engine.start("mini", "M-1", event="open", actor=SA, payload={"note": "京A"})
    assert engine.start("mini", "M-2", event="open", actor=SA, payload={"note": "粤A"}).target == "a"


def test_guard_facts_are_recorded(mini: af.Engine) -> None:
    """Each audited event records the guard facts it evaluated."""
    mini.start("mini", "M-1", event="open", actor=SA)
    mini.fire("M-1", "go", actor=SA, payload={"ok": False})
    assert mini.history("M-1")[1].guards == {"field_true(field='ok')": False}
    store = mini.store
    assert isinstance(store, af.SQLiteStore)
    raw = store.events("M-1")[1]
    assert json.loads(raw["guards"]) == {"field_true(field='ok')": False}


def test_branch_needing_another_role_still_gives_reasons(tmp_path: Path) -> None:
    """When the only branch whose guard holds needs another role, the refusal names that role."""
    text = MINI.replace(
        "  - {event: go, from: a, to: c, roles: [service_advisor], requires: [ok],",
        "  - {event: go, from: a, to: c, roles: [technician], requires: [ok],",
    )
    path = tmp_path / "mini.yaml"
    path.write_text(text, encoding="utf-8")
    engine = af.Engine(af.FlowSet({"mini": af.load_flow(path)}), af.SQLiteStore())
    engine.start("mini", "M-1", event="open", actor=SA)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("M-1", "go", actor=SA, payload={"ok": False})
    assert [r.message for r in refused.value.reasons] == ["'ok' is not confirmed (it is False)"]
    assert engine.fire("M-1", "go", actor=TECH, payload={"ok": False}).target == "c"


def test_a_batch_commits_many_commands_together(mini: af.Engine) -> None:
    """Commands in a batch commit at the end; a refusal inside is raised, audited, and the batch goes on."""
    with mini.batch() as batch:
        for number in range(3):
            batch.start("mini", f"B-{number}", event="open", actor=SA)
        with pytest.raises(af.IllegalTransition):
            batch.fire("B-0", "finish", actor=TECH)
        batch.fire("B-1", "go", actor=SA, payload={"ok": True})
    assert [s.instance_id for s in batch.steps] == ["B-0", "B-1", "B-2", "B-1"]
    assert mini.instance("B-1").state == "b"
    assert [e.accepted for e in mini.history("B-0")] == [True, False]
    assert mini.verify().ok


def test_an_exception_leaving_a_batch_writes_nothing(mini: af.Engine) -> None:
    """If an exception leaves the batch, none of its commands (refusals included) is written."""

    def aborted_import() -> None:
        with mini.batch() as batch:
            batch.start("mini", "B-9", event="open", actor=SA)
            raise RuntimeError("import aborted")

    with pytest.raises(RuntimeError):
        aborted_import()
    assert mini.history("B-9") == []


def test_options_on_an_instance_in_hand_equal_options_by_id(mini: af.Engine) -> None:
    """options() on an af.Instance decides on that head, exactly as options() by id does."""
    mini.start("mini", "M-1", event="open", actor=SA, payload={"note": "x"})
    mini.start("mini", "M-2", event="open", actor=SA)
    mini.fire("M-2", "go", actor=SA, payload={"ok": True})
    for instance_id in ("M-1", "M-2"):
        for actor in (SA, TECH, af.Actor("nobody")):
            assert mini.options(mini.instance(instance_id), actor) == mini.options(instance_id, actor)


class _FullDecisionEngine(af.Engine):
    """Answers options() through the full decision only (an override of _evaluate turns the table off)."""

    def _evaluate(
        self, flow: af.Flow, source: str | None, data: Mapping[str, Any], command: _Command
    ) -> _Decision:
        return super()._evaluate(flow, source, data, command)


def _same_options(engine: af.Engine, full: af.Engine, instance_id: str, actors: list[af.Actor]) -> None:
    for actor in actors:
        assert engine.options(instance_id, actor) == full.options(instance_id, actor), (instance_id, actor)


def test_options_read_off_the_table_equal_the_full_decision(flows: af.FlowSet, clock: SimulatedClock) -> None:
    """In every state of a repair order's walk, and for every role, options() says what the full decision says."""
    store = af.SQLiteStore(":memory:")
    engine = af.Engine(flows, store, clock=clock)
    full = _FullDecisionEngine(flows, store, clock=clock)
    roles = sorted(set().union(*(flow.roles for flow in flows)))
    actors = [af.Actor(f"{role}-1", roles={role}) for role in roles] + [af.Actor("nobody")]
    steps.open_order(engine, "RO-1")
    _same_options(engine, full, "RO-1", actors)
    for event, actor, payload in steps.HAPPY_PATH:
        clock.advance("10m")
        engine.fire("RO-1", event, actor=actor, payload=payload(clock))
        _same_options(engine, full, "RO-1", actors)
    for flow in flows:
        for number, start in enumerate(flow.starts):
            with contextlib.suppress(af.TransitionRefused):
                engine.start(
                    flow.name,
                    f"{flow.name}-{number}",
                    event=start.event,
                    actor=af.Actor("x", roles=start.roles),
                )
                _same_options(engine, full, f"{flow.name}-{number}", actors)


def test_a_batch_firing_one_instance_again_and_again_keeps_its_chain(mini: af.Engine) -> None:
    """Many commands on one instance in one batch number and chain their rows as separate commands would."""
    with mini.batch() as batch:
        batch.start("mini", "B-1", event="open", actor=SA)
        for _ in range(3):
            with pytest.raises(af.IllegalTransition):
                batch.fire("B-1", "finish", actor=TECH)
        batch.fire("B-1", "go", actor=SA, payload={"ok": True})
    history = mini.history("B-1")
    assert [(e.position, e.version, e.accepted) for e in history] == [
        (0, 1, True),
        (1, None, False),
        (2, None, False),
        (3, None, False),
        (4, 2, True),
    ]
    assert [e.prev_hash for e in history[1:]] == [e.hash for e in history[:-1]]
    assert mini.verify().ok
