"""Crash safety: writers and tickers killed with SIGKILL at random moments lose nothing acknowledged.

Each round forks two writers (or two tickers) on one store file and kills each at a random,
seeded moment 5-200 ms after it started: while it opens the store, inside a transaction, between
the commit and its acknowledgement, or during a WAL checkpoint. After every round the file is
opened afresh, as a restarted service would, and must pass ``PRAGMA integrity_check`` (no torn
page), ``verify()`` and a replay of every head; every acknowledged event must be there, under
its sequence number. A restarted writer sends the command it was killed in again with the same
idempotency key, so a command that committed before its acknowledgement is not applied twice.

Short profile: 30 rounds of two writers (60 kills) at ``synchronous=FULL``, 10 rounds (20 kills)
at ``NORMAL``, 30 rounds of two tickers (60 kills). ``AFTERSALES_RELIABILITY=long``: 500, 100 and
300 rounds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aftersales_flow as af
from reliability_support import (
    Audit,
    Counters,
    WorkerServer,
    audit,
    check_pingers,
    kill,
    lost_acknowledgements,
    open_pingers,
    planned,
    read_records,
    scale,
    worker_server,
    write_flows,
)

pytestmark = pytest.mark.timeout(scale(300, 3600))
"""The long profile runs for many minutes; the short one stays in the suite's 300 s."""

WRITERS = 2
INSTANCES = 3
"""Counter instances per writer."""
TICKERS = 2
PINGERS = 12
KILL_WINDOW = (0.005, 0.2)
"""Seconds after a worker was forked at which it is killed (uniform, seeded)."""


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flows(tmp_path_factory.mktemp("crash"))


@pytest.fixture(scope="module")
def flows(flows_dir: Path) -> af.FlowSet:
    return af.load_flows(flows_dir)


@pytest.fixture(scope="module")
def server(flows_dir: Path) -> Iterator[WorkerServer]:
    with worker_server(flows_dir) as running:
        yield running


def _kill_all(server: WorkerServer, pids: list[int], outs: list[Path], rng: random.Random) -> None:
    """Kill each worker at its own random moment after now; reap them; each must have died of the kill."""
    began = time.monotonic()
    for pid, delay in sorted(((pid, rng.uniform(*KILL_WINDOW)) for pid in pids), key=lambda x: x[1]):
        time.sleep(max(0.0, began + delay - time.monotonic()))
        kill(pid)
    for pid, out in zip(pids, outs, strict=True):
        status = server.wait(pid)
        if status != -9:
            read_records(out)  # raises with the worker's traceback, if it failed
        assert status == -9, f"a worker ended with {status} before it was killed"


def _writer_keys(found: Audit, writer: int) -> dict[int, dict[str, object]]:
    """The rows of a writer's planned commands, by plan index."""
    prefix = f"w{writer}-"
    return {int(key[len(prefix) :]): row for key, row in found.by_key.items() if key.startswith(prefix)}


def _run_killed_writers(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet, rounds: int, sync: str, seed: int
) -> Counters:
    db = tmp_path / "crash.db"
    rng = random.Random(seed)
    counters = Counters(extra={"kills": 0, "committed_unacknowledged": 0, "rolled_back_in_flight": 0})
    next_index = dict.fromkeys(range(WRITERS), 0)
    acknowledged: list[dict[str, object]] = []
    for number in range(rounds):
        outs = {w: tmp_path / f"round{number}-writer{w}.jsonl" for w in range(WRITERS)}
        pids = [
            server.spawn(
                kind="commands",
                db=str(db),
                out=str(outs[w]),
                writer=w,
                start=next_index[w],
                instances=INSTANCES,
                sync=sync,
            )
            for w in range(WRITERS)
        ]
        _kill_all(server, pids, list(outs.values()), rng)
        counters.extra["kills"] += len(pids)
        found = audit(db, flows)
        found.assert_clean()
        found.assert_versions_contiguous()
        for w in range(WRITERS):
            records = read_records(outs[w])
            assert [r["i"] for r in records] == list(range(next_index[w], next_index[w] + len(records)))
            counters.count(records)
            lost = lost_acknowledgements(records, found)
            counters.lost += len(lost)
            assert not lost, f"round {number}, writer {w}: acknowledged but not in the store: {lost}"
            rows = _writer_keys(found, w)
            for record in records:  # a retried command answers with the row it wrote before
                assert rows[record["i"]]["seq"] == record["seq"], record
            in_flight = next_index[w] + len(records)
            beyond = sorted(i for i in rows if i > in_flight)
            assert not beyond, f"writer {w}: commands {beyond} written but never sent"
            if in_flight in rows:
                counters.extra["committed_unacknowledged"] += 1
            else:
                counters.extra["rolled_back_in_flight"] += 1
            next_index[w] = in_flight
            acknowledged.extend(records)
    # The writers come back one last time and finish their plans without being killed.
    stop = {w: next_index[w] + 2 * INSTANCES + REFUSED_MARGIN for w in range(WRITERS)}
    outs = {w: tmp_path / f"final-writer{w}.jsonl" for w in range(WRITERS)}
    pids = [
        server.spawn(
            kind="commands",
            db=str(db),
            out=str(outs[w]),
            writer=w,
            start=next_index[w],
            stop=stop[w],
            instances=INSTANCES,
            sync=sync,
        )
        for w in range(WRITERS)
    ]
    for pid in pids:
        assert server.wait(pid) == 0
    found = audit(db, flows)
    found.assert_clean()
    found.assert_versions_contiguous()
    for w in range(WRITERS):
        records = read_records(outs[w])
        counters.count(records)
        acknowledged.extend(records)
        rows = _writer_keys(found, w)
        # Every planned command is in the store exactly once (keys are unique), and nothing else is.
        assert sorted(rows) == list(range(stop[w]))
        for i, row in rows.items():
            command = planned(w, i, INSTANCES)
            assert (row["instance_id"], row["event"]) == (command["instance"], command["event"])
            assert bool(row["accepted"]) == (command["event"] != "open" or i < INSTANCES)
        for n in range(INSTANCES):
            instance = f"W{w}-C-{n}"
            bumps = sum(
                1
                for i in range(stop[w])
                if planned(w, i, INSTANCES)["instance"] == instance
                and planned(w, i, INSTANCES)["event"] == "bump"
            )
            head = next(r for r in reversed(found.rows) if r["instance_id"] == instance and r["accepted"])
            assert head["version"] == 1 + bumps, f"{instance}: version {head['version']}, {bumps} bumps"
    lost = lost_acknowledgements(acknowledged, found)
    counters.lost = len(lost)
    assert not lost, f"acknowledged but missing at the end: {lost}"
    assert len(found.rows) == sum(stop.values())
    return counters


REFUSED_MARGIN = 13
"""Extra commands in the final run: enough to include at least one planned refusal."""


@pytest.mark.parametrize(
    ("sync", "rounds"), [("FULL", scale(30, 500)), ("NORMAL", scale(10, 100))], ids=["full", "normal"]
)
def test_writers_killed_at_random_moments_lose_no_acknowledged_event(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet, sync: str, rounds: int
) -> None:
    """SIGKILL two writers at random moments, round after round: every acknowledged event is in the
    store under its seq, no row is half-written, verify() is clean and every head equals its replay;
    restarted writers resend the command they died in and it is applied once."""
    started = time.monotonic()
    counters = _run_killed_writers(tmp_path, server, flows, rounds, sync, seed=20261102 + rounds)
    counters.extra["seconds"] = round(time.monotonic() - started, 1)
    counters.report(f"crash writers synchronous={sync}")
    assert counters.lost == 0
    assert counters.extra["kills"] == rounds * WRITERS
    assert counters.accepted > 0
    assert counters.refused > 0


def test_ticks_killed_at_random_moments_fire_each_deadline_once(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet
) -> None:
    """SIGKILL two overlapping tickers at random moments mid-tick: no deadline is fired twice or lost
    (each instance's chain alternates ping/pong under the key of the deadline the event before set,
    and exactly one deadline is pending, set by its last event), acknowledged steps are stored,
    verify() is clean."""
    started = time.monotonic()
    db = tmp_path / "ticks.db"
    open_pingers(db, flows, PINGERS)
    rng = random.Random(7)
    rounds = scale(30, 300)
    counters = Counters(extra={"kills": 0, "fired": 0})
    acknowledged: list[dict[str, object]] = []
    for number in range(rounds):
        outs = [tmp_path / f"round{number}-ticker{t}.jsonl" for t in range(TICKERS)]
        pids = [server.spawn(kind="tick", db=str(db), out=str(out), worker=t) for t, out in enumerate(outs)]
        _kill_all(server, pids, outs, rng)
        counters.extra["kills"] += len(pids)
        found = audit(db, flows)
        found.assert_clean()
        found.assert_versions_contiguous()
        check_pingers(found)
        for out in outs:
            records = read_records(out)
            counters.count(records)
            acknowledged.extend(records)
        lost = lost_acknowledgements(acknowledged, found)
        assert not lost, f"round {number}: acknowledged ticks not in the store: {lost}"
    final = tmp_path / "final-ticker.jsonl"
    assert server.wait(server.spawn(kind="tick", db=str(db), out=str(final), worker=0, rounds=4)) == 0
    records = read_records(final)
    counters.count(records)
    acknowledged.extend(records)
    found = audit(db, flows)
    found.assert_clean()
    counters.extra["fired"] = check_pingers(found)
    counters.lost = len(lost_acknowledgements(acknowledged, found))
    counters.extra["seconds"] = round(time.monotonic() - started, 1)
    counters.report("crash tickers")
    assert counters.lost == 0
    assert records, "the last, unkilled tick fired nothing"
    assert counters.extra["fired"] >= counters.accepted > 0


@pytest.fixture(scope="module")
def schema_indexes(tmp_path_factory: pytest.TempPathFactory, server: WorkerServer) -> int:
    """How many indexes the schema creates through sqlite-utils (the points a kill is aimed at)."""
    folder = tmp_path_factory.mktemp("schema")
    out = folder / "out.jsonl"
    assert server.wait(server.spawn(kind="schema_kill", db=str(folder / "s.db"), out=str(out), at=0)) == 0
    [record] = read_records(out)
    assert record["calls"] >= 2
    return int(record["calls"])


@pytest.mark.parametrize("point", ["first", "second", "last"])
def test_writer_killed_while_creating_the_schema_leaves_a_usable_file(
    tmp_path: Path, server: WorkerServer, flows: af.FlowSet, schema_indexes: int, point: str
) -> None:
    """A process killed while it creates the schema of a new file (at its first, second or last index)
    leaves no half-made schema: the next open creates it whole and the store works."""
    at = {"first": 1, "second": 2, "last": schema_indexes}[point]
    db = tmp_path / "new.db"
    out = tmp_path / "out.jsonl"
    assert server.wait(server.spawn(kind="schema_kill", db=str(db), out=str(out), at=at)) == -9
    assert read_records(out) == []
    with af.SQLiteStore(db) as store:
        engine = af.Engine(flows, store)
        assert engine.start("counter", "C-1", event="open", actor=af.Actor("sa", roles={"service_advisor"}))
        assert engine.verify().ok
