"""Side-by-side benchmarks of aftersales_flow against its peers and the raw SQLite floor.

    python benchmarks/run.py            # full mode: about 10 minutes, writes benchmarks/results.json
    python benchmarks/run.py --quick    # quick mode (CI): well under a minute, benchmarks/results-quick.json

Everything runs in one process and one run, so every comparison is a ratio of two numbers
measured minutes apart on the same machine: absolute times on shared machines drift by tens
of percent from run to run. The timed cases run in interleaved rounds (one sample of each
case per round, in a rotating order), and each figure is the median of its samples.
The run prints a table and writes every number to a JSON file; it asserts no times.
See benchmarks/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bench_flow
import machine_info
import profile_fire
import raw_sqlite
import repair_order_path

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

HERE = Path(__file__).resolve().parent
SA = af.Actor("sa-017", roles={bench_flow.ROLE})
FLOW = bench_flow.FLOW_NAME
ADVANCE = "advance"
FIRE_INSTANCES = 50
SCHEMA = 1


@dataclass(frozen=True)
class Config:
    """How much work each part of the run does."""

    mode: str
    rounds: int
    fire_full_ops: int
    fire_normal_ops: int
    fire_memory_ops: int
    batch_size: int
    options_ops: int
    transitions_ops: int
    statemachine_ops: int
    raw_full_ops: int
    raw_normal_ops: int
    raw_batch_size: int
    orders_per_sample: int
    memory_instances: int
    small_events: int
    large_events: int
    events_per_instance: int
    scale_ops: int
    scale_rounds: int
    verify_repeats_small: int
    verify_repeats_large: int
    load_repeats: int
    profile_fires: int
    profile_orders: int


QUICK = Config(
    mode="quick",
    rounds=5,
    fire_full_ops=20,
    fire_normal_ops=50,
    fire_memory_ops=100,
    batch_size=200,
    options_ops=200,
    transitions_ops=1000,
    statemachine_ops=100,
    raw_full_ops=20,
    raw_normal_ops=100,
    raw_batch_size=1000,
    orders_per_sample=1,
    memory_instances=300,
    small_events=1_000,
    large_events=10_000,
    events_per_instance=20,
    scale_ops=50,
    scale_rounds=5,
    verify_repeats_small=3,
    verify_repeats_large=1,
    load_repeats=3,
    profile_fires=100,
    profile_orders=2,
)
FULL = Config(
    mode="full",
    rounds=15,
    fire_full_ops=100,
    fire_normal_ops=300,
    fire_memory_ops=500,
    batch_size=1000,
    options_ops=1000,
    transitions_ops=10_000,
    statemachine_ops=1000,
    raw_full_ops=100,
    raw_normal_ops=500,
    raw_batch_size=1000,
    orders_per_sample=3,
    memory_instances=2000,
    small_events=10_000,
    large_events=1_000_000,
    events_per_instance=20,
    scale_ops=100,
    scale_rounds=11,
    verify_repeats_small=5,
    verify_repeats_large=1,
    load_repeats=10,
    profile_fires=2000,
    profile_orders=30,
)


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every row."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- rows -------------------------------------------------------------------------------


def time_row(label: str, samples: list[float], ops: int, note: str = "") -> dict[str, Any]:
    """A timed row: the median of per-operation times (µs) over the samples."""
    median = statistics.median(samples)
    return {
        "kind": "time",
        "label": label,
        "available": True,
        "median_us": round(median, 3),
        "per_second": round(1e6 / median, 1) if median > 0 else None,
        "min_us": round(min(samples), 3),
        "max_us": round(max(samples), 3),
        "samples": len(samples),
        "ops_per_sample": ops,
        "note": note,
    }


def unavailable_row(label: str, kind: str, why: str) -> dict[str, Any]:
    return {"kind": kind, "label": label, "available": False, "note": why}


# --- timed cases ------------------------------------------------------------------------


@dataclass
class Case:
    """One timed thing: ``run()`` performs ``ops`` operations."""

    key: str
    label: str
    ops: int
    run: Callable[[], None]
    note: str = ""


def start_instances(
    engine: af.Engine, prefix: str, count: int, data: dict[str, Any] | None = None
) -> list[str]:
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    for instance_id in ids:
        engine.start(FLOW, instance_id, event="open", actor=SA, payload=data or bench_flow.PASSING)
    return ids


def fire_case(
    key: str, label: str, flows: af.FlowSet, path: str, synchronous: str, ops: int
) -> tuple[Case, Any]:
    store = af.SQLiteStore(path, synchronous=synchronous)
    engine = af.Engine(flows, store)
    ids = start_instances(engine, key, FIRE_INSTANCES)
    counter = itertools.count()

    def run() -> None:
        for _ in range(ops):
            engine.fire(ids[next(counter) % FIRE_INSTANCES], ADVANCE, actor=SA, payload=bench_flow.PASSING)

    return Case(key, label, ops, run), store


def batch_case(flows: af.FlowSet, path: str, ops: int) -> tuple[Case, Any]:
    """``ops`` fires inside one ``engine.batch()`` (one transaction, one commit), FULL."""
    store = af.SQLiteStore(path, synchronous="FULL")
    engine = af.Engine(flows, store)
    ids = start_instances(engine, "batch", FIRE_INSTANCES)
    counter = itertools.count()

    def run() -> None:
        with engine.batch() as batch:
            for _ in range(ops):
                batch.fire(ids[next(counter) % FIRE_INSTANCES], ADVANCE, actor=SA, payload=bench_flow.PASSING)

    label = f"engine batch of {ops} fires in one transaction, FULL (per fire)"
    return Case("engine_batch", label, ops, run), store


def options_cases(flows: af.FlowSet, path: str, ops: int) -> tuple[list[Case], Any]:
    """options() where ``advance`` is allowed and where a guard refuses: by id (the head is read
    from the store) and on an ``af.Instance`` in hand (the decision alone, nothing read)."""
    store = af.SQLiteStore(path, synchronous="NORMAL")
    engine = af.Engine(flows, store)
    # Sixteen instances spread over s01..s16, where ``advance`` is the one event possible.
    allowed = start_instances(engine, "opt", 16)
    for k, instance_id in enumerate(allowed):
        for _ in range(k):
            engine.fire(instance_id, ADVANCE, actor=SA, payload=bench_flow.PASSING)
    refused = start_instances(engine, "opt-refused", 16, data={"checked": False, "note": "waiting"})
    first = engine.options(allowed[3], SA)
    assert [(o.event, o.allowed) for o in first] == [(ADVANCE, True)], first
    denied = engine.options(refused[0], SA)
    assert [(o.event, o.allowed) for o in denied] == [(ADVANCE, False)], denied
    assert denied[0].reasons, denied

    allowed_heads = [engine.instance(instance_id) for instance_id in allowed]
    refused_heads = [engine.instance(instance_id) for instance_id in refused]
    assert engine.options(allowed_heads[3], SA) == first
    assert engine.options(refused_heads[0], SA) == denied

    def run(targets: list[Any]) -> Callable[[], None]:
        def options() -> None:
            for k in range(ops):
                engine.options(targets[k % 16], SA)

        return options

    return [
        Case(
            "engine_options",
            "engine options() by id, allowed: the head read from the store, then the decision",
            ops,
            run(allowed),
        ),
        Case(
            "engine_options_refused",
            "engine options() by id, refused with its reasons (head read from the store)",
            ops,
            run(refused),
        ),
        Case(
            "engine_options_in_hand",
            "engine decision alone: options() on an af.Instance in hand, allowed",
            ops,
            run(allowed_heads),
        ),
        Case(
            "engine_options_refused_in_hand",
            "engine decision alone: options() on an af.Instance in hand, refused with its reasons",
            ops,
            run(refused_heads),
        ),
    ], store


def transitions_cases(ops: int) -> list[Case]:
    machine = bench_flow.transitions_machine()
    advance = machine.events[ADVANCE]
    moving = bench_flow.TransitionsModel("s01", {"checked": True, "note": "ok"})
    stuck = bench_flow.TransitionsModel("s01", {"checked": False, "note": "waiting"})
    assert advance.trigger(moving) is True
    assert advance.trigger(stuck) is False

    def run_pass() -> None:
        for _ in range(ops):
            advance.trigger(moving)

    def run_refused() -> None:
        for _ in range(ops):
            advance.trigger(stuck)

    return [
        Case(
            "transitions_trigger",
            "transitions static shared Machine, trigger (2 guards pass)",
            ops,
            run_pass,
        ),
        Case(
            "transitions_trigger_refused",
            "transitions static Machine, refused trigger (False, no reason)",
            ops,
            run_refused,
        ),
    ]


def statemachine_case(ops: int) -> Case:
    machine = bench_flow.statemachine_class()({})
    machine.send(ADVANCE, payload=bench_flow.PASSING)

    def run() -> None:
        for _ in range(ops):
            machine.send(ADVANCE, payload=bench_flow.PASSING)

    return Case("statemachine_send", "python-statemachine send() in memory (2 guards pass)", ops, run)


def raw_cases(template: dict[str, Any], workdir: Path, config: Config) -> tuple[list[Case], list[Any]]:
    full = raw_sqlite.RawAppender(workdir / "raw-full.db", "FULL", template)
    normal = raw_sqlite.RawAppender(workdir / "raw-normal.db", "NORMAL", template)
    batched = raw_sqlite.RawAppender(workdir / "raw-batched.db", "FULL", template)

    def run_full() -> None:
        for k in range(config.raw_full_ops):
            full.append(k)

    def run_normal() -> None:
        for k in range(config.raw_normal_ops):
            normal.append(k)

    def run_batched() -> None:
        batched.append_batch(config.raw_batch_size)

    return [
        Case(
            "raw_full",
            "raw sqlite3 append, 1 row per commit, FULL, sha256 chain",
            config.raw_full_ops,
            run_full,
        ),
        Case(
            "raw_normal",
            "raw sqlite3 append, 1 row per commit, NORMAL, sha256 chain",
            config.raw_normal_ops,
            run_normal,
        ),
        Case(
            "raw_batched",
            f"raw sqlite3 append, {config.raw_batch_size} rows per commit, FULL, sha256 chain",
            config.raw_batch_size,
            run_batched,
        ),
    ], [full, normal, batched]


def repair_order_case(path: str, orders: int) -> tuple[Case, Any]:
    store = af.SQLiteStore(path, synchronous="NORMAL")
    clock = SimulatedClock()
    engine = af.Engine(af.load_flows(shipped_flows()), store, clock=clock)
    counter = itertools.count()
    repair_order_path.run_order(engine, clock, "RO-warm")

    def run() -> None:
        for _ in range(orders):
            repair_order_path.run_order(engine, clock, f"RO-{next(counter):06d}")

    ops = orders * repair_order_path.COMMANDS_PER_ORDER
    label = "engine command, shipped repair_order walk-in to closed, NORMAL"
    return Case("engine_fire_repair_order", label, ops, run, note="start + 13 fires per order"), store


def run_rounds(cases: list[Case], rounds: int) -> dict[str, list[float]]:
    """One warm-up pass, then ``rounds`` rounds of one sample per case, in a rotating order."""
    for case in cases:
        case.run()
    samples: dict[str, list[float]] = {case.key: [] for case in cases}
    for r in range(rounds):
        shift = r % len(cases)
        for case in cases[shift:] + cases[:shift]:
            started = time.perf_counter_ns()
            case.run()
            elapsed = time.perf_counter_ns() - started
            samples[case.key].append(elapsed / case.ops / 1000)
        log(f"  round {r + 1}/{rounds}")
    return samples


def timed_section(config: Config, flows: af.FlowSet, workdir: Path) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    closers: list[Any] = []
    cases: list[Case] = []
    for key, label, mode, ops in (
        ("engine_fire_full", "engine fire, file store, synchronous=FULL", "FULL", config.fire_full_ops),
        (
            "engine_fire_normal",
            "engine fire, file store, synchronous=NORMAL",
            "NORMAL",
            config.fire_normal_ops,
        ),
    ):
        case, store = fire_case(key, label, flows, str(workdir / f"{key}.db"), mode, ops)
        cases.append(case)
        closers.append(store)
    case, store = fire_case(
        "engine_fire_memory",
        "engine fire, :memory: store (no disk)",
        flows,
        ":memory:",
        "NORMAL",
        config.fire_memory_ops,
    )
    cases.append(case)
    closers.append(store)
    batch, store = batch_case(flows, str(workdir / "engine-batch.db"), config.batch_size)
    cases.append(batch)
    closers.append(store)
    option_cases, store = options_cases(flows, str(workdir / "options.db"), config.options_ops)
    cases += option_cases
    closers.append(store)
    cases += transitions_cases(config.transitions_ops)
    cases.append(statemachine_case(config.statemachine_ops))
    raw, appenders = raw_cases(audit_template(flows), workdir, config)
    cases += raw
    closers += appenders
    try:
        case, store = repair_order_case(str(workdir / "repair-order.db"), config.orders_per_sample)
        cases.append(case)
        closers.append(store)
    except af.AftersalesFlowError as exc:
        rows["engine_fire_repair_order"] = unavailable_row(
            "engine command, shipped repair_order walk-in to closed, NORMAL", "time", f"failed: {exc}"
        )
    log(f"timed cases: {len(cases)} cases x {config.rounds} rounds")
    samples = run_rounds(cases, config.rounds)
    for case in cases:
        rows[case.key] = time_row(case.label, samples[case.key], case.ops, case.note)
    for closer in closers:
        closer.close()
    return rows


def audit_template(flows: af.FlowSet) -> dict[str, Any]:
    """An audit row of one ``advance``, as the engine writes it, for the raw appends to copy."""
    with af.SQLiteStore(":memory:") as store:
        engine = af.Engine(flows, store)
        start_instances(engine, "template", 1)
        engine.fire("template-00000", ADVANCE, actor=SA, payload=bench_flow.PASSING)
        return raw_sqlite.template_row(engine.history("template-00000")[-1])


# --- memory -----------------------------------------------------------------------------


def retained_per_object(make: Callable[[int], Any], count: int) -> float:
    """Python heap bytes still held after ``make`` ran ``count`` times (tracemalloc), per call."""
    kept: list[Any] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            kept.append(make(i))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / count


def memory_section(config: Config, flows: af.FlowSet, workdir: Path) -> dict[str, Any]:
    count = config.memory_instances
    rows: dict[str, Any] = {}
    with af.SQLiteStore(workdir / "memory.db", synchronous="NORMAL") as store:
        engine = af.Engine(flows, store)
        start_instances(engine, "warm", 20)
        engine.fire("warm-00000", ADVANCE, actor=SA, payload=bench_flow.PASSING)
        engine.options("warm-00000", SA)

        def engine_instance(i: int) -> None:
            instance_id = f"mem-{i:06d}"
            engine.start(FLOW, instance_id, event="open", actor=SA, payload=bench_flow.PASSING)
            engine.fire(instance_id, ADVANCE, actor=SA, payload=bench_flow.PASSING)
            # Nothing is kept by the caller: what remains is what the engine and store hold.

        per = retained_per_object(engine_instance, count)
    rows["memory_engine"] = memory_row(
        "engine: heap held per instance between calls (start + fire, then nothing kept)", per, count
    )

    machine = bench_flow.transitions_machine()

    class Plain:
        pass

    def transitions_model(_: int) -> Any:
        model = Plain()
        machine.add_model(model, initial="s01")
        return model

    rows["memory_transitions_add_model"] = memory_row(
        "transitions: shared Machine + add_model, per model object",
        retained_per_object(transitions_model, count),
        count,
    )
    cls = bench_flow.statemachine_class()
    rows["memory_statemachine"] = memory_row(
        "python-statemachine: one StateMachine object per instance",
        retained_per_object(lambda _: cls({}), count),
        count,
    )
    return rows


def memory_row(label: str, per_instance: float, count: int) -> dict[str, Any]:
    return {
        "kind": "memory",
        "label": label,
        "available": True,
        "bytes_per_instance": round(per_instance, 1),
        "instances": count,
        "note": "tracemalloc: Python heap only (SQLite's own page cache is outside it)",
    }


# --- size: a large store ----------------------------------------------------------------


def build_store(path: Path, flows: af.FlowSet, events: int, per_instance: int, name: str) -> list[str]:
    """Fill a store through the engine (real chains): instances of ``per_instance`` events each."""
    try:
        store = af.SQLiteStore(path, synchronous="OFF")
    except ValueError:
        store = af.SQLiteStore(path, synchronous="NORMAL")
    engine = af.Engine(flows, store)
    count = max(1, events // per_instance)
    ids = [f"C-{i:07d}" for i in range(count)]
    started = time.perf_counter()
    step = max(1, count // 10)
    for i, instance_id in enumerate(ids):
        engine.start(FLOW, instance_id, event="open", actor=SA, payload=bench_flow.PASSING)
        for _ in range(per_instance - 1):
            engine.fire(instance_id, ADVANCE, actor=SA, payload=bench_flow.PASSING)
        if (i + 1) % step == 0:
            elapsed = time.perf_counter() - started
            log(f"  {name}: {(i + 1) * per_instance:,} events in {elapsed:.0f} s")
    store.close()
    return ids


def size_section(config: Config, flows: af.FlowSet, workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    per = config.events_per_instance
    sizes = {"small": config.small_events, "large": config.large_events}
    built: dict[str, Any] = {}
    info: dict[str, Any] = {"events_per_instance": per}
    for name, events in sizes.items():
        path = workdir / f"size-{name}.db"
        log(f"building the {name} store: {events:,} events through the engine")
        started = time.perf_counter()
        ids = build_store(path, flows, events, per, name)
        seconds = time.perf_counter() - started
        info[name] = {"events": len(ids) * per, "instances": len(ids), "build_seconds": round(seconds, 1)}
        store = af.SQLiteStore(path, synchronous="NORMAL")
        built[name] = (store, af.Engine(flows, store), ids, random.Random(name))

    cases = []
    for name, (_store, engine, ids, rng) in built.items():

        def run(engine: af.Engine = engine, ids: list[str] = ids, rng: random.Random = rng) -> None:
            for _ in range(config.scale_ops):
                engine.fire(rng.choice(ids), ADVANCE, actor=SA, payload=bench_flow.PASSING)

        events = info[name]["events"]
        cases.append(
            Case(
                f"fire_store_{name}",
                f"engine fire, NORMAL, {events:,} events in the store",
                config.scale_ops,
                run,
            )
        )
    log("timing fire on the small and the large store")
    samples = run_rounds(cases, config.scale_rounds)
    rows = {
        case.key: time_row(case.label, samples[case.key], case.ops, "random existing instance")
        for case in cases
    }

    for name, repeats in (("small", config.verify_repeats_small), ("large", config.verify_repeats_large)):
        _store, engine, _ids, _rng = built[name]
        per_event: list[float] = []
        checked = 0
        ok = True
        for _ in range(repeats):
            started = time.perf_counter_ns()
            report = engine.verify()
            elapsed = time.perf_counter_ns() - started
            checked = report.checked
            ok = ok and report.ok
            per_event.append(elapsed / report.checked / 1000)
        row = time_row(
            f"replay + verify the whole store, {checked:,} events (per event)",
            per_event,
            checked,
            "engine.verify(): chains, positions, versions, and every head against its replayed events",
        )
        row["verify_ok"] = ok
        rows[f"verify_store_{name}"] = row
        log(f"  verify {name}: {checked:,} events, {statistics.median(per_event):.2f} µs/event, ok={ok}")
    for store, *_ in built.values():
        store.close()
    return rows, info


# --- loading ----------------------------------------------------------------------------


def shipped_flows() -> Path:
    try:
        from aftersales_flow.paths import shipped_flows as located

        return located()
    except ImportError:
        return HERE.parent / "flows"


def load_section(config: Config) -> dict[str, Any]:
    """Load and validate every shipped base flow, then every brand overlay (merged with its base)."""
    root = shipped_flows()
    overlays = sorted((root / "brands").glob("*/*.yaml"))
    flows_loaded = 0

    def load_all() -> None:
        nonlocal flows_loaded
        flows_loaded = len(af.load_flows(root))
        for overlay in overlays:
            af.load_flow(overlay)

    times = []
    for _ in range(config.load_repeats):
        started = time.perf_counter_ns()
        load_all()
        times.append((time.perf_counter_ns() - started) / 1e6)
    return {
        "load_all_flows": {
            "kind": "duration",
            "label": f"load + validate every shipped flow ({flows_loaded}) and overlay ({len(overlays)})",
            "available": True,
            "median_ms": round(statistics.median(times), 3),
            "first_ms": round(times[0], 3),
            "min_ms": round(min(times), 3),
            "max_ms": round(max(times), 3),
            "samples": len(times),
            "note": "af.load_flows(flows/) then af.load_flow() on each flows/brands/*/*.yaml",
        }
    }


# --- targets ----------------------------------------------------------------------------


def _median(rows: dict[str, Any], key: str) -> float | None:
    row = rows.get(key)
    return row["median_us"] if row and row.get("available") else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def target(
    label: str, value: float | None, op: str, needed: float, unit: str, how: str, why: str = ""
) -> dict[str, Any]:
    met = (
        None
        if value is None
        else (value >= needed if op == ">=" else value <= needed if op == "<=" else value < needed)
    )
    return {
        "label": label,
        "available": value is not None,
        "value": None if value is None else round(value, 3),
        "op": op,
        "target": needed,
        "unit": unit,
        "met": met,
        "how": how,
        "note": why,
    }


RATIO_ROWS = {
    "fire_full_vs_raw_full": ("raw_full", "engine_fire_full"),
    "fire_normal_vs_raw_normal": ("raw_normal", "engine_fire_normal"),
    "batch_vs_raw_batched": ("raw_batched", "engine_batch"),
    "options_vs_transitions": ("transitions_trigger", "engine_options_in_hand"),
    "options_read_vs_transitions": ("transitions_trigger", "engine_options"),
    "fire_normal_vs_statemachine": ("statemachine_send", "engine_fire_normal"),
    "fire_large_vs_small_store": ("fire_store_large", "fire_store_small"),
    "verify_linear": ("verify_store_large", "verify_store_small"),
    "options_refused_vs_transitions_refused": (
        "transitions_trigger_refused",
        "engine_options_refused_in_hand",
    ),
}
"""The targets that are a ratio of two timed rows: (numerator, denominator)."""


def _from_minima(rows: dict[str, Any], key: str) -> float | None:
    """A ratio target recomputed from the fastest sample of each row.

    On a machine shared with other work, noise only ever adds time, so the ratio of minima
    is a second, steadier estimate next to the ratio of medians (which the bars apply to).
    """
    numerator, denominator = (rows.get(k, {}) for k in RATIO_ROWS[key])
    value = _ratio(
        numerator.get("min_us") if numerator.get("available") else None,
        denominator.get("min_us") if denominator.get("available") else None,
    )
    return None if value is None else round(value, 3)


def targets(rows: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each from numbers of this run."""
    result = _targets(rows)
    for key, item in result.items():
        item["value_from_minima"] = _from_minima(rows, key) if key in RATIO_ROWS else None
    return result


def _targets(rows: dict[str, Any]) -> dict[str, Any]:
    m = lambda key: _median(rows, key)  # noqa: E731
    verify_large = rows.get("verify_store_large", {})
    result = {
        "fire_full_vs_raw_full": target(
            "audited fire (FULL) rate / raw 1-row-per-commit (FULL) rate",
            _ratio(m("raw_full"), m("engine_fire_full")),
            ">=",
            0.8,
            "x",
            "raw_full / engine_fire_full (median µs)",
        ),
        "fire_normal_vs_raw_normal": target(
            "audited fire (NORMAL) rate / raw 1-row-per-commit (NORMAL, chain) rate",
            _ratio(m("raw_normal"), m("engine_fire_normal")),
            ">=",
            0.5,
            "x",
            "raw_normal / engine_fire_normal",
        ),
        "batch_vs_raw_batched": target(
            "engine batch rate / raw batched (chain) rate",
            _ratio(m("raw_batched"), m("engine_batch")),
            ">=",
            0.3,
            "x",
            "raw_batched / engine_batch",
        ),
        "options_vs_transitions": target(
            "decision alone: transitions trigger time / engine options() time (af.Instance in hand)",
            _ratio(m("transitions_trigger"), m("engine_options_in_hand")),
            ">=",
            1.0,
            "x",
            "transitions_trigger / engine_options_in_hand (>= 1: the engine is no slower)",
        ),
        "fire_normal_vs_statemachine": target(
            "audited fire (NORMAL) speed-up over python-statemachine send()",
            _ratio(m("statemachine_send"), m("engine_fire_normal")),
            ">=",
            1.7,
            "x",
            "statemachine_send / engine_fire_normal",
        ),
        "memory_per_instance": target(
            "heap the engine holds per instance between calls",
            rows.get("memory_engine", {}).get("bytes_per_instance"),
            "<",
            1024,
            "bytes",
            "tracemalloc over memory_engine.instances instances",
        ),
        "fire_large_vs_small_store": target(
            "fire time with the large store / with the small store",
            _ratio(m("fire_store_large"), m("fire_store_small")),
            "<=",
            1.2,
            "x",
            "fire_store_large / fire_store_small",
        ),
        "verify_events_per_second": target(
            "replay + verify of the whole large store",
            verify_large.get("per_second") if verify_large.get("available") else None,
            ">=",
            250_000,
            "events/s",
            "verify_store_large.per_second",
        ),
        "verify_linear": target(
            "replay + verify time per event, large store / small store (linear: about 1)",
            _ratio(m("verify_store_large"), m("verify_store_small")),
            "<=",
            1.2,
            "x",
            "verify_store_large / verify_store_small (µs per event)",
        ),
        "load_all_flows_ms": target(
            "load + validate every shipped flow and overlay",
            rows.get("load_all_flows", {}).get("median_ms"),
            "<",
            100,
            "ms",
            "load_all_flows.median_ms",
        ),
    }
    result["options_read_vs_transitions"] = target(
        "options() by id, head read from the store included: transitions trigger / options() (informational)",
        _ratio(m("transitions_trigger"), m("engine_options")),
        ">=",
        1.0,
        "x",
        "transitions_trigger / engine_options (the store read is no part of the decision)",
        "informational: the same bar as the decision alone",
    )
    result["options_refused_vs_transitions_refused"] = target(
        "refused decision: transitions refused trigger / engine options() refused (informational)",
        _ratio(m("transitions_trigger_refused"), m("engine_options_refused_in_hand")),
        ">=",
        1.0,
        "x",
        "transitions_trigger_refused / engine_options_refused_in_hand "
        "(transitions returns False; the engine gives every reason)",
        "informational: the same bar as the allowed decision",
    )
    return result


# --- output -----------------------------------------------------------------------------

ROW_ORDER = (
    "engine_fire_full",
    "engine_fire_normal",
    "engine_fire_memory",
    "engine_batch",
    "engine_fire_repair_order",
    "engine_options_in_hand",
    "engine_options_refused_in_hand",
    "engine_options",
    "engine_options_refused",
    "transitions_trigger",
    "transitions_trigger_refused",
    "statemachine_send",
    "raw_full",
    "raw_normal",
    "raw_batched",
    "memory_engine",
    "memory_transitions_add_model",
    "memory_statemachine",
    "fire_store_small",
    "fire_store_large",
    "verify_store_small",
    "verify_store_large",
    "load_all_flows",
)
"""Every row a run produces, in the order the table shows them."""


def _fmt_time(us: float) -> str:
    return f"{us / 1000:,.2f} ms" if us >= 10_000 else f"{us:,.1f} µs"


def _row_cells(row: dict[str, Any]) -> tuple[str, str, str]:
    """(median, per second, samples) as text."""
    if not row["available"]:
        return (row["note"], "", "")
    if row["kind"] == "time":
        return (_fmt_time(row["median_us"]), f"{row['per_second']:,.0f}", str(row["samples"]))
    if row["kind"] == "memory":
        return (f"{row['bytes_per_instance']:,.0f} B per instance", "", str(row["instances"]))
    return (f"{row['median_ms']:,.1f} ms", "", str(row["samples"]))


def _target_cells(item: dict[str, Any]) -> tuple[str, str, str, str]:
    """(measured, from minima, needed, met) as text."""
    unit = "x" if item["unit"] == "x" else f" {item['unit']}"
    needed = f"{item['op']} {item['target']:,}{unit}"
    if not item["available"]:
        return ("n/a", "", needed, item["note"] or "not available")
    value = item["value"]
    shown = f"{value:,.2f}{unit}" if abs(value) < 1000 else f"{value:,.0f}{unit}"
    best = item.get("value_from_minima")
    return (shown, "" if best is None else f"{best:,.2f}{unit}", needed, "yes" if item["met"] else "**no**")


def _ordered_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = results["rows"]
    keys = [k for k in ROW_ORDER if k in rows] + [k for k in rows if k not in ROW_ORDER]
    return [(k, rows[k]) for k in keys]


def heading(results: dict[str, Any]) -> str:
    machine, load = results["machine"], results["load_average"]
    return (
        f"aftersales_flow benchmarks, {results['mode']} mode, {results['finished_at']}: {machine['cpu']}, "
        f"{machine['cpus']} CPUs, Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"{machine['filesystem']}, load average {load['start']} -> {load['end']}"
    )


def table(results: dict[str, Any]) -> str:
    """The rows and the targets as plain text."""
    lines = [heading(results), ""]
    lines.append(f"{'what':<72} {'median':>14} {'per second':>11} {'samples':>8}")
    for _key, row in _ordered_rows(results):
        median, rate, samples = _row_cells(row)
        if not row["available"]:
            lines.append(f"{row['label']:<72} {median}")
        else:
            lines.append(f"{row['label']:<72} {median:>14} {rate:>11} {samples:>8}")
    lines.append("")
    lines.append(
        f"{'target (median / from the fastest samples)':<80} {'median':>16} {'minima':>8} {'needed':>20}  met"
    )
    for _key, item in results["targets"].items():
        measured, best, needed, met = _target_cells(item)
        shown = "NO" if met == "**no**" else met
        lines.append(f"{item['label']:<80} {measured:>16} {best:>8} {needed:>20}  {shown}")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The rows and the targets as Markdown tables (for docs/performance.md)."""
    lines = [
        f"_{heading(results)}_",
        "",
        "| row | what | median | per second | samples |",
        "|---|---|--:|--:|--:|",
    ]
    for key, row in _ordered_rows(results):
        median, rate, samples = _row_cells(row)
        lines.append(f"| `{key}` | {row['label']} | {median} | {rate} | {samples} |")
    lines += [
        "",
        "| target | what | measured (medians) | from minima | needed | met |",
        "|---|---|--:|--:|--:|---|",
    ]
    for key, item in results["targets"].items():
        measured, best, needed, met = _target_cells(item)
        lines.append(f"| `{key}` | {item['label']} | {measured} | {best} | {needed} | {met} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few rounds: proves the harness runs (CI)"
    )
    parser.add_argument(
        "--out", type=Path, help="JSON file (default benchmarks/results.json; quick: results-quick.json)"
    )
    parser.add_argument(
        "--dir", type=Path, help="where the SQLite files go (default: the system temp folder)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files after the run")
    parser.add_argument("--rounds", type=int, help="rounds of the timed cases")
    parser.add_argument("--small-events", type=int, help="events in the small store (full: 10,000)")
    parser.add_argument("--large-events", type=int, help="events in the large store (full: 1,000,000)")
    parser.add_argument("--events-per-instance", type=int, help="events per instance in those stores (20)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of fire")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="RESULTS",
        help="print an earlier results file as Markdown tables; run nothing",
    )
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> Config:
    config = QUICK if args.quick else FULL
    changes = {
        "rounds": args.rounds,
        "small_events": args.small_events,
        "large_events": args.large_events,
        "events_per_instance": args.events_per_instance,
    }
    values = {**asdict(config), **{k: v for k, v in changes.items() if v is not None}}
    if values["events_per_instance"] < 1 or values["small_events"] < 1 or values["large_events"] < 1:
        raise SystemExit("sizes must be positive")
    return Config(**values)


SECTION_ROWS = {
    "timed": ROW_ORDER[:15],
    "memory": ("memory_engine", "memory_transitions_add_model", "memory_statemachine"),
    "load": ("load_all_flows",),
    "size": ("fire_store_small", "fire_store_large", "verify_store_small", "verify_store_large"),
}
"""The rows each section produces: a section that fails leaves them marked not available."""


def run_sections(
    config: Config, args: argparse.Namespace, workdir: Path, results: dict[str, Any], save: Callable[[], None]
) -> None:
    """Each part of the run in turn; the results file is rewritten after each, so none is lost."""
    with tempfile.TemporaryDirectory() as flow_dir:
        flow = af.load_flow(bench_flow.write_flow(Path(flow_dir)))
    flows = af.FlowSet({flow.name: flow})
    rows = results["rows"]

    def size() -> dict[str, Any]:
        produced, results["sizes"] = size_section(config, flows, workdir)
        return produced

    def profile() -> dict[str, Any]:
        results["profile"] = profile_fire.profile_all(
            flows, workdir, fires=config.profile_fires, orders=config.profile_orders, shipped=shipped_flows()
        )
        return {}

    sections: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("timed", lambda: timed_section(config, flows, workdir)),
        ("memory", lambda: memory_section(config, flows, workdir)),
        ("load", lambda: load_section(config)),
    ]
    if not args.no_profile:
        sections.append(("profile", profile))
    sections.append(("size", size))
    for name, section in sections:
        log(f"section: {name}")
        try:
            rows.update(section())
        except Exception as exc:  # noqa: BLE001 - one broken part must not lose the other parts' numbers
            first_line = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            log(f"section {name} failed: {first_line}")
            results["errors"][name] = first_line
            for key in SECTION_ROWS.get(name, ()):
                kind = {"memory": "memory", "load": "duration"}.get(name, "time")
                rows.setdefault(key, unavailable_row(key, kind, f"the {name} section failed: {first_line}"))
        save()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown is not None:
        results = json.loads(args.markdown.read_text(encoding="utf-8"))
        print(markdown(results))
        print()
        print(profile_fire.markdown(results["profile"]))
        return 0
    config = configure(args)
    out = args.out or HERE / ("results-quick.json" if args.quick else "results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="aftersales-bench-", dir=args.dir))
    started = time.time()
    log(f"{config.mode} mode; SQLite files in {workdir}; results go to {out}")
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": config.mode,
        "complete": False,
        "command": " ".join(["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "finished_at": None,
        "seconds": None,
        "machine": machine_info.describe(workdir),
        "load_average": {"start": _load_average(), "end": None},
        "config": asdict(config),
        "sizes": {},
        "rows": {},
        "targets": {},
        "profile": {},
        "errors": {},
    }

    def save() -> None:
        results["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        results["seconds"] = round(time.time() - started, 1)
        results["load_average"]["end"] = _load_average()
        results["targets"] = targets(results["rows"])
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    try:
        run_sections(config, args, workdir, results, save)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["complete"] = True
    save()
    print(table(results))
    if results["profile"]:
        print()
        print(profile_fire.summary(results["profile"]))
    log(f"wrote {out} ({results['seconds']:.0f} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
