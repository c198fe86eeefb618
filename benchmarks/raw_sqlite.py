"""The floor: appending audit rows with plain ``sqlite3``, no engine.

Each row carries the same columns and values, byte for byte, as an audit row the engine
writes for one ``advance`` of the benchmark flow, and is chained per instance with sha256
over the JSON array of its values (what the engine's chain hashes). The table has the
integer primary key and the unique (instance, position) index a chain needs, nothing else;
the previous hash of each instance is kept in memory rather than read back. The file is in
WAL mode like the engine's store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
COLUMNS = (
    "seq",
    "instance_id",
    "position",
    "version",
    "event",
    "source",
    "target",
    "accepted",
    "refusal",
    "reasons",
    "actor_id",
    "actor_roles",
    "on_behalf_of",
    "channel",
    "at",
    "payload",
    "changes",
    "guards",
    "idempotency_key",
    "flow",
    "flow_version",
    "flow_hash",
    "prev_hash",
)
_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}, hash) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})"


def template_row(event: Any) -> dict[str, Any]:
    """The column values of an audit row, from an engine ``AuditEvent`` of the same flow."""
    return {
        "instance_id": event.instance_id,
        "version": event.version,
        "event": event.event,
        "source": event.source,
        "target": event.target,
        "accepted": 1 if event.accepted else 0,
        "refusal": None,
        "reasons": _canonical([r.to_dict() for r in event.reasons]),
        "actor_id": event.actor.id,
        "actor_roles": _canonical(sorted(event.actor.roles)),
        "on_behalf_of": event.actor.on_behalf_of,
        "channel": event.actor.channel,
        "at": event.at.isoformat(),
        "payload": _canonical(event.payload),
        "changes": _canonical(event.changes),
        "guards": _canonical(event.guards),
        "idempotency_key": None,
        "flow": event.flow,
        "flow_version": event.flow_version,
        "flow_hash": event.flow_hash,
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _hash(values: Sequence[Any]) -> str:
    encoded = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


class RawAppender:
    """Appends chained audit rows to its own SQLite file, one commit per row or per batch."""

    def __init__(
        self, path: Path, synchronous: str, template: Mapping[str, Any], instances: int = 50
    ) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.conn.execute(
            f"CREATE TABLE events (seq INTEGER PRIMARY KEY, {', '.join(COLUMNS[1:])}, hash TEXT NOT NULL)"
        )
        self.conn.execute("CREATE UNIQUE INDEX events_instance_position ON events (instance_id, position)")
        self.template = dict(template)
        self.ids = [f"RAW-{i:05d}" for i in range(instances)]
        self.heads: dict[str, tuple[int, str]] = {}
        self.seq = 0

    def _values(self, k: int) -> tuple[Any, ...]:
        instance_id = self.ids[k % len(self.ids)]
        position, prev_hash = self.heads.get(instance_id, (-1, GENESIS))
        self.seq += 1
        row = {**self.template, "seq": self.seq, "instance_id": instance_id, "position": position + 1}
        row["version"] = position + 2
        row["prev_hash"] = prev_hash
        values = [row[c] for c in COLUMNS]
        digest = _hash(values)
        self.heads[instance_id] = (position + 1, digest)
        return (*values, digest)

    def append(self, k: int) -> None:
        """One row in its own (autocommit) transaction."""
        self.conn.execute(_INSERT, self._values(k))

    def append_batch(self, count: int) -> None:
        """``count`` rows in one transaction."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        for k in range(count):
            conn.execute(_INSERT, self._values(k))
        conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
