"""Tests for the property-testing helpers of ``aftersales_flow.testing`` (SimulatedClock: test_testing.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import unittest
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import aftersales_flow as af
import aftersales_flow.testing as testing
from aftersales_flow._payload import _value_problems
from aftersales_flow._testing_hints import flow_guards, guard_values
from aftersales_flow._testing_machine import deadline_durations
from aftersales_flow.model import FIELD_TYPES
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleCall
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


def test_the_brand_example_runs() -> None:
    """``python examples/brand_property_test.py`` property-tests Baoya's overlays and exits 0."""
    done = subprocess.run(
        [sys.executable, "examples/brand_property_test.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "baoya" in done.stdout


def test_the_judge_reads_a_stored_trail_as_json(car_engine: af.Engine, clock: SimulatedClock) -> None:
    """The judge's model data is plain JSON, as the store gives it back."""
    lifecycle(car_engine, clock)
    judge = Judge(car_engine.flows)
    judge.follow(car_engine.events_since(0))
    assert json.loads(json.dumps(dict(judge.heads["CC-1"].data))) == dict(car_engine.instance("CC-1").data)
