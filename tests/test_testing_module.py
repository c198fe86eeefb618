"""Tests for the property-testing helpers of ``aftersales_flow.testing`` (SimulatedClock: test_testing.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import unittest
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import aftersales_flow as af
import aftersales_flow.testing as testing
from aftersales_flow._payload import _value_problems
from aftersales_flow._testing_data import type_problem
from aftersales_flow._testing_hints import flow_guards, guard_values
from aftersales_flow._testing_machine import deadline_durations
from aftersales_flow._testing_strategies import _exits
from aftersales_flow.model import FIELD_TYPES
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleCall, RuleContext, evaluate
from aftersales_flow.rules._expr import rule_calls
from aftersales_flow.testing import (
    DEFAULT_HINTS,
    FlowPropertyViolation,
    Hints,
    Judge,
    SimulatedClock,
    actors,
    check_flow,
    commands,
    event_sequences,
    field_values,
    flow_machine,
    payloads,
    wrong_values,
)
from conftest import ROOT

QUICK = settings(max_examples=15, stateful_step_count=20, deadline=None, database=None, derandomize=True)

COURTESY_CAR = """\
flow: courtesy_car
version: 1
label: {en: Courtesy car, zh: 代步车}
description: A loan car while the customer's own is in the workshop.
roles: [service_advisor, cashier, system]
params:
  max_days: 3
  deposit: 500
fields:
  customer: object
  days: integer
  plate: string
  licence_checked: boolean
  deposit_paid: number
  handed_over_at: datetime
  return_by: date
  fuel: {type: string, values: [full, half, empty]}
  damage: {type: list, key: item}
  damage_reports: integer
  note: any
start:
  - event: request
    to: requested
    roles: [service_advisor]
    requires: [customer, days]
    accepts: [note, return_by]
    guard: {rule: field_compare, field: days, op: "<=", value: {param: max_days}}
    label: {en: Loan requested, zh: 申请代步车}
states:
  requested:
    label: {en: Requested, zh: 已申请}
    deadlines:
      - {name: pick_up_window, after: 1d, fire: cancel, payload: {note: not picked up}}
  handed_over:
    label: {en: With the customer, zh: 客户使用中}
    deadlines:
      - {name: return_due, after: 3d}
  returned: {terminal: true, label: {en: Returned, zh: 已归还}}
  cancelled: {terminal: true, label: {en: Cancelled, zh: 已取消}}
transitions:
  - event: hand_over
    from: requested
    to: handed_over
    roles: [service_advisor]
    requires: [plate, licence_checked, deposit_paid]
    accepts: [handed_over_at, fuel]
    guard:
      all:
        - {rule: field_true, field: licence_checked}
        - {rule: field_compare, field: deposit_paid, op: ">=", value: {param: deposit}}
    label: {en: Car handed over, zh: 交车}
  - event: record_damage
    from: handed_over
    to: handed_over
    roles: [service_advisor]
    requires: [damage]
    increment: [damage_reports]
    label: {en: Damage recorded, zh: 记录损伤}
  - event: give_back
    from: handed_over
    to: returned
    roles: [service_advisor, cashier]
    requires: [fuel]
    guard: {rule: field_in, field: fuel, values: [full, half]}
    unless: {rule: count_where, field: damage, op: ">", value: 0, where: {open: true}}
    label: {en: Car given back, zh: 还车}
  - event: cancel
    from: requested
    to: cancelled
    roles: [service_advisor, system]
    accepts: [note]
    label: {en: Loan cancelled, zh: 取消}
"""
"""A small flow using every field type, builtin guards, an ``unless``, a fired and a breach deadline."""

ADVISOR = af.Actor("sa-1", roles={"service_advisor"})
REQUEST = {"customer": {"name": "Li Wei"}, "days": 2}
HAND_OVER = {"plate": "京A-1", "licence_checked": True, "deposit_paid": 500}
ALL_TYPES = [af.FieldSpec(name=kind, type=kind) for kind in FIELD_TYPES] + [
    af.FieldSpec(name="fuel", type="string", values=("full", "half")),
    af.FieldSpec(name="kit", type="list", values=("seat", "mat")),
    af.FieldSpec(name="lines", type="list", key="line_id"),
]


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> af.FlowSet:
    """The courtesy-car flow, alone in its set."""
    path = tmp_path_factory.mktemp("flows") / "courtesy_car.yaml"
    path.write_text(COURTESY_CAR, encoding="utf-8")
    flow = af.load_flow(path)
    return af.FlowSet({flow.name: flow})


@pytest.fixture
def car_engine(car: af.FlowSet, clock: SimulatedClock) -> Iterator[af.Engine]:
    """An engine on the courtesy-car flow, an in-memory store and the simulated clock."""
    with af.SQLiteStore(":memory:") as store:
        yield af.Engine(car, store, clock=clock)


def lifecycle(engine: af.Engine, clock: SimulatedClock) -> None:
    """Two loans: one refused then handed over, breached and given back; one cancelled by its deadline."""
    engine.start("courtesy_car", "CC-1", event="request", actor=ADVISOR, payload=REQUEST)
    with pytest.raises(af.GuardRejected):
        engine.fire("CC-1", "hand_over", actor=ADVISOR, payload={**HAND_OVER, "deposit_paid": 100})
    engine.fire("CC-1", "hand_over", actor=ADVISOR, payload=HAND_OVER)
    engine.start("courtesy_car", "CC-2", event="request", actor=ADVISOR, payload=REQUEST)
    clock.advance("1d")
    engine.tick()
    clock.advance("3d")
    engine.tick()
    engine.fire("CC-1", "record_damage", actor=ADVISOR, payload={"damage": [{"item": "door", "open": True}]})
    with pytest.raises(af.GuardRejected):
        engine.fire("CC-1", "give_back", actor=ADVISOR, payload={"fuel": "full"})
    engine.fire("CC-1", "record_damage", actor=ADVISOR, payload={"damage": [{"item": "door", "open": False}]})
    engine.fire("CC-1", "give_back", actor=ADVISOR, payload={"fuel": "half"})


# --- the public face --------------------------------------------------------------------------


def test_the_package_never_imports_hypothesis() -> None:
    """The core, the demo and the clock work without hypothesis; it is imported on first use only."""
    code = (
        "import sys, aftersales_flow, aftersales_flow.demo, aftersales_flow.testing as t\n"
        "t.SimulatedClock().advance('1h'); t.Judge; t.DEFAULT_HINTS\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'\n"
        "t.check_flow\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_public_names_are_listed_and_reachable() -> None:
    """Every name of ``__all__`` (kept sorted by ruff) resolves once, and dir() shows the lazy names."""
    assert len(set(testing.__all__)) == len(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    assert {"check_flow", "flow_machine", "payloads"} <= set(dir(testing))


def test_an_unknown_name_is_an_attribute_error() -> None:
    """Asking for a name the module does not have raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="has no attribute 'check_flows'"):
        _ = testing.check_flows


def test_missing_hypothesis_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without hypothesis, a property helper raises ImportError with the install command."""

    def no_hypothesis(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'hypothesis'", name="hypothesis")

    monkeypatch.delitem(testing.__dict__, "event_sequences", raising=False)
    monkeypatch.setattr(testing.importlib, "import_module", no_hypothesis)
    with pytest.raises(ImportError, match=r"needs hypothesis: pip install 'aftersales_flow\[test\]'"):
        _ = testing.event_sequences


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_TYPES, ids=lambda spec: spec.name)
@given(data=st.data())
def test_field_values_are_what_the_engine_accepts(spec: af.FieldSpec, data: st.DataObject) -> None:
    """A value drawn for a field passes the engine's own payload check for that field."""
    value = data.draw(field_values(spec, now=SimulatedClock()()))
    assert _value_problems(spec, spec.name, value) == []


@pytest.mark.parametrize("spec", [s for s in ALL_TYPES if s.type != "any"], ids=lambda spec: spec.name)
@given(data=st.data())
def test_wrong_values_are_what_the_engine_refuses(spec: af.FieldSpec, data: st.DataObject) -> None:
    """A wrong value drawn for a typed field fails the engine's own payload check."""
    value = data.draw(wrong_values(spec))
    assert _value_problems(spec, spec.name, value) != []


def test_an_untyped_field_has_no_wrong_value() -> None:
    """A field of type ``any`` takes everything, so no wrong value is drawn for it."""
    assert wrong_values(af.FieldSpec(name="note")).is_empty


def test_guards_are_mined_for_values_that_make_them_hold_and_fail(car: af.FlowSet) -> None:
    """The built-in rules of the flow's guards propose values on both sides of each condition."""
    flow = car["courtesy_car"]
    mined = guard_values(flow_guards(flow), flow.params, SimulatedClock()())
    assert mined["licence_checked"] == [True, False]
    assert mined["deposit_paid"] == [499, 500, 501]
    assert mined["days"] == [2, 3, 4]
    assert mined["fuel"] == ["full", "half"]
    assert [len(items) for items in mined["damage"]] == [0, 1]
    assert mined["damage"][1] == [{"open": True}]


def test_a_hint_for_your_own_rule_is_used() -> None:
    """A hint registered on a copy of the default hints proposes values; the default stays as it was."""
    registry = DEFAULT_REGISTRY.copy()
    registry.register(
        "plate_is_local",
        lambda ctx, *, prefix: None if str(ctx.get("plate")).startswith(prefix) else "not local",
        description="the plate starts with {prefix}",
    )
    hints = DEFAULT_HINTS.copy()

    @hints.hint("plate_is_local")
    def local_plate(args: Any, now: Any) -> dict[str, list[str]]:
        return {"plate": [f"{args['prefix']}-12345"]}

    spec = registry.get("plate_is_local")
    assert spec is not None
    guard = RuleCall(spec=spec, args=(("prefix", "京A"),))
    assert guard_values([guard], {}, SimulatedClock()(), hints) == {"plate": ["京A-12345"]}
    assert guard_values([guard], {}, SimulatedClock()()) == {}
    assert "plate_is_local" in hints
    assert "plate_is_local" not in DEFAULT_HINTS


def test_a_hint_that_cannot_read_its_arguments_proposes_nothing() -> None:
    """A hint raising on odd arguments is skipped: hints help, they never decide."""
    hints = Hints()
    hints.hint("field_true")(lambda args, now: {args["no_such_argument"]: [1]})
    spec = DEFAULT_REGISTRY.get("field_true")
    assert spec is not None
    guard = RuleCall(spec=spec, args=(("field", "x"),))
    assert guard_values([guard], {}, SimulatedClock()(), hints) == {}


# --- payloads, actors, commands, sequences ----------------------------------------------------


@given(data=st.data())
def test_faulty_payloads_are_always_refused_as_payloads(car: af.FlowSet, data: st.DataObject) -> None:
    """A payload drawn with ``faults=True`` is refused for its payload, whoever the guards favour."""
    payload = data.draw(payloads(car["courtesy_car"], "hand_over", state="requested", faults=True))
    with af.SQLiteStore(":memory:") as store:
        engine = af.Engine(car, store, clock=SimulatedClock())
        engine.start("courtesy_car", "CC-1", event="request", actor=ADVISOR, payload=REQUEST)
        with pytest.raises(af.PayloadRejected):
            engine.fire("CC-1", "hand_over", actor=ADVISOR, payload=payload)


@given(data=st.data())
def test_likely_commands_pass_guards_that_mined_values_satisfy(car: af.FlowSet, data: st.DataObject) -> None:
    """With the instance's data, a likely command is accepted unless its actor lacks the role."""
    flow = car["courtesy_car"]
    with af.SQLiteStore(":memory:") as store:
        clock = SimulatedClock()
        engine = af.Engine(car, store, clock=clock)
        engine.start("courtesy_car", "CC-1", event="request", actor=ADVISOR, payload=REQUEST)
        head = engine.instance("CC-1")
        command = data.draw(commands(flow, state=head.state, likely=True, data=head.data, now=clock()))
        assert command.event in flow.events_from("requested")
        try:
            engine.fire("CC-1", command.event, actor=command.actor, payload=command.payload)
        except af.RoleDenied:
            assert not command.actor.roles & flow.branches("requested", command.event)[0].roles


def test_commands_also_try_what_the_flow_does_not_allow(car: af.FlowSet) -> None:
    """Among commands: events not possible from the state, events no one may fire, actors without roles."""
    flow = car["courtesy_car"]
    quick = settings(database=None, max_examples=500)
    possible = flow.events_from("handed_over")
    assert find(commands(flow, state="handed_over"), lambda c: c.event not in possible, settings=quick)
    assert find(commands(flow, state="handed_over"), lambda c: c.event == "sla_breached", settings=quick)
    assert find(commands(flow, state="handed_over"), lambda c: not c.actor.roles, settings=quick)
    assert find(actors(flow), lambda a: "customer" in a.roles, settings=quick)


@given(data=st.data())
def test_event_sequences_follow_the_graph(car: af.FlowSet, data: st.DataObject) -> None:
    """A drawn sequence names the flow's events (or undeclared ones), moving along declared branches."""
    flow = car["courtesy_car"]
    walk = data.draw(event_sequences(flow, max_size=8))
    assert 1 <= len(walk) <= 8
    known = {*flow.events, "sla_breached", "bogus_event"}
    states: set[str | None] = {None}
    for event in walk:
        assert event in known
        states |= {b.target for state in states for b in flow.branches(state, event)}
    assert walk[0] in flow.events_from(None) or walk[0] in known


def test_event_sequences_reach_final_states(car: af.FlowSet) -> None:
    """Some walks follow declared events all the way to a final state."""
    flow = car["courtesy_car"]

    def returned(walk: list[str]) -> bool:
        state: str | None = None
        for event in walk:
            branches = flow.branches(state, event)
            if not branches:
                return False
            state = branches[0].target
        return state == "returned"

    assert find(event_sequences(flow), returned, settings=settings(database=None)) == [
        "request",
        "hand_over",
        "give_back",
    ]


# --- the judge --------------------------------------------------------------------------------


def test_the_judge_finds_nothing_wrong_with_the_real_engine(
    car_engine: af.Engine, clock: SimulatedClock
) -> None:
    """A real engine's trail, refusals, a fired deadline and an SLA breach included, passes the judge."""
    lifecycle(car_engine, clock)
    judge = Judge(car_engine.flows)
    events = judge.follow(car_engine.events_since(0))
    assert {"sla_breached", "cancel"} <= {e.event for e in events if e.accepted}
    for instance in ("CC-1", "CC-2"):
        judge.check_head(instance, car_engine.instance(instance))
    assert judge.heads["CC-2"].state == "cancelled"


def trail(engine: af.Engine, clock: SimulatedClock) -> tuple[Judge, list[af.AuditEvent]]:
    """The judge after the first request, and the rest of the lifecycle's events."""
    lifecycle(engine, clock)
    judge = Judge(engine.flows)
    events = engine.events_since(0)
    judge.follow(events[:1])
    return judge, events[1:]


def broken(recorded: af.AuditEvent, **changes: Any) -> af.AuditEvent:
    """The event as a faulty engine might have recorded it."""
    return attrs.evolve(recorded, **changes)


REFUSED = {"accepted": False, "version": None, "target": None}


@pytest.mark.parametrize(
    ("fault", "promise"),
    [
        pytest.param({"version": 3}, "version", id="version-skipped"),
        pytest.param({"actor": af.Actor("cashier-1", roles={"cashier"})}, "role", id="role-missing"),
        pytest.param({"event": "give_back"}, "undeclared_event", id="event-not-from-state"),
        pytest.param({"target": "returned"}, "undeclared_target", id="target-not-declared"),
        pytest.param({"payload": {**HAND_OVER, "plate": 7}}, "payload", id="wrong-type"),
        pytest.param({"payload": {**HAND_OVER, "bogus": 1}}, "payload", id="undeclared-field"),
        pytest.param(
            {
                "payload": {**HAND_OVER, "licence_checked": False},
                "changes": {**HAND_OVER, "licence_checked": False},
            },
            "guard",
            id="guard-failed",
        ),
        pytest.param({"changes": {**HAND_OVER, "plate": "沪B-2"}}, "changes", id="data-not-the-payload"),
        pytest.param(
            {**REFUSED, "reasons": (af.Reason(code="x", message="no"),)},
            "unjustified_refusal",
            id="refused-without-cause",
        ),
        pytest.param({**REFUSED, "reasons": ()}, "refusal", id="refused-without-reason"),
    ],
)
def test_the_judge_names_the_broken_promise(
    car_engine: af.Engine, clock: SimulatedClock, fault: dict[str, Any], promise: str
) -> None:
    """An audit event changed the way a faulty engine would is refused, naming the promise it breaks."""
    judge, rest = trail(car_engine, clock)
    hand_over = next(e for e in rest if e.accepted and e.event == "hand_over")
    judge.follow(e for e in rest if e.seq < hand_over.seq)
    with pytest.raises(FlowPropertyViolation) as caught:
        judge.judge(broken(hand_over, **fault))
    assert caught.value.prop == promise
    assert caught.value.instance_id == "CC-1"
    assert str(caught.value).startswith(f"[{promise}] instance 'CC-1', event #{hand_over.seq}: ")


def test_the_judge_sees_a_guard_that_should_have_refused(
    car_engine: af.Engine, clock: SimulatedClock
) -> None:
    """Giving the car back with open damage breaks the ``unless``; the judge says so."""
    judge, rest = trail(car_engine, clock)
    back = next(e for e in rest if e.accepted and e.event == "give_back")
    judge.follow(e for e in rest if e.seq < back.seq)
    judge.heads["CC-1"] = attrs.evolve(
        judge.heads["CC-1"], data={**judge.heads["CC-1"].data, "damage": [{"item": "door", "open": True}]}
    )
    with pytest.raises(FlowPropertyViolation, match=r"^\[unless\] .* its unless count_where"):
        judge.judge(back)


def test_the_judge_compares_heads(car_engine: af.Engine, clock: SimulatedClock) -> None:
    """A head that differs from what the accepted events make is reported with the promise given."""
    lifecycle(car_engine, clock)
    judge = Judge(car_engine.flows)
    judge.follow(car_engine.events_since(0))
    moved = attrs.evolve(car_engine.instance("CC-1"), state="handed_over")
    with pytest.raises(FlowPropertyViolation, match=r"^\[refusal\] instance 'CC-1': the head's state"):
        judge.check_head("CC-1", moved, prop="refusal")
    with pytest.raises(FlowPropertyViolation, match="no accepted event created it"):
        judge.check_head("CC-9", moved)
    with pytest.raises(FlowPropertyViolation, match="head is missing"):
        judge.check_head("CC-1", None)


def test_the_judge_checks_deadlines_hang_on_the_current_state(car_engine: af.Engine) -> None:
    """A deadline kept after its state was left is reported."""
    car_engine.start("courtesy_car", "CC-1", event="request", actor=ADVISOR, payload=REQUEST)
    judge = Judge(car_engine.flows)
    judge.follow(car_engine.events_since(0))
    pending = car_engine.store.pending_deadlines("CC-1")
    judge.check_deadlines("CC-1", pending)
    car_engine.fire("CC-1", "hand_over", actor=ADVISOR, payload=HAND_OVER)
    judge.follow(car_engine.events_since(judge.last_seq))
    with pytest.raises(FlowPropertyViolation, match="deadline 'pick_up_window' of state 'requested' is kept"):
        judge.check_deadlines("CC-1", pending)


# --- the state machine ------------------------------------------------------------------------


def test_check_flow_passes_on_the_real_engine(car: af.FlowSet) -> None:
    """The real engine keeps every promise of the courtesy-car flow."""
    check_flow(car, "courtesy_car", settings=QUICK)


def test_the_machine_ticks_deadlines(car: af.FlowSet) -> None:
    """Runs move the clock far enough that deadlines fire events and record SLA breaches."""
    seen: list[str] = []

    class Recording(af.Engine):
        def tick(self, now: Any = None) -> list[af.Step]:
            steps = super().tick(now)
            seen.extend(step.event for step in steps)
            return steps

    check_flow(car, "courtesy_car", engine=Recording, settings=settings(QUICK, max_examples=40))
    assert {"cancel", "sla_breached"} <= set(seen)


def test_deadline_durations_are_read_from_the_states(car: af.FlowSet) -> None:
    """The clock's long waits include each state's deadline duration."""
    assert deadline_durations(car["courtesy_car"]) == [86400, 3 * 86400]


def test_the_machine_is_a_unittest_test_case(car: af.FlowSet) -> None:
    """``flow_machine(...).TestCase`` runs under unittest (and is collected by pytest)."""
    case = flow_machine(car, "courtesy_car").TestCase
    case.settings = QUICK
    assert issubclass(case, unittest.TestCase)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(case)
    )
    assert result.wasSuccessful(), result.failures


def test_the_machine_is_named_after_the_flow(car: af.FlowSet) -> None:
    """A failing run prints ``state = CourtesyCarMachine()``."""
    assert flow_machine(car, "courtesy_car").__name__ == "CourtesyCarMachine"


def test_the_judge_reads_a_stored_trail_as_json(car_engine: af.Engine, clock: SimulatedClock) -> None:
    """The judge's model data is plain JSON, as the store gives it back."""
    lifecycle(car_engine, clock)
    judge = Judge(car_engine.flows)
    judge.follow(car_engine.events_since(0))
    assert json.loads(json.dumps(dict(judge.heads["CC-1"].data))) == dict(car_engine.instance("CC-1").data)


# --- the hints of the shipped rules -----------------------------------------------------------

HINT_NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
"""The simulated clock's start: Monday 16:00 in Shanghai."""
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def shipped() -> af.FlowSet:
    """The shipped base flows, with the parameters the hints are called with."""
    return af.load_flows(ROOT / "flows")


def hinted(flows: af.FlowSet, flow: str, name: str, **where: Any) -> tuple[RuleCall, dict[str, Any]]:
    """The first call of rule ``name`` in the flow's guards (whose arguments include ``where``), resolved."""
    for guard in flow_guards(flows[flow]):
        for call in rule_calls(guard):
            args = call.resolve(flows[flow].params)
            if call.name == name and where.items() <= args.items():
                return call, args
    raise AssertionError(f"{flow} has no call of {name} with {where}")


def proposals(call: RuleCall, args: dict[str, Any], now: datetime = HINT_NOW) -> dict[str, list[Any]]:
    hint = DEFAULT_HINTS.get(call.name)
    assert hint is not None, f"no hint for {call.name}"
    return {field: list(values) for field, values in hint(args, now).items()}


def holds(
    flows: af.FlowSet,
    flow: str,
    call: RuleCall,
    data: dict[str, Any],
    *,
    now: datetime = HINT_NOW,
    actor: af.Actor = ADVISOR,
) -> bool:
    """Whether the rule call holds on ``data`` (dotted fields nested) at ``now``."""
    nested: dict[str, Any] = {}
    for path, value in data.items():
        *parents, last = path.split(".")
        into = nested
        for part in parents:
            into = into.setdefault(part, {})
        into[last] = value
    ctx = RuleContext(
        data=nested,
        before=nested,
        payload=nested,
        params=flows[flow].params if flow else {},
        now=now,
        actor=actor,
        instance_id=f"{flow}-1",
        flow=flow,
        state=None,
        event="test",
    )
    return evaluate(call, ctx) == []


def test_every_rule_of_the_default_registry_has_a_hint() -> None:
    """A rule without a hint is satisfied only by chance: every shipped rule has one."""
    assert [name for name in DEFAULT_REGISTRY.names() if name not in DEFAULT_HINTS] == []


def test_mined_values_fit_the_shipped_fields() -> None:
    """Each field the hints propose values for gets at least one of its declared type, in every flow and brand."""
    for brand in (None, "faw", "baoya"):
        for flow in af.load_flows(ROOT / "flows", brand=brand):
            mined = guard_values(flow_guards(flow), flow.params, HINT_NOW)
            for name, values in mined.items():
                spec = flow.fields.get(name)
                if spec is not None:
                    assert any(type_problem(spec, v) is None for v in values), (flow.name, name, values)


@pytest.mark.parametrize("name", ["field_present", "payload_has"])
def test_recorded_and_blank_values_are_proposed(name: str) -> None:
    """A value of each type that counts as recorded, and blank ones that do not."""
    spec = DEFAULT_REGISTRY.get(name)
    assert spec is not None
    call = RuleCall(spec=spec, args=(("field", "note"),))
    values = proposals(call, {"field": "note"})["note"]
    verdicts = [holds(af.FlowSet({}), "", call, {"note": value}) for value in values]
    assert verdicts == [True] * 7 + [False] * 3


# The appointment: slots proposed at booking meet the time-window rules once the clock moved on.


def test_proposed_slots_are_in_the_future_and_the_last_is_not(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "appointment", "slot_in_future")
    slots = proposals(call, args)["slot_at"]
    assert [holds(shipped, "appointment", call, {"slot_at": s}) for s in slots] == [True] * 4 + [False]


def test_a_slot_tomorrow_is_proposed_and_one_today(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "appointment", "slot_not_same_day")
    slots = proposals(call, args)["slot_at"]
    assert [holds(shipped, "appointment", call, {"slot_at": s}) for s in slots] == [True, False]


def test_peak_time_alternatives_are_proposed_enough_and_too_few(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "appointment", "peak_alternatives_offered")
    offered = proposals(call, args)["alternatives_offered"]
    peak = {"slot_in_peak": True}
    assert holds(shipped, "appointment", call, {**peak, "alternatives_offered": offered[0]})
    assert not holds(shipped, "appointment", call, {**peak, "alternatives_offered": offered[1]})


def test_parts_are_labelled_for_the_day_of_each_proposed_slot(shipped: af.FlowSet) -> None:
    """Whichever proposed slot was booked, one proposed label is dated for its day; no label fails."""
    call, args = hinted(shipped, "appointment", "parts_checked")
    mined = proposals(call, args)
    *labelled, unlabelled = mined["reserved_parts"]
    for slot in proposals(*hinted(shipped, "appointment", "slot_in_future"))["slot_at"][:-1]:
        fits = [holds(shipped, "appointment", call, {"slot_at": slot, "reserved_parts": p}) for p in labelled]
        assert any(fits), slot
        assert not holds(shipped, "appointment", call, {"slot_at": slot, "reserved_parts": unlabelled})
    assert holds(shipped, "appointment", call, {"no_parts_needed": True})
    backorder = {"backorders": mined["backorders"][0], "backorder_reported_to_sa": True}
    assert holds(shipped, "appointment", call, backorder)
    assert not holds(shipped, "appointment", call, {**backorder, "backorders": mined["backorders"][1]})


def test_slots_meet_the_reminder_windows_after_the_clock_moves(shipped: af.FlowSet) -> None:
    """Booked at the clock's start, the proposed slots are met by the usual moves of a property run.

    Early on the third day: a day and a half later the day-before reminder is due. Three and a half
    days ahead: after three days too. Tomorrow: a day later the hour-before confirmation is due.
    Within the hour: at once.
    """
    call, args = hinted(shipped, "appointment", "slot_in_future")
    third_day, three_and_half, tomorrow, within_hour = proposals(call, args)["slot_at"][:4]
    applies, _ = hinted(shipped, "appointment", "day_before_reminder_applies")
    day_before, _ = hinted(shipped, "appointment", "within_before_slot", offset="1d")
    hour_before, _ = hinted(shipped, "appointment", "within_before_slot", offset="1h")
    booked = {"booked_at": HINT_NOW.isoformat()}

    def at(slot: str, moved: timedelta, *calls: RuleCall) -> list[bool]:
        data = {**booked, "slot_at": slot}
        return [holds(shipped, "appointment", c, data, now=HINT_NOW + moved) for c in calls]

    assert at(third_day, 1.5 * DAY, applies, day_before, hour_before) == [True, True, False]
    assert at(third_day, 2 * DAY, applies, day_before) == [True, True]
    assert at(three_and_half, 3 * DAY + timedelta(hours=2), applies, day_before) == [True, True]
    assert at(tomorrow, DAY + timedelta(minutes=10), applies, hour_before) == [False, True]
    assert at(within_hour, timedelta(minutes=10), applies, hour_before) == [False, True]


def test_the_day_before_reminder_hint_proposes_a_long_and_a_short_lead(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "appointment", "day_before_reminder_applies")
    mined = proposals(call, args)
    booked = {"booked_at": mined["booked_at"][0]}
    assert [holds(shipped, "appointment", call, {**booked, "slot_at": s}) for s in mined["slot_at"]] == [
        True,
        False,
    ]


@pytest.mark.parametrize("offset", ["1d", "1h"])
def test_within_before_slot_proposes_a_slot_in_the_window_and_two_out(
    shipped: af.FlowSet, offset: str
) -> None:
    call, args = hinted(shipped, "appointment", "within_before_slot", offset=offset)
    slots = proposals(call, args)["slot_at"]
    assert [holds(shipped, "appointment", call, {"slot_at": s}) for s in slots] == [True, False, False]


def test_the_no_show_grace_is_proposed_passed_and_not(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "appointment", "no_show_grace_passed")
    slots = proposals(call, args)["slot_at"]
    assert [holds(shipped, "appointment", call, {"slot_at": s}) for s in slots] == [True, False]


def test_no_show_retries_are_proposed_within_and_beyond_the_limits(shipped: af.FlowSet) -> None:
    left, args = hinted(shipped, "appointment", "retry_attempt_left")
    assert [
        holds(shipped, "appointment", left, {"attempt_no": n}) for n in proposals(left, args)["attempt_no"]
    ] == [
        True,
        False,
    ]
    window, args = hinted(shipped, "appointment", "retry_contact_in_window")
    missed = {"slot_at": (HINT_NOW - 3 * DAY).isoformat()}
    calls = proposals(window, args)["retry_contact_at"]
    verdicts = [holds(shipped, "appointment", window, {**missed, "retry_contact_at": c}) for c in calls]
    assert True in verdicts and False in verdicts
    linked, args = hinted(shipped, "appointment", "retry_outreach_linked")
    mined = proposals(linked, args)
    retry = {"origin": mined["origin"][0], "previous_appointment_id": mined["previous_appointment_id"][0]}
    assert [
        holds(shipped, "appointment", linked, {**retry, "attempt_no": n}) for n in mined["attempt_no"]
    ] == [
        True,
        True,
        False,
    ]


def test_reminder_due_dates_are_proposed_within_the_intervals_and_the_lead_time(shipped: af.FlowSet) -> None:
    due, args = hinted(shipped, "appointment", "service_due_date_ok")
    mined = proposals(due, args)
    first = {"origin": "first_service_reminder", "sale_date": mined["sale_date"][0]}
    regular = {"origin": "regular_service_reminder", "last_service_date": mined["last_service_date"][0]}
    for case in (first, regular):
        dates = mined["service_due_date"]
        assert [holds(shipped, "appointment", due, {**case, "service_due_date": d}) for d in dates] == [
            True,
            False,
        ]
    lead, args = hinted(shipped, "appointment", "reminder_lead_window")
    dates = proposals(lead, args)["service_due_date"]
    reminder = {"origin": "regular_service_reminder"}
    verdicts = [holds(shipped, "appointment", lead, {**reminder, "service_due_date": d}) for d in dates]
    assert verdicts == [True, True, False, False]
    assert holds(shipped, "appointment", lead, {**reminder, "service_due_date": mined["service_due_date"][0]})


# The complaint: levels, proposals, the customer's choice and confirmation.


def test_entry_channels_are_proposed_for_each_level(shipped: af.FlowSet) -> None:
    for level in (1, 3):
        call, args = hinted(shipped, "complaint", "entry_level", level=level)
        channels = proposals(call, args)["channel"]
        verdicts = [holds(shipped, "complaint", call, {"channel": c}) for c in channels]
        assert verdicts[0] and not all(verdicts), (level, channels)


@pytest.mark.parametrize("level", [2, 3])
def test_escalation_is_proposed_from_the_level_below(shipped: af.FlowSet, level: int) -> None:
    call, args = hinted(shipped, "complaint", "escalates_to", level=level)
    levels = proposals(call, args)["current_level"]
    assert [holds(shipped, "complaint", call, {"current_level": n}) for n in levels] == [True, False]


def test_proposed_options_fit_every_determined_responsibility(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "complaint", "resolutions_fit_responsibility")
    mined = proposals(call, args)
    *fitting, unknown = mined["resolution_options"]
    for responsibility in mined["responsibility"]:
        case = {"responsibility": responsibility}
        common = holds(shipped, "complaint", call, {**case, "resolution_options": fitting[0]})
        assert common is (responsibility != "undetermined"), responsibility
        assert not holds(shipped, "complaint", call, {**case, "resolution_options": unknown})


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_bottom_line_is_proposed_within_every_levels_authority(shipped: af.FlowSet, level: int) -> None:
    call, args = hinted(shipped, "complaint", "discount_within_authority")
    lowest, highest = proposals(call, args)["bottom_line"]
    assert holds(shipped, "complaint", call, {"current_level": level, "bottom_line": lowest})
    assert holds(shipped, "complaint", call, {"current_level": level, "bottom_line": highest}) is (level == 3)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_each_levels_approver_is_among_the_proposed_signatures(shipped: af.FlowSet, level: int) -> None:
    call, args = hinted(shipped, "complaint", "bottom_line_recorded")
    mined = proposals(call, args)
    case = {"current_level": level, "bottom_line": mined["bottom_line"][0]}
    *approvals, nobody = mined["bottom_line_approval"]
    assert any(holds(shipped, "complaint", call, {**case, "bottom_line_approval": a}) for a in approvals)
    assert not holds(shipped, "complaint", call, {**case, "bottom_line_approval": nobody})
    empty = {**case, "bottom_line": mined["bottom_line"][1], "bottom_line_approval": approvals[level - 1]}
    assert not holds(shipped, "complaint", call, empty)


def test_the_customer_chooses_a_proposed_option_carried_out_and_confirmed(shipped: af.FlowSet) -> None:
    """O1 and O2 name options of the proposals; the facts of carrying each out are proposed too."""
    fit, args = hinted(shipped, "complaint", "resolutions_fit_responsibility")
    dealer_options = proposals(fit, args)["resolution_options"][1]
    offered, args = hinted(shipped, "complaint", "chosen_option_offered")
    chosen = proposals(offered, args)["chosen_option"]
    case = {"resolution_options": dealer_options}
    assert [holds(shipped, "complaint", offered, {**case, "chosen_option": c}) for c in chosen] == [
        True,
        True,
        False,
    ]
    rework = {**case, "chosen_option": "O2"}  # the dealer's second option: a rework at the dealer's cost
    scheduled, args = hinted(shipped, "complaint", "rework_scheduled")
    assert not holds(shipped, "complaint", scheduled, rework)
    assert holds(
        shipped,
        "complaint",
        scheduled,
        {**rework, **{k: v[0] for k, v in proposals(scheduled, args).items()}},
    )
    done, args = hinted(shipped, "complaint", "resolution_carried_out")
    facts = proposals(done, args)
    order = {"repair_order_id": facts["repair_order_id"][0]}
    statuses = [
        holds(shipped, "complaint", done, {**rework, **order, "repair_order_status": s})
        for s in facts["repair_order_status"]
    ]
    assert statuses == [True, True, False]
    discount = {**case, "chosen_option": "O3"}  # a labour discount
    applied = [
        holds(shipped, "complaint", done, {**discount, "discount_applied": a})
        for a in facts["discount_applied"]
    ]
    assert applied == [True, False]
    confirmed, args = hinted(shipped, "complaint", "satisfaction_confirmed")
    records = proposals(confirmed, args)["satisfaction"]
    assert [holds(shipped, "complaint", confirmed, {"satisfaction": r}) for r in records] == [True, False]


# The callback flows and customer care.


def test_callback_times_are_proposed_on_both_sides(shipped: af.FlowSet) -> None:
    due, args = hinted(shipped, "follow_up_call", "before_due_time")
    mined = proposals(due, args)
    at = {args["at"]: mined[args["at"]][0]}
    assert [
        holds(shipped, "follow_up_call", due, {**at, args["field"]: v}) for v in mined[args["field"]]
    ] == [
        True,
        False,
    ]
    exhausted, args = hinted(shipped, "follow_up_call", "callback_attempts_exhausted")
    mined = proposals(exhausted, args)
    recent = {"delivered_at": mined["delivered_at"][1]}
    assert [
        holds(shipped, "follow_up_call", exhausted, {**recent, "attempts": n}) for n in mined["attempts"]
    ] == [
        False,
        True,
        True,
    ]
    assert holds(
        shipped, "follow_up_call", exhausted, {"attempts": 0, "delivered_at": mined["delivered_at"][0]}
    )


def test_feedback_and_report_times_are_proposed_on_both_sides(shipped: af.FlowSet) -> None:
    morning = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    cases = [
        ("feedback_case", "distribution_deadline_met", morning),
        ("feedback_case", "collection_day_reached", HINT_NOW),
        ("monthly_feedback_analysis", "monthly_report_on_time", HINT_NOW),
    ]
    for flow, name, now in cases:
        call, args = hinted(shipped, flow, name)
        (field, values), *_ = proposals(call, args, now).items()
        assert [holds(shipped, flow, call, {field: v}, now=now) for v in values] == [True, False], name


def test_churn_tiers_are_proposed_for_the_days_since_the_last_visit(shipped: af.FlowSet) -> None:
    call, args = hinted(shipped, "lost_customer_case", "churn_tier_fits")
    mined = proposals(call, args)
    at_risk, lost, recent = mined[args["last_visit"]]
    tier = args["field"]
    assert holds(shipped, "lost_customer_case", call, {args["last_visit"]: at_risk, tier: "at_risk"})
    assert holds(shipped, "lost_customer_case", call, {args["last_visit"]: lost, tier: "lost"})
    assert not holds(shipped, "lost_customer_case", call, {args["last_visit"]: recent, tier: "at_risk"})


# The repair order: lines L1 (original scope) and L2 (additional work) move along one order.


def test_proposed_lines_are_authorized_decided_and_done(shipped: af.FlowSet) -> None:
    flow = "repair_order"
    authorized, args = hinted(shipped, flow, "no_unauthorized_work")
    mined = proposals(authorized, args)
    assert [holds(shipped, flow, authorized, {"lines": lines}) for lines in mined["lines"]] == [True, False]
    decided, args = hinted(shipped, flow, "no_line_proposed")
    lines = proposals(decided, args)["lines"]
    assert [holds(shipped, flow, decided, {"lines": v}) for v in lines] == [True, False]
    assert holds(shipped, flow, authorized, {"lines": lines[0]})
    proposed, args = hinted(shipped, flow, "has_proposed_line")
    assert [holds(shipped, flow, proposed, {"lines": v}) for v in proposals(proposed, args)["lines"]] == [
        True,
        False,
    ]
    done, args = hinted(shipped, flow, "authorized_lines_done")
    lines = proposals(done, args)["lines"]
    assert [holds(shipped, flow, done, {"lines": v}) for v in lines] == [True, False]
    assert holds(shipped, flow, authorized, {"lines": lines[0]})
    declines, args = hinted(shipped, flow, "declines_signed")
    assert [holds(shipped, flow, declines, {"lines": v}) for v in proposals(declines, args)["lines"]] == [
        True,
        False,
    ]


def test_delivery_facts_are_proposed_on_both_sides(shipped: af.FlowSet) -> None:
    flow = "repair_order"
    decided, args = hinted(shipped, flow, "no_line_proposed")
    two_lines = {"lines": proposals(decided, args)["lines"][0]}
    settled, args = hinted(shipped, flow, "settlement_within_authorization")
    sheets = proposals(settled, args)["settlement"]
    assert [holds(shipped, flow, settled, {**two_lines, "settlement": s}) for s in sheets] == [
        True,
        True,
        False,
    ]
    road, args = hinted(shipped, flow, "road_test_passed_if_required")
    tests = proposals(road, args)["road_test"]
    required = {"road_test_required": True}
    assert [holds(shipped, flow, road, {**required, "road_test": t}) for t in tests] == [True, False]
    reach, args = hinted(shipped, flow, "will_reach")
    counts = proposals(reach, args)[args["field"]]
    assert [holds(shipped, flow, reach, {args["field"]: n}) for n in counts] == [True, False]
    collected, args = hinted(shipped, flow, "old_parts_collected")
    part = {"lines": [{"line_id": "L1", "kind": "part", "status": "done"}]}
    flags = proposals(collected, args)["old_parts_collected"]
    assert [holds(shipped, flow, collected, {**part, "old_parts_collected": f}) for f in flags] == [
        True,
        False,
    ]
    selected, args = hinted(shipped, flow, "selected_for_callback")
    assert holds(
        shipped, flow, selected, {"is_repeat_repair": proposals(selected, args)["is_repeat_repair"][0]}
    )


# --- likely commands in the shipped flows ------------------------------------------------------


def test_ways_out_from_almost_anywhere_are_the_withdrawals_and_cancellations(shipped: af.FlowSet) -> None:
    """Likely commands take these last once their state was seen, so runs go deep before they end."""
    assert _exits(shipped["complaint"]) == {("withdraw", "withdrawn")}
    assert _exits(shipped["appointment"]) == {("customer_cancels", "cancelled")}
    assert _exits(shipped["repair_order"]) == {("cancel", "cancelled")}
    assert _exits(shipped["follow_up_call"]) == set()


SIGN_OFF = """\
flow: sign_off
version: 1
label: {en: Sign-off, zh: 签字}
description: Either role may sign off by the roles, but the guard wants the foreman.
roles: [foreman, technician]
fields:
  note: string
start:
  - event: open
    to: open
    roles: [technician]
    label: {en: Open, zh: 开单}
states:
  open: {label: {en: Open, zh: 已开单}}
  signed: {terminal: true, label: {en: Signed off, zh: 已签字}}
transitions:
  - event: sign
    from: open
    to: signed
    roles: [foreman, technician]
    accepts: [note]
    guard: {rule: actor_has_role, role: foreman, message: only the foreman signs off}
    label: {en: Sign off, zh: 签字}
"""


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_guard_on_who_acts_makes_likely_commands_take_another_role_holder(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Holders of the event's roles are tried when a guard reads the actor (one in six stays an outsider)."""
    path = tmp_path_factory.mktemp("flows") / "sign_off.yaml"
    path.write_text(SIGN_OFF, encoding="utf-8")
    flow = af.load_flow(path)
    command = data.draw(commands(flow, state="open", likely=True, data={}, now=HINT_NOW))
    if command.actor.roles & {"foreman", "technician"}:
        assert "foreman" in command.actor.roles, command
