"""What the engine needs from an audit store; :class:`SQLiteStore` is the embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import attrs

from aftersales_flow.model import Flow
from aftersales_flow.states.deadline import Deadline

Row = Mapping[str, Any]
"""An audit row: ``seq``, the chained columns and ``hash``; JSON columns hold canonical text."""


@attrs.frozen(kw_only=True)
class Head:
    """An instance's stored head: its state, version and data (canonical JSON text)."""

    id: str
    flow: str
    flow_version: int
    flow_hash: str
    state: str
    version: int
    data: str
    created_at: str
    updated_at: str


class StoreTransaction(Protocol):
    """One write transaction: everything in it commits together or not at all."""

    def find_key(self, key: str) -> Row | None:
        """The audit row that carries idempotency ``key``, if any."""

    def head(self, instance_id: str) -> Head | None:
        """The instance's head, read inside the transaction."""

    def append(self, row: Mapping[str, Any]) -> Row:
        """Append an audit row; the store sets ``position``, ``prev_hash``, ``hash`` and ``seq``."""

    def put_head(self, head: Head) -> None:
        """Insert or update an instance's head."""

    def deadlines_of(self, instance_id: str) -> list[Deadline]:
        """The instance's pending deadlines, read inside the transaction."""

    def set_deadlines(self, instance_id: str, deadlines: Sequence[Deadline]) -> None:
        """Replace the instance's pending deadlines."""

    def add_link(self, parent_id: str, parent_seq: int, child_id: str, child_seq: int, kind: str) -> None:
        """Record that the parent's event ``parent_seq`` started (or fired on) the child."""

    def ensure_flow(self, flow: Flow) -> None:
        """Store the flow's definition under its content hash (once)."""


class Store(Protocol):
    """An audit store: append-only, hash-chained events plus instance heads."""

    def write(self) -> AbstractContextManager[StoreTransaction]:
        """Open a write transaction (exclusive among writers)."""

    def head(self, instance_id: str) -> Head | None:
        """The instance's head, or None."""

    def events(self, instance_id: str) -> list[Row]:
        """The instance's audit rows in chain order, refused attempts included."""

    def iter_events(self) -> Iterator[Row]:
        """Every audit row, grouped by instance, in chain order."""

    def iter_heads(self) -> Iterator[Head]:
        """Every instance head."""

    def events_since(self, seq: int, limit: int = 1000) -> list[Row]:
        """Audit rows with ``seq`` greater than ``seq``, oldest first (the outbox)."""

    def due(self, now: datetime) -> list[Deadline]:
        """Pending deadlines due at or before ``now``, earliest first."""

    def pending_deadlines(self, instance_id: str | None = None) -> list[Deadline]:
        """Every pending deadline (of one instance, when given), earliest first."""

    def links(self, instance_id: str) -> list[Mapping[str, Any]]:
        """The link rows in which the instance is parent or child, oldest first."""

    def chain_heads(self) -> Iterator[tuple[str, int, str]]:
        """Every chain's instance id, row count and last hash."""

    def flow_definition(self, content_hash: str) -> Mapping[str, Any] | None:
        """A stored flow definition by content hash."""

    def close(self) -> None:
        """Release the store's resources."""
