"""Deadlines on states: set with the event that enters the state, fired once by tick(), across processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import aftersales_flow as af
from aftersales_flow.states.deadline import shift_out_of
from aftersales_flow.testing import SimulatedClock

TIMED = Path(__file__).parent / "fixtures" / "flows" / "deadlines" / "timed.yaml"
SA = af.Actor("sa-1", roles={"service_advisor"})
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
SLOT = "2026-11-05T14:00:00+08:00"  # Thursday 14:00 local


def make_engine(store: af.SQLiteStore, clock: SimulatedClock) -> af.Engine:
    return af.Engine(af.FlowSet({"timed": af.load_flow(TIMED)}), store, clock=clock)


@pytest.fixture
def timed(clock: SimulatedClock) -> af.Engine:
    clock.set(START)
    return make_engine(af.SQLiteStore(":memory:"), clock)


def test_entering_a_state_sets_its_deadlines(timed: af.Engine) -> None:
    """Booking sets the confirmation (1h after) and the reminder (1 day before the slot)."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    pending = timed.store.pending_deadlines("T-1")
    assert [(d.name, d.due_at, d.event, d.status) for d in pending] == [
        ("confirmation", START + timedelta(hours=1), "sla_breached", "pending"),
        ("reminder", datetime(2026, 11, 4, 6, 0, tzinfo=UTC), "remind", "pending"),
    ]
    assert pending[0].set_seq == timed.history("T-1")[0].seq


def test_due_lists_only_what_is_due(timed: af.Engine, clock: SimulatedClock) -> None:
    """due(now) lists pending deadlines at or before now, earliest first."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    assert timed.due(START + timedelta(minutes=59)) == []
    assert [d.name for d in timed.due(START + timedelta(hours=1))] == ["confirmation"]
    assert [d.name for d in timed.due(START + timedelta(days=3))] == ["confirmation", "reminder"]


def test_a_breach_is_recorded_once_and_the_state_stays(timed: af.Engine, clock: SimulatedClock) -> None:
    """A deadline without an event records sla_breached once; the state stays and it does not re-arm."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    clock.advance("61m")
    steps = timed.tick(clock())
    assert [(s.event, s.source, s.target, s.version, s.actor.id) for s in steps] == [
        ("sla_breached", "booked", "booked", 2, "system")
    ]
    event = timed.history("T-1")[-1]
    assert event.payload == {"deadline": "confirmation", "due_at": "2026-11-02T01:00:00+00:00"}
    assert timed.tick(clock()) == []
    timed.fire("T-1", "confirm", actor=SA, payload={"note": "late"})
    clock.advance("2h")
    assert timed.tick(clock()) == []
    assert timed.replay("T-1") == timed.instance("T-1")
    assert timed.verify().ok


def test_a_deadline_fires_its_event_as_the_system(timed: af.Engine, clock: SimulatedClock) -> None:
    """The reminder fires 'remind' with its payload as the system actor at slot - 1 day, then the next state's deadline is set."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    timed.fire("T-1", "confirm", actor=SA)
    clock.set(datetime(2026, 11, 4, 6, 0, tzinfo=UTC))
    steps = timed.tick()
    assert [(s.event, s.target) for s in steps] == [("sla_breached", "booked"), ("remind", "reminded")]
    assert timed.instance("T-1").data["reminded"] is True
    assert [(d.name, d.due_at) for d in timed.store.pending_deadlines("T-1")] == [
        ("missed", datetime(2026, 11, 5, 6, 30, tzinfo=UTC))
    ]


def test_leaving_a_state_clears_its_deadlines(timed: af.Engine, clock: SimulatedClock) -> None:
    """An instance that leaves the state before the deadline has nothing left to fire."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    timed.fire("T-1", "arrive", actor=SA)
    assert timed.store.pending_deadlines("T-1") == []
    assert timed.tick(START + timedelta(days=10)) == []


def test_a_moved_field_moves_its_deadline(timed: af.Engine, clock: SimulatedClock) -> None:
    """Changing the slot while staying in the state moves the reminder; the other deadline keeps its time."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    clock.advance("10m")
    timed.fire("T-1", "annotate", actor=SA, payload={"slot_at": "2026-11-06T14:00:00+08:00"})
    pending = {d.name: d.due_at for d in timed.store.pending_deadlines("T-1")}
    assert pending == {
        "confirmation": START + timedelta(hours=1),
        "reminder": datetime(2026, 11, 5, 6, 0, tzinfo=UTC),
    }


def test_a_due_time_in_a_blackout_window_moves_to_its_end() -> None:
    """A call deadline falling at 09:30 or 17:00 local moves to 11:00 or 18:30, in the dealer's time zone."""
    shanghai = "Asia/Shanghai"
    at_0930 = datetime(2026, 11, 4, 1, 30, tzinfo=UTC)
    assert shift_out_of(at_0930, ["09:00-11:00", "16:00-18:30"], shanghai) == datetime(
        2026, 11, 4, 3, 0, tzinfo=UTC
    )
    at_1700 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
    assert shift_out_of(at_1700, ["09:00-11:00", "16:00-18:30"], shanghai) == datetime(
        2026, 11, 4, 10, 30, tzinfo=UTC
    )
    at_1200 = datetime(2026, 11, 4, 4, 0, tzinfo=UTC)
    assert shift_out_of(at_1200, ["09:00-11:00", "16:00-18:30"], shanghai) == at_1200


def test_the_reminder_avoids_the_blackout(timed: af.Engine) -> None:
    """A slot at 10:00 local would put the reminder at 10:00 the day before; it moves to 11:00."""
    timed.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": "2026-11-05T10:00:00+08:00"})
    reminder = next(d for d in timed.store.pending_deadlines("T-1") if d.name == "reminder")
    assert reminder.due_at == datetime(2026, 11, 4, 3, 0, tzinfo=UTC)


def test_a_refused_deadline_event_is_audited_and_not_retried(tmp_path: Path, clock: SimulatedClock) -> None:
    """If the fired event is refused (here a payload the guard rejects), the refusal is audited once."""
    text = TIMED.read_text(encoding="utf-8").replace(
        "payload: {reminded: true}", "payload: {reminded: false}"
    )
    path = tmp_path / "timed.yaml"
    path.write_text(text, encoding="utf-8")
    clock.set(START)
    engine = af.Engine(af.FlowSet({"timed": af.load_flow(path)}), af.SQLiteStore(), clock=clock)
    engine.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    clock.set(datetime(2026, 11, 4, 7, 0, tzinfo=UTC))
    assert [s.event for s in engine.tick()] == ["sla_breached"]
    refused = [e for e in engine.history("T-1") if not e.accepted]
    assert [(e.event, e.actor.id) for e in refused] == [("remind", "system")]
    assert engine.tick() == []
    assert len([e for e in engine.history("T-1") if not e.accepted]) == 1


def test_two_engines_on_one_file_fire_each_deadline_once(tmp_path: Path, clock: SimulatedClock) -> None:
    """Two engines (two connections) ticking the same store at the same moment fire each deadline once."""
    clock.set(START)
    first = make_engine(af.SQLiteStore(tmp_path / "s.db"), clock)
    second = make_engine(af.SQLiteStore(tmp_path / "s.db"), clock)
    for number in range(20):
        first.start("timed", f"T-{number}", event="book", actor=SA, payload={"slot_at": SLOT})
    listed = second.due(START + timedelta(hours=2))
    fired = first.tick(START + timedelta(hours=2))
    assert len(fired) == 20
    for deadline in listed:  # the second engine acts on its stale list
        assert second._fire_deadline(deadline) is None
    assert second.tick(START + timedelta(hours=2)) == []
    breaches = [e for e in first.events_since(0, limit=10_000) if e.event == "sla_breached"]
    assert len(breaches) == 20


TICKER = """
import sys
from datetime import UTC, datetime, timedelta
import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
flow, path, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
now = datetime.fromtimestamp(start, UTC) + timedelta(hours=2)
engine = af.Engine(af.FlowSet({"timed": af.load_flow(flow)}), af.SQLiteStore(path), clock=SimulatedClock(now))
print("ready", flush=True)
while True:
    engine.tick(now)
"""


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2])
def test_a_tick_killed_midway_then_repeated_fires_each_deadline_once(
    tmp_path: Path, clock: SimulatedClock, delay: float
) -> None:
    """SIGKILL a ticking process at some moment, tick again: every deadline fired exactly once, verify() clean."""
    clock.set(START)
    path = tmp_path / "s.db"
    engine = make_engine(af.SQLiteStore(path), clock)
    for number in range(60):
        engine.start("timed", f"T-{number}", event="book", actor=SA, payload={"slot_at": SLOT})
    with subprocess.Popen(
        [sys.executable, "-c", TICKER, str(TIMED), str(path), str(START.timestamp())],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    engine.tick(START + timedelta(hours=2))
    breaches = [e.instance_id for e in engine.events_since(0, limit=10_000) if e.event == "sla_breached"]
    assert sorted(breaches) == sorted(f"T-{n}" for n in range(60))
    assert engine.verify().ok


def test_when_is_checked_again_at_firing_time(tmp_path: Path, clock: SimulatedClock) -> None:
    """A deadline whose 'when' stops holding while the instance stays (the awaited fact was recorded) does not fire."""
    text = TIMED.read_text(encoding="utf-8").replace(
        "{name: confirmation, after: {param: confirm_within},",
        "{name: confirmation, after: {param: confirm_within}, when: {not: {rule: field_present, field: note}},",
    )
    path = tmp_path / "timed.yaml"
    path.write_text(text, encoding="utf-8")
    clock.set(START)
    engine = af.Engine(af.FlowSet({"timed": af.load_flow(path)}), af.SQLiteStore(), clock=clock)
    engine.start("timed", "T-1", event="book", actor=SA, payload={"slot_at": SLOT})
    engine.start("timed", "T-2", event="book", actor=SA, payload={"slot_at": SLOT})
    engine.fire("T-1", "confirm", actor=SA, payload={"note": "confirmed by parts and workshop"})
    clock.advance("2h")
    assert [(s.instance_id, s.event) for s in engine.tick()] == [("T-2", "sla_breached")]
    assert [d.status for d in engine.store.pending_deadlines("T-1") if d.name == "confirmation"] == ["done"]
    assert all(e.event != "sla_breached" for e in engine.history("T-1"))
