"""What the reliability tests share: two small flows, worker processes, counters and store audits.

The tests drive real processes against one SQLite file. Importing ``aftersales_flow`` takes
most of a second, too slow to pay for each of a hundred killed writers, so a **worker
server** pays it once: it is started with ``subprocess.Popen`` (``python reliability_support.py
serve FLOWS``), imports the library, loads the flows, and then forks (``os.fork()``) one worker
per job it is sent. It never opens a database itself, so a worker inherits no SQLite connection,
lock or file descriptor of a store. A job can also run in a fresh interpreter of its own
(``python reliability_support.py run JOB``), which one concurrency test does to show that
nothing depends on forking.

A worker writes one JSON line per command it finished to its own ``out`` file with a single
``os.write`` (unbuffered: the line is in the file the moment the call returns, so a SIGKILL
right after it cannot lose it). A line is the worker's acknowledgement: it is written after
the command returned and before the next one starts, exactly as a service would answer its
caller. After a kill, the acknowledged lines are compared with what the store holds.

Profiles: the default is short enough for every CI run; ``AFTERSALES_RELIABILITY=long``
multiplies kills, workers and commands.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

HERE = Path(__file__).resolve()
LONG = os.environ.get("AFTERSALES_RELIABILITY", "").strip().lower() == "long"
"""Whether the long profile was asked for (``AFTERSALES_RELIABILITY=long``)."""


def scale(short: int, long: int) -> int:
    """``long`` under the long profile, ``short`` otherwise."""
    return long if LONG else short


COUNTER_FLOW = """\
flow: counter
version: 1
label: {en: Counter, zh: 计数}
roles: [service_advisor, technician]
fields:
  note: string
  n: integer
  count: integer
  extra: any
start:
  - {event: open, to: open, roles: [service_advisor], accepts: [note]}
states:
  open: {label: {en: Open, zh: 开}}
  closed: {terminal: true, label: {en: Closed, zh: 关}}
transitions:
  - {event: bump, from: open, to: open, roles: [service_advisor], accepts: [note, n, extra],
     increment: [count]}
  - {event: close, from: open, to: closed, roles: [service_advisor]}
"""
"""A flow whose instances take any number of events: ``bump`` loops on ``open``."""

PINGER_FLOW = """\
flow: pinger
version: 1
label: {en: Pinger, zh: 乒乓}
roles: [service_advisor, system]
start:
  - {event: open, to: waiting, roles: [service_advisor]}
states:
  waiting:
    label: {en: Waiting, zh: 等待}
    deadlines:
      - {name: nudge, after: 1m, fire: ping}
  pinged:
    label: {en: Pinged, zh: 已乒}
    deadlines:
      - {name: nudge_back, after: 1m, fire: pong}
  done: {terminal: true, label: {en: Done, zh: 完}}
transitions:
  - {event: ping, from: waiting, to: pinged, roles: [system]}
  - {event: pong, from: pinged, to: waiting, roles: [system]}
  - {event: stop, from: [waiting, pinged], to: done, roles: [service_advisor]}
"""
"""A flow whose deadlines never run out: each fired deadline enters a state that sets the next."""

DEADLINE_OF = {"ping": "nudge", "pong": "nudge_back"}
"""The deadline each pinger event is fired by."""
NEXT_PING = {"waiting": ("nudge", "ping"), "pinged": ("nudge_back", "pong")}
"""The deadline pending in each pinger state and the event it fires."""

SA = af.Actor("sa-1", roles={"service_advisor"})
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def write_flows(directory: Path) -> Path:
    """Write the counter and pinger flows into ``directory/flows``; return that folder."""
    folder = directory / "flows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counter.yaml").write_text(COUNTER_FLOW, encoding="utf-8")
    (folder / "pinger.yaml").write_text(PINGER_FLOW, encoding="utf-8")
    return folder


# --- the command plan of the crash test -------------------------------------------------------


REFUSED_EVERY = 11
"""Every 11th command of a writer's plan is refused (an illegal event), so refusals are acknowledged too."""


def planned(writer: int, index: int, instances: int) -> dict[str, Any]:
    """Command ``index`` of writer ``writer``: open its instances, then bump them round robin.

    Every command carries the idempotency key ``w<writer>-<index>``, so a writer restarted
    after a crash sends the command it was killed in again and cannot apply it twice.
    """
    instance = f"W{writer}-C-{index % instances}"
    key = f"w{writer}-{index}"
    if index < instances:
        return {"op": "start", "instance": instance, "event": "open", "payload": {}, "key": key}
    if index % REFUSED_EVERY == 0:
        return {"op": "fire", "instance": instance, "event": "open", "payload": {}, "key": key}
    return {"op": "fire", "instance": instance, "event": "bump", "payload": {"n": index}, "key": key}


# --- worker side --------------------------------------------------------------------------------


class _Out:
    """A worker's acknowledgement file: one JSON line per finished command, one write() each."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, **record: Any) -> None:
        record["t"] = time.time()
        os.write(self.fd, (json.dumps(record, sort_keys=True) + "\n").encode())


def _step_record(step: af.Step) -> dict[str, Any]:
    return {
        "instance": step.instance_id,
        "event": step.event,
        "version": step.version,
        "seq": step.seq,
        "accepted": step.accepted,
        "at": step.at.isoformat(),
        "source": step.source,
        "target": step.target,
        "reasons": [r.code for r in step.reasons],
    }


def _wait_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def _call(engine: af.Engine, command: Mapping[str, Any], expected: int | None = None) -> af.Step:
    if command["op"] == "start":
        return engine.start(
            command.get("flow", "counter"),
            command["instance"],
            event=command["event"],
            actor=SA,
            payload=command["payload"],
            idempotency_key=command["key"],
        )
    return engine.fire(
        command["instance"],
        command["event"],
        actor=SA,
        payload=command["payload"],
        expected_version=expected,
        idempotency_key=command["key"],
    )


def _outcome(engine: af.Engine, command: Mapping[str, Any], expected: int | None = None) -> dict[str, Any]:
    """Run one command; the record of what happened (never raises for a refusal or a busy store)."""
    began = time.monotonic()
    try:
        step = _call(engine, command, expected)
    except af.VersionConflict as exc:
        outcome, record = "conflict", _step_record(exc.step)
    except af.TransitionRefused as exc:
        outcome, record = "refused", {**_step_record(exc.step), "refusal": type(exc).__name__}
    except af.StoreBusy as exc:
        outcome, record = "busy", {"message": str(exc)}
    else:
        outcome, record = "accepted", _step_record(step)
    return {**record, "outcome": outcome, "wait": time.monotonic() - began, "key": command["key"]}


def _job_commands(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Crash-test writer: run plan commands ``start`` .. ``stop`` (or forever), acknowledging each."""
    store = af.SQLiteStore(job["db"], synchronous=job.get("sync", "FULL"))
    engine = af.Engine(flows, store)
    index = job["start"]
    stop = job.get("stop")
    while stop is None or index < stop:
        command = planned(job["writer"], index, job["instances"])
        result = _outcome(engine, command)
        if result["outcome"] == "busy":  # nothing was written: send the same command again
            continue
        out(i=index, **result)
        index += 1
    store.close()


def _job_load(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Concurrency worker: ``count`` bumps on randomly chosen targets, optionally with expected versions.

    A command refused as busy is retried with the same idempotency key when ``retry_busy``.
    """
    rng = random.Random(job["seed"])
    store = af.SQLiteStore(job["db"], busy_timeout=job.get("busy_timeout", 5.0))
    engine = af.Engine(flows, store)
    _wait_until(job.get("start_at", 0.0))
    for number in range(job["count"]):
        instance = rng.choice(job["targets"])
        command = {
            "op": "fire",
            "instance": instance,
            "event": "bump",
            "payload": {"n": number, "note": f"worker {job['worker']}"},
            "key": f"L{job['worker']}-{number}",
        }
        tries = 0
        while True:
            tries += 1
            expected = None
            if job.get("expect"):
                try:
                    expected = engine.instance(instance).version
                except af.StoreBusy as exc:
                    out(j=number, tries=tries, outcome="busy", wait=0.0, key=command["key"], message=str(exc))
                    continue
            result = _outcome(engine, command, expected)
            out(j=number, tries=tries, expected=expected, **result)
            if result["outcome"] != "busy" or not job.get("retry_busy"):
                break
    store.close()


def _job_race(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Race rounds: every worker starts instance R-<round> at one moment, then fires on it at one moment
    with the version it read just before, so that commands carry the same expected version."""
    store = af.SQLiteStore(job["db"])
    engine = af.Engine(flows, store)
    worker, interval = job["worker"], job["interval"]
    for number in range(job["rounds"]):
        moment = job["t0"] + number * interval
        instance = f"R-{number}"
        _wait_until(moment)
        start = {"op": "start", "instance": instance, "event": "open", "payload": {}, "key": None}
        out(round=number, phase="start", **_outcome(engine, start))
        _wait_until(moment + interval * 0.5)
        while True:
            try:
                expected = engine.instance(instance).version
                break
            except af.InstanceNotFound:
                time.sleep(0.005)
        _wait_until(moment + interval * 0.7)
        fire = {"op": "fire", "instance": instance, "event": "bump", "payload": {"n": worker}, "key": None}
        out(round=number, phase="fire", expected=expected, **_outcome(engine, fire, expected))
    store.close()


def _job_idem(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Retry rounds: at one moment every worker fires with the same idempotency key, with the same
    payload (``same``) or a payload of its own."""
    store = af.SQLiteStore(job["db"])
    engine = af.Engine(flows, store)
    worker = job["worker"]
    for number in range(job["rounds"]):
        _wait_until(job["t0"] + number * job["interval"])
        payload = {"n": number} if job["same"] else {"n": number * 100 + worker}
        command = {
            "op": "fire",
            "instance": job["instance"],
            "event": "bump",
            "payload": payload,
            "key": f"idem-{number}",
        }
        out(round=number, **_outcome(engine, command))
    store.close()


def _job_tick(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Ticker: tick at the earliest pending due time, over and over, acknowledging each fired step.

    The clock is simulated and set to the moment ticked, so the events fired record it.
    """
    store = af.SQLiteStore(job["db"])
    clock = SimulatedClock(START)
    engine = af.Engine(flows, store, clock=clock)
    rounds = job.get("rounds")
    done = 0
    while rounds is None or done < rounds:
        pending = [d.due_at for d in store.pending_deadlines() if d.status == "pending"]
        if not pending:
            time.sleep(0.01)
            continue
        now = clock.set(min(pending))
        for step in engine.tick(now):
            out(outcome="accepted", **_step_record(step))
        done += 1
    store.close()


def _job_schema_kill(job: Mapping[str, Any], flows: af.FlowSet, out: _Out) -> None:
    """Open a new store file and SIGKILL this process at the ``at``-th index the schema creates."""
    from sqlite_utils.db import Table

    create_index = Table.create_index
    calls = 0

    def dying(self: Table, *args: Any, **kwargs: Any) -> Table:
        nonlocal calls
        calls += 1
        if calls == job["at"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return create_index(self, *args, **kwargs)

    Table.create_index = dying  # type: ignore[method-assign]
    af.SQLiteStore(job["db"]).close()
    out(outcome="opened", calls=calls)


JOBS = {
    "commands": _job_commands,
    "schema_kill": _job_schema_kill,
    "load": _job_load,
    "race": _job_race,
    "idem": _job_idem,
    "tick": _job_tick,
}


def run_job(job: Mapping[str, Any], flows: af.FlowSet) -> int:
    """Run one job; write a traceback to its out file and return 3 if it fails."""
    out = _Out(job["out"])
    try:
        JOBS[job["kind"]](job, flows, out)
    except BaseException:  # noqa: BLE001 - the test reads the traceback from the out file
        out(error=traceback.format_exc())
        return 3
    return 0


def _serve(flows_dir: str) -> None:
    """The worker server: fork one worker per ``spawn`` line on stdin; ``wait`` reaps one."""
    flows = af.load_flows(flows_dir)
    # The first store a process opens pays for sqlite-utils' lazy imports (some 50 ms); pay it here,
    # once, on a throwaway in-memory store closed before any fork, so that no file is ever open.
    af.SQLiteStore(":memory:").close()
    print("ready", flush=True)
    while line := sys.stdin.readline():
        verb, _, argument = line.strip().partition(" ")
        if verb == "spawn":
            job = json.loads(argument)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:  # the worker: never returns into this loop
                code = 3
                try:
                    os.close(0)
                    code = run_job(job, flows)
                finally:
                    os._exit(code)
            print(f"pid {pid}", flush=True)
        elif verb == "wait":
            _, status = os.waitpid(int(argument), 0)
            print(f"status {os.waitstatus_to_exitcode(status)}", flush=True)
        elif verb == "quit":
            return


# --- test side ----------------------------------------------------------------------------------


class WorkerServer:
    """The test's handle on a worker server process (see the module docstring)."""

    def __init__(self, flows_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "serve", str(flows_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._line()
        assert ready == "ready", f"the worker server did not start: {ready!r}"

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def _send(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._line()

    def spawn(self, **job: Any) -> int:
        """Fork a worker running ``job``; its pid."""
        answer = self._send("spawn " + json.dumps(job))
        assert answer.startswith("pid "), answer
        return int(answer.split()[1])

    def wait(self, pid: int) -> int:
        """Reap a worker: its exit code, or minus the signal that ended it."""
        answer = self._send(f"wait {pid}")
        assert answer.startswith("status "), answer
        return int(answer.split()[1])

    def close(self) -> None:
        """Stop the server."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def worker_server(flows_dir: Path) -> Iterator[WorkerServer]:
    """A worker server for the duration of the block."""
    server = WorkerServer(flows_dir)
    try:
        yield server
    finally:
        server.close()


def run_fresh(**job: Any) -> subprocess.Popen[bytes]:
    """Start ``job`` in a fresh interpreter of its own (no fork); the caller waits for it."""
    return subprocess.Popen([sys.executable, str(HERE), "run", json.dumps(job)])


def read_records(path: Path) -> list[dict[str, Any]]:
    """The acknowledgement lines of an out file (a torn last line, had one been possible, is dropped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            records.append(json.loads(line))
    errors = [r["error"] for r in records if "error" in r]
    assert not errors, "a worker failed:\n" + "\n".join(errors)
    return records


def kill(pid: int) -> None:
    """SIGKILL a worker this test started (it may have finished already)."""
    with contextlib.suppress(ProcessLookupError):  # the worker finished before the kill
        os.kill(pid, signal.SIGKILL)


# --- counters and audits ------------------------------------------------------------------------


@dataclass
class Counters:
    """What the reliability tests report: every command is exactly one of the outcomes."""

    attempted: int = 0
    accepted: int = 0
    refused: int = 0
    conflicts: int = 0
    busy: int = 0
    lost: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add the outcomes of finished commands."""
        for record in records:
            self.attempted += 1
            outcome = record["outcome"]
            if outcome == "accepted":
                self.accepted += 1
            elif outcome == "conflict":
                self.conflicts += 1
            elif outcome == "refused":
                self.refused += 1
            elif outcome == "busy":
                self.busy += 1
            else:  # pragma: no cover - a worker writes only these outcomes
                raise AssertionError(f"unknown outcome {outcome!r}")

    def line(self, name: str) -> str:
        """The counters as one line of test output."""
        parts = [
            f"attempted={self.attempted}",
            f"accepted={self.accepted}",
            f"refused={self.refused}",
            f"conflicts={self.conflicts}",
            f"busy={self.busy}",
            f"lost={self.lost}",
            *(f"{k}={v}" for k, v in self.extra.items()),
        ]
        return f"[reliability{' long' if LONG else ''}] {name}: " + " ".join(parts)

    def report(self, name: str) -> None:
        """Print the counters (shown with ``pytest -s``; also kept in the captured output)."""
        print(self.line(name), flush=True)


@dataclass
class Audit:
    """A store as a restarted service finds it."""

    integrity: list[str]
    report: af.VerifyReport
    replay_mismatches: list[str]
    rows: list[dict[str, Any]]
    deadlines: list[af.Deadline]

    @property
    def by_seq(self) -> dict[int, dict[str, Any]]:
        """The audit rows by global sequence number."""
        return {row["seq"]: row for row in self.rows}

    @property
    def by_key(self) -> dict[str, dict[str, Any]]:
        """The audit rows that carry an idempotency key, by key."""
        return {row["idempotency_key"]: row for row in self.rows if row["idempotency_key"] is not None}

    def assert_clean(self) -> None:
        """No torn page, every chain and head verifies, every head equals its replay."""
        assert self.integrity == ["ok"], f"integrity_check: {self.integrity}"
        assert self.report.ok, "verify(): " + "; ".join(str(p) for p in self.report.problems)
        assert not self.replay_mismatches, f"heads that differ from their replay: {self.replay_mismatches}"

    def assert_versions_contiguous(self) -> None:
        """Each instance's accepted events carry versions 1, 2, 3… with no gap and no repeat."""
        versions: dict[str, list[int]] = {}
        for row in sorted(self.rows, key=lambda r: r["seq"]):
            if row["accepted"]:
                versions.setdefault(row["instance_id"], []).append(row["version"])
        for instance, found in versions.items():
            assert found == list(range(1, len(found) + 1)), f"{instance}: versions {found}"


def audit(path: Path, flows: af.FlowSet) -> Audit:
    """Open the store file afresh and check it: integrity, verify(), heads against replay."""
    conn = sqlite3.connect(path)
    try:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    finally:
        conn.close()
    with af.SQLiteStore(path) as store:
        engine = af.Engine(flows, store)
        report = engine.verify()
        mismatches = [
            head.id for head in store.iter_heads() if engine.replay(head.id) != engine.instance(head.id)
        ]
        rows = [dict(row) for row in store.events_since(0, limit=10**9)]
        deadlines = store.pending_deadlines()
    return Audit(integrity, report, mismatches, rows, deadlines)


def lost_acknowledgements(records: Iterable[Mapping[str, Any]], found: Audit) -> list[Mapping[str, Any]]:
    """Acknowledged outcomes the store does not hold as acknowledged (same seq, instance, version, outcome)."""
    by_seq = found.by_seq
    lost = []
    for record in records:
        if record["outcome"] == "busy":
            continue  # nothing was acknowledged as written
        row = by_seq.get(record["seq"])
        if (
            row is None
            or row["instance_id"] != record["instance"]
            or bool(row["accepted"]) != (record["outcome"] == "accepted")
            or (record["outcome"] == "accepted" and row["version"] != record["version"])
        ):
            lost.append(record)
    return lost


def winners_by_expected_version(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], int]:
    """For each (instance, expected version) that commands carried: how many were accepted."""
    winners: Counter[tuple[str, int]] = Counter()
    for record in records:
        if record.get("expected") is None or record["outcome"] == "busy":
            continue
        key = (record["instance"], record["expected"])
        winners[key] += record["outcome"] == "accepted"
    return dict(winners)


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def open_counters(store_path: Path, flows: af.FlowSet, instances: Iterable[str]) -> None:
    """Start counter instances ``instances`` in the store."""
    with af.SQLiteStore(store_path) as store:
        engine = af.Engine(flows, store)
        for instance in instances:
            engine.start("counter", instance, event="open", actor=SA)


def open_pingers(store_path: Path, flows: af.FlowSet, count: int) -> list[str]:
    """Start ``count`` pinger instances at :data:`START`; their ids."""
    ids = [f"P-{n}" for n in range(count)]
    with af.SQLiteStore(store_path) as store:
        engine = af.Engine(flows, store, clock=SimulatedClock(START))
        for instance in ids:
            engine.start("pinger", instance, event="open", actor=SA)
    return ids


def check_pingers(found: Audit) -> int:
    """Every deadline fired at most once and none was lost; returns how many deadline events fired.

    Each pinger's accepted events are ``open`` then ``ping``/``pong`` alternately, each fired as
    ``system`` under the idempotency key of the deadline the previous event set, one minute
    after it; exactly one deadline is pending per instance, set by its last accepted event.
    """
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(found.rows, key=lambda r: r["seq"]):
        by_instance.setdefault(row["instance_id"], []).append(row)
    pending = {d.instance_id: d for d in found.deadlines}
    assert len(pending) == len(found.deadlines), "an instance has more than one deadline"
    fired = 0
    for instance, rows in by_instance.items():
        refused = [r for r in rows if not r["accepted"]]
        assert not refused, f"{instance}: refused deadline attempts {[r['event'] for r in refused]}"
        assert rows[0]["event"] == "open"
        for before, row in itertools.pairwise(rows):
            expected = "ping" if before["target"] == "waiting" else "pong"
            assert row["event"] == expected, (
                f"{instance} #{row['seq']}: {row['event']} after {before['event']}"
            )
            assert row["actor_id"] == "system"
            name = DEADLINE_OF[row["event"]]
            assert row["idempotency_key"] == f"deadline:{instance}:{name}:{before['seq']}", row
            gap = datetime.fromisoformat(row["at"]) - datetime.fromisoformat(before["at"])
            assert gap >= timedelta(minutes=1), f"{instance} #{row['seq']} fired {gap} after the event before"
            fired += 1
        last = rows[-1]
        deadline = pending.get(instance)
        assert deadline is not None, f"{instance}: no pending deadline after #{last['seq']} (lost)"
        name, event = NEXT_PING[last["target"]]
        assert (deadline.name, deadline.event, deadline.status, deadline.set_seq) == (
            name,
            event,
            "pending",
            last["seq"],
        ), f"{instance}: deadline {deadline} after #{last['seq']}"
        assert deadline.due_at == datetime.fromisoformat(last["at"]) + timedelta(minutes=1)
    return fired


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve(sys.argv[2])
    elif sys.argv[1] == "run":
        job = json.loads(sys.argv[2])
        sys.exit(run_job(job, af.load_flows(job["flows"])))
    else:  # pragma: no cover - a usage mistake
        sys.exit(f"usage: {sys.argv[0]} serve FLOWS | run JOB")
