"""Concurrent writers: several processes (and threads) firing on one SQLite file.

Every worker records each command's outcome (accepted, refused, version conflict, busy) and the
step it got back. The store must hold exactly the acknowledged outcomes: no lost event, no
version skipped or repeated, exactly one winner among the commands that carried the same
``expected_version``, lock waits inside the busy timeout, and a clear ``StoreBusy`` past it
with nothing written. Counters are printed (``pytest -s``) and ``lost`` must be 0.

Short profile: 4 workers x 60-120 commands per test. ``AFTERSALES_RELIABILITY=long``: 8 workers
x 400-600 commands, 40 race rounds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from reliability_support import (
    SA,
    Audit,
    Counters,
    WorkerServer,
    audit,
    lost_acknowledgements,
    open_counters,
    percentile,
    read_records,
    run_fresh,
    scale,
    winners_by_expected_version,
    worker_server,
    write_flows,
)

pytestmark = pytest.mark.timeout(scale(300, 3600))
"""The long profile runs for many minutes; the short one stays in the suite's 300 s."""

WORKERS = scale(4, 8)
BUSY_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flows(tmp_path_factory.mktemp("concurrency"))


@pytest.fixture(scope="module")
def flows(flows_dir: Path) -> af.FlowSet:
    return af.load_flows(flows_dir)


@pytest.fixture(scope="module")
def server(flows_dir: Path) -> Iterator[WorkerServer]:
    with worker_server(flows_dir) as running:
        yield running


def _run(server: WorkerServer, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fork one worker per job, wait for all, return every record."""
    pids = [server.spawn(**job) for job in jobs]
    for pid in pids:
        assert server.wait(pid) == 0
    return [record for job in jobs for record in read_records(Path(job["out"]))]


def _check_against_store(records: list[dict[str, Any]], found: Audit, opened: int) -> Counters:
    """The store holds exactly what the workers were told, and nothing else."""
    found.assert_clean()
    found.assert_versions_contiguous()
    counters = Counters()
    counters.count(records)
    counters.lost = len(lost_acknowledgements(records, found))
    stored = [r for r in found.rows if r["event"] == "bump"]
    # No phantom write: the store's rows are the acknowledged ones, one each (busy wrote nothing).
    assert sum(bool(r["accepted"]) for r in stored) == counters.accepted
    assert sum(not r["accepted"] for r in stored) == counters.conflicts + counters.refused
    assert {r["seq"] for r in stored} == {r["seq"] for r in records if r["outcome"] != "busy"}
    assert len(found.rows) == len(stored) + opened
    waits = [r["wait"] for r in records]
    counters.extra.update(
        wait_p50_ms=round(percentile(waits, 0.5) * 1000, 1),
        wait_p99_ms=round(percentile(waits, 0.99) * 1000, 1),
        wait_max_ms=round(max(waits, default=0) * 1000, 1),
    )
    return counters


def test_workers_on_shared_instances_with_expected_versions(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet
) -> None:
    """Workers bump three shared instances, each command carrying the version it just read: every
    acknowledged event is stored, versions have no gap or repeat, and of the commands that carried
    one (instance, expected_version) exactly one was accepted; the others got VersionConflict."""
    db = tmp_path / "shared.db"
    targets = ["S-1", "S-2", "S-3"]
    open_counters(db, flows, targets)
    count = scale(100, 500)
    start_at = time.time() + 0.3
    jobs = [
        {
            "kind": "load",
            "db": str(db),
            "out": str(tmp_path / f"w{w}.jsonl"),
            "worker": w,
            "count": count,
            "targets": targets,
            "expect": True,
            "busy_timeout": BUSY_TIMEOUT,
            "seed": w,
            "start_at": start_at,
        }
        for w in range(WORKERS)
    ]
    records = _run(server, jobs)
    found = audit(db, flows)
    counters = _check_against_store(records, found, opened=len(targets))
    winners = winners_by_expected_version(records)
    counters.extra["version_groups"] = len(winners)
    counters.report("concurrency shared instances, expected versions")
    assert counters.lost == 0
    assert counters.attempted == WORKERS * count
    assert counters.busy == 0
    assert counters.refused == 0
    not_one = {group: n for group, n in winners.items() if n != 1}
    assert not not_one, f"(instance, expected_version) groups without exactly one winner: {not_one}"
    # Every version an instance went through was won by exactly one command that expected it.
    final = {
        h: max(r["version"] for r in found.rows if r["instance_id"] == h and r["accepted"]) for h in targets
    }
    for instance, version in final.items():
        assert {v for (i, v) in winners if i == instance} == set(range(1, version))
    assert counters.extra["wait_max_ms"] < BUSY_TIMEOUT * 1000


def test_fresh_processes_on_their_own_instances_are_all_accepted(
    tmp_path: Path, flows_dir: Path, flows: af.FlowSet
) -> None:
    """Workers started as fresh interpreters (no fork), each bumping its own instances of one file
    without expected versions: every command is accepted and stored, each instance's version counts
    its commands exactly."""
    db = tmp_path / "own.db"
    owned = {w: [f"O{w}-1", f"O{w}-2"] for w in range(WORKERS)}
    open_counters(db, flows, [i for ids in owned.values() for i in ids])
    count = scale(40, 400)
    start_at = time.time() + 2.0  # the interpreters start (about a second) before the first command
    outs = [tmp_path / f"w{w}.jsonl" for w in range(WORKERS)]
    processes: list[subprocess.Popen[bytes]] = [
        run_fresh(
            kind="load",
            flows=str(flows_dir),
            db=str(db),
            out=str(outs[w]),
            worker=w,
            count=count,
            targets=owned[w],
            busy_timeout=BUSY_TIMEOUT,
            seed=100 + w,
            start_at=start_at,
        )
        for w in range(WORKERS)
    ]
    for process in processes:
        assert process.wait(120) == 0
    records = [record for out in outs for record in read_records(out)]
    found = audit(db, flows)
    counters = _check_against_store(records, found, opened=2 * WORKERS)
    counters.report("concurrency own instances, fresh processes")
    assert counters.lost == 0
    assert counters.accepted == counters.attempted == WORKERS * count
    assert counters.conflicts == counters.refused == counters.busy == 0
    per_instance = Counter(r["instance"] for r in records)
    heads = {h.id: h.version for h in _heads(db)}
    for instance, bumps in per_instance.items():
        assert heads[instance] == 1 + bumps
    assert counters.extra["wait_max_ms"] < BUSY_TIMEOUT * 1000


def _heads(db: Path) -> list[Any]:
    with af.SQLiteStore(db) as store:
        return list(store.iter_heads())


def test_commands_with_the_same_expected_version_have_exactly_one_winner(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet
) -> None:
    """Round after round, every worker starts the same new instance at one moment (one is accepted,
    the others get DuplicateInstance), then fires on it at one moment with the version all of them
    read (one is accepted, the others get VersionConflict)."""
    db = tmp_path / "race.db"
    af.SQLiteStore(db).close()
    rounds = scale(10, 40)
    t0 = time.time() + 0.3
    jobs = [
        {
            "kind": "race",
            "db": str(db),
            "out": str(tmp_path / f"w{w}.jsonl"),
            "worker": w,
            "rounds": rounds,
            "t0": t0,
            "interval": 0.25,
        }
        for w in range(WORKERS)
    ]
    records = _run(server, jobs)
    found = audit(db, flows)
    found.assert_clean()
    found.assert_versions_contiguous()
    counters = Counters()
    counters.count(records)
    counters.lost = len(lost_acknowledgements(records, found))
    starts = [r for r in records if r["phase"] == "start"]
    fires = [r for r in records if r["phase"] == "fire"]
    for number in range(rounds):
        opened = [r for r in starts if r["round"] == number]
        assert sorted(r["outcome"] for r in opened) == ["accepted"] + ["refused"] * (WORKERS - 1)
        assert {r.get("refusal") for r in opened if r["outcome"] == "refused"} == {"DuplicateInstance"}
    winners = winners_by_expected_version(fires)
    assert set(winners.values()) == {1}, winners
    same = sum(1 for n in range(rounds) if len({r["expected"] for r in fires if r["round"] == n}) == 1)
    counters.extra.update(rounds=rounds, rounds_all_same_expected=same)
    counters.report("concurrency race on one expected version")
    assert counters.lost == 0
    assert counters.busy == 0
    assert same >= rounds // 2, "the workers did not race: they read different versions"
    assert len(found.rows) == len(records)


def test_a_lock_held_past_the_busy_timeout_gives_store_busy_then_the_retry_goes_through(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet
) -> None:
    """Another program holds the write lock for 1.2 s; workers with a 0.3 s busy timeout get StoreBusy
    (naming the file, after about 0.3 s, nothing written), retry with the same idempotency key, and
    each command is stored exactly once after the lock is released."""
    db = tmp_path / "held.db"
    targets = ["H-1", "H-2"]
    open_counters(db, flows, targets)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), "1.2"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    held_at = time.time()
    count = 3
    jobs = [
        {
            "kind": "load",
            "db": str(db),
            "out": str(tmp_path / f"w{w}.jsonl"),
            "worker": w,
            "count": count,
            "targets": targets,
            "busy_timeout": 0.3,
            "retry_busy": True,
            "seed": w,
        }
        for w in range(WORKERS)
    ]
    records = _run(server, jobs)
    assert holder.wait(10) == 0
    holder.stdout.close()
    found = audit(db, flows)
    counters = _check_against_store(records, found, opened=len(targets))
    busy = [r for r in records if r["outcome"] == "busy"]
    counters.extra["busy_wait_min_ms"] = round(min(r["wait"] for r in busy) * 1000, 1)
    counters.extra["busy_wait_max_ms"] = round(max(r["wait"] for r in busy) * 1000, 1)
    counters.report("concurrency lock held past the busy timeout")
    assert counters.lost == 0
    assert len(busy) >= WORKERS, "every worker's first command should have met the held lock"
    for record in busy:
        assert "locked" in record["message"]
        assert str(db) in record["message"]
        assert 0.25 <= record["wait"] < 1.0, record
    assert all(r["t"] - r["wait"] >= held_at - 0.05 for r in busy)
    accepted = [r for r in records if r["outcome"] == "accepted"]
    assert sorted(r["key"] for r in accepted) == sorted(
        f"L{w}-{n}" for w in range(WORKERS) for n in range(count)
    )
    assert min(r["t"] for r in accepted) >= held_at + 1.1, "a write went through while the lock was held"


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""
"""Another program: takes the write lock of a store file, holds it, releases it."""


def test_a_tiny_busy_timeout_under_contention_writes_nothing_for_busy_commands(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet
) -> None:
    """Workers with a 5 ms busy timeout contend for one file: some commands get StoreBusy; those
    wrote nothing, and their retries with the same key store each command exactly once."""
    db = tmp_path / "tiny.db"
    targets = ["T-1", "T-2", "T-3"]
    open_counters(db, flows, targets)
    count = scale(60, 400)
    start_at = time.time() + 0.3
    jobs = [
        {
            "kind": "load",
            "db": str(db),
            "out": str(tmp_path / f"w{w}.jsonl"),
            "worker": w,
            "count": count,
            "targets": targets,
            "busy_timeout": 0.005,
            "retry_busy": True,
            "seed": 50 + w,
            "start_at": start_at,
        }
        for w in range(WORKERS)
    ]
    records = _run(server, jobs)
    found = audit(db, flows)
    counters = _check_against_store(records, found, opened=len(targets))
    counters.report("concurrency 5 ms busy timeout, retried")
    assert counters.lost == 0
    keys = Counter(r["idempotency_key"] for r in found.rows if r["event"] == "bump")
    assert set(keys.values()) == {1}
    assert sorted(keys) == sorted(f"L{w}-{n}" for w in range(WORKERS) for n in range(count))
    assert counters.accepted == WORKERS * count


def test_threads_sharing_a_store_and_threads_with_their_own_on_one_file(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """Threads of one process on one shared SQLiteStore, and threads each with their own store on the
    same file, bump shared instances with expected versions: the same guarantees hold."""
    db = tmp_path / "threads.db"
    targets = ["X-1", "X-2"]
    open_counters(db, flows, targets)
    shared = af.SQLiteStore(db)
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    count = scale(40, 300)

    def work(worker: int, store: af.SQLiteStore) -> None:
        engine = af.Engine(flows, store)
        mine = []
        for number in range(count):
            instance = targets[(worker + number) % len(targets)]
            expected = engine.instance(instance).version
            began = time.monotonic()
            key = f"X{worker}-{number}"
            try:
                step = engine.fire(
                    instance,
                    "bump",
                    actor=SA,
                    payload={"n": number},
                    expected_version=expected,
                    idempotency_key=key,
                )
            except af.VersionConflict as exc:
                outcome, step = "conflict", exc.step
            else:
                outcome = "accepted"
            mine.append(
                {
                    "outcome": outcome,
                    "instance": step.instance_id,
                    "version": step.version,
                    "seq": step.seq,
                    "expected": expected,
                    "wait": time.monotonic() - began,
                    "key": key,
                }
            )
        with lock:
            records.extend(mine)

    own = [af.SQLiteStore(db) for _ in range(2)]
    threads = [threading.Thread(target=work, args=(w, shared)) for w in range(2)]
    threads += [threading.Thread(target=work, args=(2 + n, store)) for n, store in enumerate(own)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for store in (shared, *own):
        store.close()
    found = audit(db, flows)
    counters = _check_against_store(records, found, opened=len(targets))
    counters.report("concurrency threads, shared and own stores")
    assert counters.lost == 0
    assert counters.attempted == 4 * count
    assert set(winners_by_expected_version(records).values()) == {1}
