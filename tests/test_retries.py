"""Retries: a command sent again with its idempotency key is applied once and answers the same.

Sequential retries (from the same engine, from another connection), retries racing each other in
several processes, retries after ``StoreBusy``, and a key reused for another command (other
payload, event or instance), alone and racing. A retry after a crash is covered by
``test_crash_safety`` (a restarted writer resends the command it was killed in).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from reliability_support import (
    SA,
    Counters,
    WorkerServer,
    audit,
    lost_acknowledgements,
    open_counters,
    read_records,
    scale,
    worker_server,
    write_flows,
)

TECH = af.Actor("tech-1", roles={"technician"})
pytestmark = pytest.mark.timeout(scale(300, 3600))
"""The long profile runs for many minutes; the short one stays in the suite's 300 s."""

WORKERS = scale(4, 8)


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flows(tmp_path_factory.mktemp("retries"))


@pytest.fixture(scope="module")
def flows(flows_dir: Path) -> af.FlowSet:
    return af.load_flows(flows_dir)


@pytest.fixture
def db(tmp_path: Path, flows: af.FlowSet) -> Path:
    path = tmp_path / "retries.db"
    open_counters(path, flows, ["C-1"])
    return path


@pytest.fixture
def engine(db: Path, flows: af.FlowSet) -> Iterator[af.Engine]:
    with af.SQLiteStore(db) as store:
        yield af.Engine(flows, store)


def _rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("events", "instances", "deadlines", "links", "flows")
        }
    finally:
        conn.close()


# --- one after the other ---------------------------------------------------------------------------


def test_a_fire_sent_twice_gives_one_event_and_the_same_step(engine: af.Engine, db: Path) -> None:
    """The second send of a fire returns a Step equal to the first (seq, version, at…) and writes nothing."""
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    before = _tables(db)
    again = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    assert again == first
    assert _tables(db) == before
    assert engine.instance("C-1").version == 2


def test_a_start_sent_twice_gives_one_instance_and_the_same_step(engine: af.Engine, db: Path) -> None:
    """A start retried with its key returns the original Step, not DuplicateInstance."""
    first = engine.start(
        "counter", "C-2", event="open", actor=SA, payload={"note": "n"}, idempotency_key="s-2"
    )
    before = _tables(db)
    assert (
        engine.start("counter", "C-2", event="open", actor=SA, payload={"note": "n"}, idempotency_key="s-2")
        == first
    )
    assert _tables(db) == before


def test_a_retry_from_another_connection_gets_the_same_step(
    engine: af.Engine, db: Path, flows: af.FlowSet
) -> None:
    """A retry through another store on the same file (another process after a timeout) gets the
    Step the first connection got."""
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    with af.SQLiteStore(db) as other_store:
        other = af.Engine(flows, other_store)
        assert other.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1") == first
    assert len(_rows(db)) == 2


def test_a_retry_with_the_payload_keys_in_another_order_is_the_same_command(
    engine: af.Engine, db: Path
) -> None:
    """Payloads compare as data (canonical JSON), not as the order the keys were written in."""
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1, "note": "x"}, idempotency_key="k-1")
    assert engine.fire("C-1", "bump", actor=SA, payload={"note": "x", "n": 1}, idempotency_key="k-1") == first
    assert len(_rows(db)) == 2


def test_a_retried_refusal_raises_the_same_refusal_and_writes_nothing(engine: af.Engine, db: Path) -> None:
    """A refused command's retry raises the same refusal class with the same Step and reasons."""
    with pytest.raises(af.RoleDenied) as first:
        engine.fire("C-1", "bump", actor=TECH, payload={"n": 1}, idempotency_key="k-1")
    before = _tables(db)
    with pytest.raises(af.RoleDenied) as again:
        engine.fire("C-1", "bump", actor=TECH, payload={"n": 1}, idempotency_key="k-1")
    assert again.value.step == first.value.step
    assert again.value.reasons == first.value.reasons
    assert _tables(db) == before


def test_a_retry_after_the_instance_moved_on_still_answers_the_original_step(engine: af.Engine) -> None:
    """The key fixes the outcome: a retry after later events returns the first Step, version included."""
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    engine.fire("C-1", "bump", actor=SA, payload={"n": 2})
    engine.fire("C-1", "close", actor=SA)
    assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1") == first
    assert engine.instance("C-1").version == 4


@pytest.mark.parametrize(
    ("instance_id", "event", "payload"),
    [("C-1", "bump", {"n": 2}), ("C-1", "bump", {}), ("C-1", "close", {}), ("C-9", "bump", {"n": 1})],
    ids=["other-payload", "no-payload", "other-event", "other-instance"],
)
def test_a_key_reused_for_another_command_is_refused(
    engine: af.Engine, db: Path, flows: af.FlowSet, instance_id: str, event: str, payload: dict[str, Any]
) -> None:
    """The same key with another payload, event or instance raises IdempotencyKeyReused; the refusal is
    audited without the key, and the instance is unchanged."""
    if instance_id == "C-9":
        engine.start("counter", "C-9", event="open", actor=SA)
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    heads = _tables(db)["instances"]
    with pytest.raises(af.IdempotencyKeyReused) as caught:
        engine.fire(instance_id, event, actor=SA, payload=payload, idempotency_key="k-1")
    assert [r.code for r in caught.value.reasons] == ["idempotency_key_reused"]
    assert f"#{first.seq}" in caught.value.reasons[0].message
    assert _tables(db)["instances"] == heads
    last = engine.history(instance_id)[-1]
    assert (last.accepted, last.event, last.idempotency_key) == (False, event, None)
    assert audit(db, flows).report.ok


def test_a_start_key_reused_by_a_fire_is_refused(engine: af.Engine) -> None:
    """A key first used to start an instance cannot be used to fire on it."""
    engine.start("counter", "C-2", event="open", actor=SA, idempotency_key="s-2")
    with pytest.raises(af.IdempotencyKeyReused):
        engine.fire("C-2", "bump", actor=SA, idempotency_key="s-2")


def test_a_retry_after_store_busy_is_applied_once(engine: af.Engine, db: Path, flows: af.FlowSet) -> None:
    """A command that met StoreBusy wrote nothing; sent again with its key once the lock is free, it is
    applied once; a third send answers the same Step."""
    holder = sqlite3.connect(db, isolation_level=None)
    with af.SQLiteStore(db, busy_timeout=0.1) as impatient_store:
        impatient = af.Engine(flows, impatient_store)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(af.StoreBusy):
                impatient.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert len(_rows(db)) == 1
        step = impatient.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1") == step
    assert len(_rows(db)) == 2


def test_same_key_different_actor_answers_the_original_step(engine: af.Engine, db: Path) -> None:
    """Documented behaviour (integrating.md): a retry is recognised by instance, event and payload.
    Another actor sending the same key and command gets the original Step; nothing is written and the
    roles are not checked again (so the engine does not act for that actor). See reliability.md."""
    first = engine.fire("C-1", "bump", actor=SA, payload={"n": 1}, idempotency_key="k-1")
    before = _tables(db)
    assert engine.fire("C-1", "bump", actor=TECH, payload={"n": 1}, idempotency_key="k-1") == first
    assert _tables(db) == before


# --- racing ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(flows_dir: Path) -> Iterator[WorkerServer]:
    with worker_server(flows_dir) as running:
        yield running


def _race(tmp_path: Path, server: WorkerServer, db: Path, *, same: bool, rounds: int) -> list[dict[str, Any]]:
    t0 = time.time() + 0.3
    jobs = [
        {
            "kind": "idem",
            "db": str(db),
            "out": str(tmp_path / f"w{w}.jsonl"),
            "worker": w,
            "rounds": rounds,
            "t0": t0,
            "interval": 0.15,
            "same": same,
            "instance": "C-1",
        }
        for w in range(WORKERS)
    ]
    pids = [server.spawn(**job) for job in jobs]
    for pid in pids:
        assert server.wait(pid) == 0
    return [record for job in jobs for record in read_records(Path(job["out"]))]


def test_the_same_command_racing_in_several_processes_is_applied_once(
    tmp_path: Path, server: WorkerServer, db: Path, flows: af.FlowSet
) -> None:
    """Every worker sends the same command with the same key at the same moment: one event per key,
    and every worker gets the same Step (seq, version, at)."""
    rounds = scale(8, 40)
    records = _race(tmp_path, server, db, same=True, rounds=rounds)
    found = audit(db, flows)
    found.assert_clean()
    counters = Counters()
    counters.count(records)
    counters.lost = len(lost_acknowledgements(records, found))
    for number in range(rounds):
        answers = [r for r in records if r["round"] == number]
        assert {r["outcome"] for r in answers} == {"accepted"}
        steps = {(r["seq"], r["version"], r["at"]) for r in answers}
        assert len(steps) == 1, f"round {number}: workers got different steps {steps}"
    keys = [r["idempotency_key"] for r in found.rows if r["idempotency_key"] is not None]
    assert sorted(keys) == sorted(f"idem-{n}" for n in range(rounds))
    counters.extra["events_written"] = len(keys)
    counters.report("retries racing with the same command")
    assert counters.lost == 0
    assert len(found.rows) == 1 + rounds


def test_one_key_racing_with_different_payloads_is_accepted_once(
    tmp_path: Path, server: WorkerServer, db: Path, flows: af.FlowSet
) -> None:
    """Every worker sends the same key with a payload of its own at the same moment: exactly one is
    accepted under the key, every other is refused as IdempotencyKeyReused (audited without the key)."""
    rounds = scale(8, 40)
    records = _race(tmp_path, server, db, same=False, rounds=rounds)
    found = audit(db, flows)
    found.assert_clean()
    counters = Counters()
    counters.count(records)
    counters.lost = len(lost_acknowledgements(records, found))
    for number in range(rounds):
        answers = [r for r in records if r["round"] == number]
        assert sorted(r["outcome"] for r in answers) == ["accepted"] + ["refused"] * (WORKERS - 1)
        assert {r.get("refusal") for r in answers if r["outcome"] == "refused"} == {"IdempotencyKeyReused"}
        winner = next(r for r in answers if r["outcome"] == "accepted")
        assert found.by_key[f"idem-{number}"]["seq"] == winner["seq"]
    counters.report("retries racing with one key, different payloads")
    assert counters.lost == 0
    assert len(found.rows) == 1 + rounds * WORKERS
