"""Where the time of ``fire`` goes: SQL statements against Python, and a cProfile by area.

Three passes over the same kind of work, each on its own warmed-up store (NORMAL):

1. plain: the time per command with nothing attached;
2. SQL: every statement the store sends to SQLite, timed around ``execute`` (a proxy in place
   of the store's connection; skipped when the store has no ``_conn``), so that the
   command splits into time inside SQLite and time in Python;
3. cProfile: exclusive (own) time grouped by area (the engine's modules, json, sha256,
   transitions, attrs...), and the costliest functions. cProfile slows Python code more than
   C calls, so its percentages overstate Python a little; the SQL pass does not;
4. bytecodes: the Python instructions one command executes, by area, counted with
   ``sys.settrace``. Unlike the times, the count does not depend on what else the machine is
   doing, so it compares two runs of the code exactly (C work, SQLite's included, is not in it).
"""

from __future__ import annotations

import cProfile
import pstats
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_flow
import repair_order_path

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

SA = af.Actor("sa-017", roles={bench_flow.ROLE})
INSTANCES = 50


class _TimedConnection:
    """Stands in for a ``sqlite3.Connection`` and times each ``execute`` by statement."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.totals: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)

    def execute(self, sql: str, *params: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return self._conn.execute(sql, *params)
        finally:
            key = " ".join(sql.split())
            key = key if len(key) <= 90 else key[:87] + "..."
            self.totals[key] += time.perf_counter_ns() - started
            self.calls[key] += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" else tail
    return path


def _area(key: tuple[str, int, str]) -> str:
    file, _line, func = key
    if file == "~":
        if "sqlite3" in func:
            return "SQLite (sqlite3 C calls: statements, COMMIT)"
        if "json" in func:
            return "json encode/decode"
        if "hashlib" in func or "HASH" in func:
            return "sha256"
        if "datetime" in func:
            return "datetime"
        return "builtins (isinstance, dict, str, ...)"
    if "/json/" in file:
        return "json encode/decode"
    if "/transitions/" in file:
        return "transitions (branch resolution)"
    if "/logging/" in file:
        return "logging (transitions' debug calls)"
    if "<attrs generated" in file:
        return "attrs-generated __init__ (values)"
    if "/attr/" in file or "/attrs/" in file:
        return "attrs (evolve, converters)"
    if "aftersales_flow/" in file:
        return "aftersales_flow/" + file.split("aftersales_flow/", 1)[1]
    if Path(file).parent == Path(__file__).parent:
        return "the benchmark's own loop"
    return "stdlib: " + Path(file).name


def _name(key: tuple[str, int, str]) -> str:
    file, line, func = key
    return func if file == "~" else f"{_short(file)}:{line}({func})"


def _bytecodes(work: Callable[[], int]) -> dict[str, Any]:
    """The Python bytecodes one command of ``work`` executes, by area (``sys.settrace``)."""
    counts: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)

    def trace(frame: Any, event: str, _arg: Any) -> Any:
        frame.f_trace_opcodes = True
        area = _area((frame.f_code.co_filename, 0, frame.f_code.co_name))
        if event == "opcode":
            counts[area] += 1
        elif event == "call":
            calls[area] += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        commands = work()
    finally:
        sys.settrace(previous)
    total = sum(counts.values())
    return {
        "per_command": round(total / commands),
        "calls_per_command": round(sum(calls.values()) / commands),
        "areas": [
            {
                "area": area,
                "per_command": round(count / commands, 1),
                "calls_per_command": round(calls[area] / commands, 1),
                "percent": round(100 * count / total, 1),
            }
            for area, count in sorted(counts.items(), key=lambda item: item[1], reverse=True)
        ],
    }


def _measure(work: Callable[[], int], store: Any, traced: Callable[[], int]) -> dict[str, Any]:
    """Run ``work`` three times (plain, SQL-timed, profiled), then ``traced`` (a shorter ``work``)
    counting bytecodes; each returns its command count."""
    started = time.perf_counter_ns()
    commands = work()
    plain_us = (time.perf_counter_ns() - started) / commands / 1000

    sql: dict[str, Any] = {"available": False, "note": "the store has no _conn to time"}
    conn = getattr(store, "_conn", None)
    if conn is not None:
        proxy = _TimedConnection(conn)
        store._conn = proxy
        try:
            started = time.perf_counter_ns()
            count = work()
            total_ns = time.perf_counter_ns() - started
        finally:
            store._conn = conn
        sql_ns = sum(proxy.totals.values())
        if sql_ns:
            statements = sorted(proxy.totals, key=proxy.totals.__getitem__, reverse=True)
            sql = {
                "available": True,
                "command_us": round(total_ns / count / 1000, 2),
                "sql_us": round(sql_ns / count / 1000, 2),
                "python_us": round((total_ns - sql_ns) / count / 1000, 2),
                "sql_percent": round(100 * sql_ns / total_ns, 1),
                "statements": [
                    {
                        "sql": key,
                        "calls_per_command": round(proxy.calls[key] / count, 2),
                        "us_per_command": round(proxy.totals[key] / count / 1000, 2),
                        "percent": round(100 * proxy.totals[key] / total_ns, 1),
                    }
                    for key in statements
                ],
            }
        else:
            sql = {"available": False, "note": "no statement went through the store's _conn"}

    profiler = cProfile.Profile()
    profiler.enable()
    count = work()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    areas: dict[str, float] = defaultdict(float)
    for key, entry in stats.items():
        areas[_area(key)] += entry[2]
    by_own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:20]
    ours = [item for item in stats.items() if "aftersales_flow/" in item[0][0]]
    by_cumulative = sorted(ours, key=lambda item: item[1][3], reverse=True)[:20]
    return {
        "available": True,
        "commands": commands,
        "command_us": round(plain_us, 2),
        "bytecodes": _bytecodes(traced),
        "sql": sql,
        "cprofile": {
            "profiled_command_us": round(total / count * 1e6, 2),
            "areas": [
                {
                    "area": area,
                    "percent": round(100 * own / total, 1),
                    "us_per_command": round(own / count * 1e6, 2),
                }
                for area, own in sorted(areas.items(), key=lambda item: item[1], reverse=True)
            ],
            "top_own_time": [
                {
                    "function": _name(key),
                    "calls_per_command": round(entry[1] / count, 2),
                    "own_percent": round(100 * entry[2] / total, 1),
                    "cumulative_percent": round(100 * entry[3] / total, 1),
                }
                for key, entry in by_own
            ],
            "top_cumulative_aftersales_flow": [
                {
                    "function": _name(key),
                    "calls_per_command": round(entry[1] / count, 2),
                    "cumulative_percent": round(100 * entry[3] / total, 1),
                    "own_percent": round(100 * entry[2] / total, 1),
                }
                for key, entry in by_cumulative
            ],
        },
    }


def profile_bench_flow(flows: af.FlowSet, workdir: Path, fires: int) -> dict[str, Any]:
    """fire() of ``advance`` on the benchmark flow, NORMAL store, round-robin over 50 instances."""
    store = af.SQLiteStore(workdir / "profile-bench.db", synchronous="NORMAL")
    engine = af.Engine(flows, store)
    ids = [f"P-{i:03d}" for i in range(INSTANCES)]
    for instance_id in ids:
        engine.start(bench_flow.FLOW_NAME, instance_id, event="open", actor=SA, payload=bench_flow.PASSING)

    def work(count: int = fires) -> int:
        for k in range(count):
            engine.fire(ids[k % INSTANCES], "advance", actor=SA, payload=bench_flow.PASSING)
        return count

    try:
        work()
        result = _measure(work, store, lambda: work(min(fires, 100)))
    finally:
        store.close()
    result["what"] = (
        f"engine.fire('advance') on the benchmark flow, NORMAL file store, {fires} fires per pass"
    )
    return result


def profile_repair_order(shipped: Path, workdir: Path, orders: int) -> dict[str, Any]:
    """Every command of the shipped repair order's happy path, NORMAL store."""
    store = af.SQLiteStore(workdir / "profile-repair-order.db", synchronous="NORMAL")
    clock = SimulatedClock()
    engine = af.Engine(af.load_flows(shipped), store, clock=clock)
    counter = iter(range(10**9))

    def work(count: int = orders) -> int:
        return sum(
            repair_order_path.run_order(engine, clock, f"RO-{next(counter):06d}") for _ in range(count)
        )

    try:
        work()
        result = _measure(work, store, lambda: work(min(orders, 2)))
    finally:
        store.close()
    result["what"] = (
        f"repair_order walk-in to closed (start + {len(repair_order_path.PATH)} fires), NORMAL file store, "
        f"{orders} orders per pass"
    )
    return result


def profile_all(
    flows: af.FlowSet, workdir: Path, *, fires: int, orders: int, shipped: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {"bench_cycle": profile_bench_flow(flows, workdir, fires)}
    try:
        result["repair_order"] = profile_repair_order(shipped, workdir, orders)
    except af.AftersalesFlowError as exc:
        result["repair_order"] = {"available": False, "note": f"failed: {exc}"}
    return result


def summary(profile: dict[str, Any], areas: int = 10) -> str:
    """A few lines per profile: SQL against Python, and the costliest areas."""
    lines = []
    for name, result in profile.items():
        if not result.get("available"):
            lines.append(f"profile {name}: {result.get('note')}")
            continue
        lines.append(f"profile {name}: {result['what']}")
        lines.append(f"  {result['command_us']:.1f} µs per command (no profiler)")
        sql = result["sql"]
        if sql["available"]:
            lines.append(
                f"  inside SQLite {sql['sql_us']:.1f} µs ({sql['sql_percent']:.0f}%), "
                f"Python {sql['python_us']:.1f} µs"
            )
            for statement in sql["statements"][:8]:
                lines.append(
                    f"    {statement['us_per_command']:>8.1f} µs {statement['percent']:>5.1f}%  "
                    f"x{statement['calls_per_command']:<4g} {statement['sql']}"
                )
        codes = result.get("bytecodes")
        if codes:
            top = ", ".join(f"{a['area']} {a['percent']:.0f}%" for a in codes["areas"][:6])
            lines.append(
                f"  {codes['per_command']:,} Python bytecodes in {codes['calls_per_command']} calls "
                f"per command: {top}"
            )
        lines.append("  own time by area (cProfile):")
        for area in result["cprofile"]["areas"][:areas]:
            lines.append(f"    {area['percent']:>5.1f}%  {area['area']}")
    return "\n".join(line for line in lines if not re.fullmatch(r"\s*", line))


def markdown(profile: dict[str, Any], functions: int = 12) -> str:
    """The profiles as Markdown: SQL statements, own time by area, the costliest functions."""
    lines: list[str] = []
    for name, result in profile.items():
        lines.append(f"#### Profile `{name}`: {result.get('what', '')}")
        lines.append("")
        if not result.get("available"):
            lines += [f"Not available: {result.get('note')}", ""]
            continue
        lines.append(f"{result['command_us']:.1f} µs per command without a profiler.")
        sql = result["sql"]
        if sql["available"]:
            lines += [
                "",
                f"Inside SQLite: {sql['sql_us']:.1f} µs ({sql['sql_percent']:.0f}%); "
                f"Python: {sql['python_us']:.1f} µs (of {sql['command_us']:.1f} µs in that pass).",
                "",
                "| statement | calls | µs per command | % of command |",
                "|---|--:|--:|--:|",
            ]
            lines += [
                f"| `{s['sql']}` | {s['calls_per_command']:g} | {s['us_per_command']:.1f} "
                f"| {s['percent']:.1f} |"
                for s in sql["statements"]
            ]
        codes = result.get("bytecodes")
        if codes:
            lines += [
                "",
                f"Python bytecodes per command: {codes['per_command']:,} in {codes['calls_per_command']} "
                "calls (sys.settrace; the same on any machine, C work not included).",
                "",
                "| area (bytecodes) | per command | calls | % |",
                "|---|--:|--:|--:|",
            ]
            lines += [
                f"| {a['area']} | {a['per_command']:,.0f} | {a['calls_per_command']:g} | {a['percent']:.1f} |"
                for a in codes["areas"][:14]
            ]
        cprofile = result["cprofile"]
        lines += ["", "| area (cProfile, own time) | % | µs per command (profiled) |", "|---|--:|--:|"]
        lines += [
            f"| {a['area']} | {a['percent']:.1f} | {a['us_per_command']:.1f} |"
            for a in cprofile["areas"][:14]
        ]
        lines += ["", "| function (by cumulative time) | calls | cumulative % | own % |", "|---|--:|--:|--:|"]
        lines += [
            f"| `{f['function']}` | {f['calls_per_command']:g} | {f['cumulative_percent']:.1f} "
            f"| {f['own_percent']:.1f} |"
            for f in cprofile["top_cumulative_aftersales_flow"][:functions]
        ]
        lines.append("")
    return "\n".join(lines)
