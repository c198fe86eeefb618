"""Shared helpers for the audit store, chain and verification tests.

A small flow (``mini``), a clock that ticks one second per reading, a standard history of
two repair orders with accepted and refused events interleaved, and ways to look at and
tamper with a store file from outside the library (a plain ``sqlite3`` connection, or the
real ``sqlite3`` command line).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af

MINI_FLOW = """\
flow: mini
version: 1
label: {en: Mini, zh: 迷你}
roles: [service_advisor, technician]
params: {max_rework: 2}
fields:
  note: string
  ok: boolean
  count: integer
  lines: {type: list, key: line_id}
start:
  - {event: open, to: a, roles: [service_advisor], accepts: [note]}
states:
  a: {label: {en: A, zh: 甲}}
  b: {label: {en: B, zh: 乙}}
  c: {label: {en: C, zh: 丙}}
  done: {terminal: true, label: {en: Done, zh: 完}}
transitions:
  - {event: go, from: a, to: b, roles: [service_advisor], requires: [ok],
     guard: {rule: field_true, field: ok}}
  - {event: go, from: a, to: c, roles: [service_advisor], accepts: [ok], increment: [count]}
  - {event: finish, from: [b, c], to: done, roles: [technician], accepts: [lines],
     guard: {all: [{rule: field_present, field: note},
                   {rule: count_where, field: lines, op: ">=", value: 1}]}}
"""

SA = af.Actor("sa-017", roles={"service_advisor"})
TECH = af.Actor("tech-04", roles={"technician"})

SQLITE3 = shutil.which("sqlite3")
needs_sqlite3_cli = pytest.mark.skipif(SQLITE3 is None, reason="the sqlite3 command line is not installed")

# The rows populate() writes, by global sequence number: (instance, chain position, event, accepted).
HISTORY: dict[int, tuple[str, int, str, bool]] = {
    1: ("RO-1", 0, "open", True),
    2: ("RO-1", 1, "finish", False),  # IllegalTransition: not possible in state a
    3: ("RO-1", 2, "go", True),  # a -> b
    4: ("RO-2", 0, "open", True),
    5: ("RO-1", 3, "finish", False),  # GuardRejected: no lines
    6: ("RO-1", 4, "finish", True),  # b -> done
    7: ("RO-2", 1, "go", True),  # a -> c, the last row of RO-2 (accepted)
    8: ("RO-1", 5, "go", False),  # IllegalTransition in a final state, the last row of RO-1 (refused)
}


class TickingClock:
    """A clock that moves one second forward on every reading."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def load_mini_flows(directory: Path) -> af.FlowSet:
    """Write the mini flow into ``directory/flows`` and load it."""
    folder = directory / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "mini.yaml").write_text(MINI_FLOW, encoding="utf-8")
    return af.load_flows(folder)


def make_engine(flows: af.FlowSet, store: af.SQLiteStore) -> af.Engine:
    """An engine on ``store`` with a ticking clock."""
    return af.Engine(flows, store, clock=TickingClock())


def refusal(command: Callable[..., af.Step], *args: Any, **kwargs: Any) -> af.TransitionRefused:
    """Run a command that must be refused and return the refusal."""
    with pytest.raises(af.TransitionRefused) as caught:
        command(*args, **kwargs)
    return caught.value


def populate(engine: af.Engine) -> None:
    """Write the rows listed in :data:`HISTORY`."""
    engine.start("mini", "RO-1", event="open", actor=SA, payload={"note": "brakes squeal"})
    refusal(engine.fire, "RO-1", "finish", actor=TECH)
    engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, idempotency_key="ro1-go")
    engine.start("mini", "RO-2", event="open", actor=SA)
    refusal(engine.fire, "RO-1", "finish", actor=TECH, payload={"lines": []})
    engine.fire("RO-1", "finish", actor=TECH, payload={"lines": [{"line_id": "L1"}]})
    engine.fire("RO-2", "go", actor=SA, payload={"ok": False})
    refusal(engine.fire, "RO-1", "go", actor=SA, payload={"ok": True})


def connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to a store file, outside the library (autocommit)."""
    return sqlite3.connect(path, isolation_level=None)


def dump(path: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table``, every column, in rowid order."""
    conn = connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def event_row(path: Path, seq: int) -> dict[str, Any]:
    """One audit row as a mapping of column to value."""
    conn = connect(path)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    assert found is not None, f"no audit row #{seq}"
    return dict(found)


def sql_literal(value: Any) -> str:
    """``value`` written as an SQL literal for the command line."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def sqlite3_cli(path: Path, sql: str) -> str:
    """Run ``sql`` on the store file with the real ``sqlite3`` command line; return its output."""
    assert SQLITE3 is not None
    done = subprocess.run([SQLITE3, str(path), sql], capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0, f"sqlite3 failed: {done.stderr}"
    assert not done.stderr, f"sqlite3 complained: {done.stderr}"
    return done.stdout
