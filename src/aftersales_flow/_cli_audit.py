"""What the command line reads from a store: events, steps and deadlines as data, replays, exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from aftersales_flow._chain import CHAINED_COLUMNS
from aftersales_flow.engine import Engine
from aftersales_flow.errors import InstanceNotFound
from aftersales_flow.sqlite_store import SQLiteStore
from aftersales_flow.states.deadline import Deadline
from aftersales_flow.store import Row, Store
from aftersales_flow.values import AuditEvent, Step

PROGRESS_FROM = 10_000
"""Stores with at least this many events (or instances, for replay) show a progress bar."""
_BATCH = 1000
"""Rows between two progress updates (updating on every row would slow verify down)."""

EXPORT_COLUMNS = (*CHAINED_COLUMNS, "hash")
"""Every column of an audit row, in the order the chain hashes them, then the hash."""
"""The audit columns of an export, in order (the header of an empty CSV export)."""
_JSON_COLUMNS = frozenset({"reasons", "actor_roles", "payload", "changes", "guards"})
"""Columns the store keeps as JSON text; JSON lines carry them decoded."""


@contextmanager
def progress(what: str, total: int) -> Iterator[Callable[[int], None]]:
    """A function advancing a progress bar on stderr, drawn only for a terminal and a large ``total``.

    The bar never touches stdout, so ``--json`` output stays clean, and it disappears when done.
    """
    # Imported here: most runs draw no bar, and rich takes a while to import.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if total < PROGRESS_FROM or not console.is_terminal:
        yield lambda done: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.advance(task, done)


class CountingStore(SQLiteStore):
    """A SQLite store that reports, in batches, how many audit rows a full read has gone through."""

    on_rows: Callable[[int], None] | None = None

    def iter_events(self) -> Iterator[Row]:
        """Every audit row, grouped by instance, in chain order, counting as it goes."""
        yield from self._counted(super().iter_events())

    def scan_chains(self) -> Iterator[tuple[Any, ...]]:
        """Every audit row as verification reads it, counting as it goes."""
        return self._counted(super().scan_chains())

    def _counted(self, rows: Iterator[Any]) -> Iterator[Any]:
        count = 0
        for row in rows:
            yield row
            count += 1
            if count == _BATCH and self.on_rows is not None:
                self.on_rows(count)
                count = 0
        if self.on_rows is not None:
            self.on_rows(count)


def differences(engine: Engine, instance_id: str) -> list[str]:
    """How the instance rebuilt from its events differs from its stored head (empty: they agree)."""
    head = engine.instance(instance_id)
    try:
        rebuilt = engine.replay(instance_id)
    except InstanceNotFound:
        return ["the head has no accepted events to rebuild it from"]
    found = [
        f"{name}: head {getattr(head, name)!r}, events {getattr(rebuilt, name)!r}"
        for name in ("flow", "flow_version", "state", "version")
        if getattr(head, name) != getattr(rebuilt, name)
    ]
    if head.data != rebuilt.data:
        keys = sorted(k for k in {*head.data, *rebuilt.data} if head.data.get(k) != rebuilt.data.get(k))
        found.append(f"data differs in {', '.join(keys)}")
    return found


def event_data(event: AuditEvent) -> dict[str, Any]:
    """One audit event as ``history --json`` prints it: a step's fields and its chain position."""
    return _move_data(event, position=event.position)


def step_data(step: Step) -> dict[str, Any]:
    """One step as ``tick --json`` prints it."""
    return _move_data(step)


def _move_data(move: Step | AuditEvent, **extra: Any) -> dict[str, Any]:
    """What a step and an audit event both say, in the order the JSON output gives it."""
    return {
        "seq": move.seq,
        "instance_id": move.instance_id,
        "flow": move.flow,
        **extra,
        "version": move.version,
        "event": move.event,
        "from": move.source,
        "to": move.target,
        "accepted": move.accepted,
        "actor": move.actor.id,
        "at": move.at.isoformat(),
        "reasons": [r.to_dict() for r in move.reasons],
    }


def deadline_data(deadline: Deadline) -> dict[str, Any]:
    """One pending deadline as ``due --json`` prints it."""
    return {
        "instance_id": deadline.instance_id,
        "flow": deadline.flow,
        "name": deadline.name,
        "state": deadline.state,
        "due_at": deadline.due_at.isoformat(),
        "event": deadline.event,
        "set_seq": deadline.set_seq,
        "status": deadline.status,
    }


def audit_rows(store: Store, since: int = 0) -> Iterator[Row]:
    """Every audit row after sequence number ``since``, oldest first, read a page at a time."""
    while True:
        page = store.events_since(since, _BATCH)
        yield from page
        if len(page) < _BATCH:
            return
        since = page[-1]["seq"]


def _decoded(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value  # an edited row: export what is there; verify names it


def write_jsonl(rows: Iterator[Row], out: IO[str]) -> int:
    """Write one JSON object per audit row (JSON columns decoded); returns the number of rows."""
    count = 0
    for row in rows:
        record = {k: _decoded(v) if k in _JSON_COLUMNS else v for k, v in row.items()}
        record["accepted"] = bool(record.get("accepted"))
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value


def write_csv(rows: Iterator[Row], out: IO[str]) -> int:
    """Write a header and one CSV row per audit row (JSON columns as JSON text); returns the rows."""
    first = next(rows, None)
    columns = list(first) if first is not None else list(EXPORT_COLUMNS)
    writer = csv.writer(out)
    writer.writerow(columns)
    if first is None:
        return 0
    count = 0
    for row in _chain(first, rows):
        values: Mapping[str, Any] = {**row, "accepted": "true" if row.get("accepted") else "false"}
        writer.writerow([_cell(values.get(column)) for column in columns])
        count += 1
    return count


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest
