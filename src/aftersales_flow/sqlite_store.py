"""The embedded audit store: one SQLite file, written through sqlite-utils and sqlite3.

Writers take the lock with ``BEGIN IMMEDIATE`` and wait up to the busy timeout; the audit
table refuses UPDATE and DELETE with triggers, and rows are never written with
sqlite-utils' ``replace`` or ``ignore``. ``synchronous=FULL`` is the default so that an
acknowledged event survives a power cut; ``NORMAL`` trades that for speed.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from aftersales_flow._build import canonical_json
from aftersales_flow._chain import CHAINED_COLUMNS, GENESIS, encode_values
from aftersales_flow._time import format_timestamp, parse_timestamp, system_clock
from aftersales_flow.errors import StoreBusy, StoreCorrupt, StoreError
from aftersales_flow.links import LINK_CHANNEL
from aftersales_flow.model import Flow, thaw
from aftersales_flow.states.deadline import Deadline
from aftersales_flow.store import Head, Row

SCHEMA_VERSION = 1

_EVENT_COLUMNS: dict[str, type] = {
    "seq": int,
    "instance_id": str,
    "position": int,
    "version": int,
    "event": str,
    "source": str,
    "target": str,
    "accepted": int,
    "refusal": str,
    "reasons": str,
    "actor_id": str,
    "actor_roles": str,
    "on_behalf_of": str,
    "channel": str,
    "at": str,
    "payload": str,
    "changes": str,
    "guards": str,
    "idempotency_key": str,
    "flow": str,
    "flow_version": int,
    "flow_hash": str,
    "prev_hash": str,
    "hash": str,
}
_ROW_COLUMNS = tuple(_EVENT_COLUMNS)
_INSERT = (
    f"INSERT INTO events ({', '.join(CHAINED_COLUMNS)}, hash) "
    f"VALUES ({', '.join('?' for _ in CHAINED_COLUMNS)}, ?)"
)
_sha256 = hashlib.sha256
_middle_of = operator.itemgetter(*CHAINED_COLUMNS[3:-1])
"""The chained values the engine gives (all but ``seq``, ``instance_id``, ``position``, ``prev_hash``)."""
assert CHAINED_COLUMNS[:3] == ("seq", "instance_id", "position")
assert CHAINED_COLUMNS[-1] == "prev_hash"
_SELECT = f"SELECT {', '.join(_ROW_COLUMNS)} FROM events"
_HEAD_COLUMNS = (
    "id",
    "flow",
    "flow_version",
    "flow_hash",
    "state",
    "version",
    "data",
    "created_at",
    "updated_at",
)
_HEAD_BY_ID = f"SELECT {', '.join(_HEAD_COLUMNS)} FROM instances WHERE id = ?"
_APPEND_ONLY = ("events", "flows", "links")
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


_DEADLINE_COLUMNS = ("instance_id", "name", "flow", "state", "due_at", "event", "set_seq", "status")


def _deadline_values(deadline: Deadline) -> tuple[Any, ...]:
    return (
        deadline.instance_id,
        deadline.name,
        deadline.flow,
        deadline.state,
        _fixed(deadline.due_at),
        deadline.event,
        deadline.set_seq,
        deadline.status,
    )


def _fixed(moment: datetime) -> str:
    """UTC time as fixed-width text, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _deadline(values: tuple[Any, ...]) -> Deadline:
    found = dict(zip(_DEADLINE_COLUMNS, values, strict=True))
    found["due_at"] = parse_timestamp(found["due_at"])
    return Deadline(**found)


def _head_of(found: Sequence[Any]) -> Head:
    """A head from the first nine values of a row (in ``_HEAD_COLUMNS`` order)."""
    return Head(
        id=found[0],
        flow=found[1],
        flow_version=found[2],
        flow_hash=found[3],
        state=found[4],
        version=found[5],
        data=found[6],
        created_at=found[7],
        updated_at=found[8],
    )


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_ROW_COLUMNS, values, strict=True))


_LINKED_ROWS = f"actor_id = 'system' AND channel LIKE '{LINK_CHANNEL}%'"
"""The audit rows a link wrote (see :data:`aftersales_flow.links.LINK_CHANNEL`)."""


def _store_error(exc: sqlite3.Error, path: str) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreBusy(f"{path}: the store stayed locked by another writer past the busy timeout ({text})")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreCorrupt(f"{path}: the file is not a usable aftersales_flow database ({text})")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{path}: the store is read-only; nothing was written ({text})")
    if "full" in text:
        return StoreError(f"{path}: the disk is full; nothing was written ({text})")
    if "unable to open" in text and path != ":memory:":
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return StoreError(f"{path}: the folder {folder} does not exist; nothing was written ({text})")
        if not os.access(folder, os.W_OK):
            return StoreError(
                f"{path}: the folder {folder} is read-only (a read-only folder or filesystem: SQLite "
                f"cannot create its log files there); nothing was written ({text})"
            )
    return StoreError(f"{path}: {text}; nothing was written")


_READ_HEAD = (
    f"SELECT {', '.join('h.' + c for c in _HEAD_COLUMNS)}, "
    "(SELECT coalesce(max(seq), 0) + 1 FROM events), "
    "(SELECT position FROM events WHERE instance_id = ?1 ORDER BY position DESC LIMIT 1), "
    "(SELECT hash FROM events WHERE instance_id = ?1 ORDER BY position DESC LIMIT 1) "
    "FROM (SELECT 1) LEFT JOIN instances AS h ON h.id = ?1"
)
"""An instance's head, its chain's tip (last position and hash) and the next ``seq``: one statement."""
_SCAN = (
    "SELECT instance_id, position, prev_hash, hash, "
    f"json_array({', '.join(CHAINED_COLUMNS)}), seq, accepted, version, "
    "typeof(flow_version) = 'integer' AND typeof(accepted) = 'integer' "
    "AND (NOT accepted OR coalesce(json_valid(changes), 0)), "
    "CASE WHEN accepted THEN changes END FROM events ORDER BY seq"
)
"""What verification reads of every row (see :meth:`SQLiteStore.scan_chains`)."""
_DECLARED = {name: "INTEGER" if kind is int else "TEXT" for name, kind in _EVENT_COLUMNS.items()}
"""The declared type of each audit column, as the schema creates it."""
_READ_TIP = "SELECT position, hash FROM events WHERE instance_id = ? ORDER BY position DESC LIMIT 1"


class _Transaction:
    """One write transaction; it holds the database lock, so what it wrote itself it knows.

    The heads it read or wrote, each chain's tip and the next ``seq`` are kept for the
    transaction's life (a batch of commands reads none of them twice). Any SQLite error
    forgets them, since SQLite may have rolled part or all of the transaction back.
    """

    def __init__(self, conn: sqlite3.Connection, store: SQLiteStore) -> None:
        self.conn = conn
        self.store = store
        self._heads: dict[str, Head | None] = {}
        self._tips: dict[str, tuple[int, str]] = {}
        self._next_seq: int | None = None

    def _forget(self) -> None:
        self._heads.clear()
        self._tips.clear()
        self._next_seq = None

    def find_key(self, key: str) -> Row | None:
        found = self.conn.execute(f"{_SELECT} WHERE idempotency_key = ?", (key,)).fetchone()
        return _row(found) if found else None

    def head(self, instance_id: str) -> Head | None:
        heads = self._heads
        if instance_id in heads:
            return heads[instance_id]
        try:
            found = self.conn.execute(_READ_HEAD, (instance_id,)).fetchone()
        except sqlite3.Error:
            self._forget()
            raise
        head = None if found[0] is None else _head_of(found)
        self._next_seq = found[9]
        self._tips[instance_id] = (-1, GENESIS) if found[10] is None else (found[10], found[11])
        heads[instance_id] = head
        return head

    def _tip(self, instance_id: str) -> tuple[int, str]:
        """The chain's last (position, hash), or (-1, GENESIS) for a chain not begun."""
        tip = self._tips.get(instance_id)
        if tip is not None:
            return tip
        found = self.conn.execute(_READ_TIP, (instance_id,)).fetchone()
        return (found[0], found[1]) if found else (-1, GENESIS)

    def append(self, row: Mapping[str, Any]) -> Row:
        instance_id = row["instance_id"]
        try:
            # The writer holds the database lock (BEGIN IMMEDIATE), so max(seq) + 1 is ours alone.
            seq = self._next_seq
            if seq is None:
                (seq,) = self.conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()
            last, prev_hash = self._tips.get(instance_id) or self._tip(instance_id)
            values = [seq, instance_id, last + 1, *_middle_of(row), prev_hash]
            digest = _sha256(encode_values(values).encode()).hexdigest()  # row_hash(values)
            values.append(digest)
            self.conn.execute(_INSERT, values)
        except sqlite3.Error:
            self._forget()
            raise
        self._next_seq = seq + 1
        self._tips[instance_id] = (last + 1, digest)
        full = dict(row)
        full["seq"], full["position"], full["prev_hash"], full["hash"] = seq, last + 1, prev_hash, digest
        return full

    def put_head(self, head: Head) -> None:
        try:
            self._put_head(head)
        except sqlite3.Error:
            self._forget()
            raise
        self._heads[head.id] = head

    def _put_head(self, head: Head) -> None:
        if head.version > 1:  # the head exists: a plain update writes less than an upsert
            self.conn.execute(
                "UPDATE instances SET flow = ?, flow_version = ?, flow_hash = ?, state = ?, version = ?, "
                "data = ?, updated_at = ? WHERE id = ?",
                (
                    head.flow,
                    head.flow_version,
                    head.flow_hash,
                    head.state,
                    head.version,
                    head.data,
                    head.updated_at,
                    head.id,
                ),
            )
            return
        self.conn.execute(
            "INSERT INTO instances (id, flow, flow_version, flow_hash, state, version, data, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "flow = excluded.flow, flow_version = excluded.flow_version, flow_hash = excluded.flow_hash, "
            "state = excluded.state, version = excluded.version, data = excluded.data, "
            "updated_at = excluded.updated_at",
            tuple(getattr(head, c) for c in _HEAD_COLUMNS),
        )

    def deadlines_of(self, instance_id: str) -> list[Deadline]:
        return self.store._deadlines(self.conn, "WHERE instance_id = ?", (instance_id,))

    def set_deadlines(self, instance_id: str, deadlines: Sequence[Deadline]) -> None:
        try:
            self.conn.execute("DELETE FROM deadlines WHERE instance_id = ?", (instance_id,))
            self.conn.executemany(
                f"INSERT INTO deadlines ({', '.join(_DEADLINE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_deadline_values(d) for d in deadlines],
            )
        except sqlite3.Error:
            self._forget()
            raise

    def add_link(self, parent_id: str, parent_seq: int, child_id: str, child_seq: int, kind: str) -> None:
        try:
            self.conn.execute(
                "INSERT INTO links (parent_id, parent_seq, child_id, child_seq, kind) VALUES (?, ?, ?, ?, ?)",
                (parent_id, parent_seq, child_id, child_seq, kind),
            )
        except sqlite3.Error:
            self._forget()
            raise

    def ensure_flow(self, flow: Flow) -> None:
        if flow.content_hash in self.store._known_flows:
            return
        exists = self.conn.execute("SELECT 1 FROM flows WHERE hash = ?", (flow.content_hash,)).fetchone()
        if not exists:
            self.conn.execute(
                "INSERT INTO flows (hash, name, version, brand, definition, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    flow.content_hash,
                    flow.name,
                    flow.version,
                    flow.brand,
                    canonical_json(thaw(flow.definition)),
                    format_timestamp(system_clock()),
                ),
            )
        self.store._pending_flows.add(flow.content_hash)


class _Writing:
    """The context of :meth:`SQLiteStore.write`: begin on entry; commit, or roll back on error."""

    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> _Transaction:
        return self._store._begin()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        self._store._end(error if kind is not None else None)


class SQLiteStore:
    """The embedded audit store in one SQLite file (``":memory:"`` for tests).

    ``synchronous`` is ``"FULL"`` (default: an acknowledged event survives power loss) or
    ``"NORMAL"`` (faster; the last transactions may be lost on power loss, never
    corrupted). ``busy_timeout`` is how many seconds a writer waits for the lock before
    :class:`StoreBusy` is raised.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ValueError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)} (got {synchronous!r})"
            )
        self.synchronous = mode
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._known_flows: set[str] = set()
        self._pending_flows: set[str] = set()
        self._reopen = False
        try:
            self._connect()
            self._ensure_schema()
        except sqlite3.Error as exc:
            self._close_quietly()
            raise _store_error(exc, self.path) from None
        except BaseException:
            self._close_quietly()
            raise

    def _connect(self) -> None:
        self._conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(self._conn)

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    # --- schema ------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """Create the schema in an empty file, or check the one that is there.

        Creation happens under the write lock and re-checks emptiness, so two processes
        opening a new file at once both end up with one schema.
        """
        if not self.db.table_names():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if not self.db.table_names():
                    self._create_schema()
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        tables = set(self.db.table_names())
        if "events" not in tables:
            raise StoreCorrupt(
                f"{self.path}: the database holds other tables; use a new file for the audit store"
            )
        missing = {"meta", "instances", "flows", "deadlines", "links"} - tables
        if missing:
            raise StoreCorrupt(
                f"{self.path}: the audit store lacks its {', '.join(sorted(missing))} table(s)"
            )
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if found is None or str(found[0]) != str(SCHEMA_VERSION):
            raise StoreCorrupt(
                f"{self.path}: schema version {found[0] if found else 'missing'}, "
                f"this library reads version {SCHEMA_VERSION}"
            )

    def _create_schema(self) -> None:
        db = self.db
        db.table("meta").create({"key": str, "value": str}, pk="key")
        db.table("meta").insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
        db.table("events").create(
            _EVENT_COLUMNS,
            pk="seq",
            not_null={
                "instance_id",
                "position",
                "event",
                "accepted",
                "actor_id",
                "at",
                "flow",
                "hash",
                "prev_hash",
            },
        )
        db.table("events").create_index(["instance_id", "position"], unique=True)
        # Partial indexes: refused attempts carry no version and most commands no key, and an
        # index entry per NULL would be written (and fsynced) on every event for nothing.
        self._conn.execute(
            "CREATE UNIQUE INDEX idx_events_instance_id_version ON events (instance_id, version) "
            "WHERE version IS NOT NULL"
        )
        self._conn.execute(
            "CREATE UNIQUE INDEX idx_events_idempotency_key ON events (idempotency_key) "
            "WHERE idempotency_key IS NOT NULL"
        )
        db.table("instances").create(
            {
                "id": str,
                "flow": str,
                "flow_version": int,
                "flow_hash": str,
                "state": str,
                "version": int,
                "data": str,
                "created_at": str,
                "updated_at": str,
            },
            pk="id",
            not_null={"flow", "flow_version", "flow_hash", "state", "version", "data"},
        )
        db.table("flows").create(
            {"hash": str, "name": str, "version": int, "brand": str, "definition": str, "stored_at": str},
            pk="hash",
        )
        # Pending deadlines: derived state like the heads, rewritten in the transaction of the
        # event that sets or clears them; the audit trail holds what happened.
        db.table("deadlines").create(
            {
                "instance_id": str,
                "name": str,
                "flow": str,
                "state": str,
                "due_at": str,
                "event": str,
                "set_seq": int,
                "status": str,
            },
            pk=("instance_id", "name"),
            not_null={"flow", "state", "due_at", "event", "set_seq", "status"},
        )
        db.table("deadlines").create_index(["status", "due_at"])
        # Parent and child instances: which event of which instance started (or fired on) which.
        db.table("links").create(
            {"parent_id": str, "parent_seq": int, "child_id": str, "child_seq": int, "kind": str},
            pk=("parent_seq", "child_seq"),
            not_null={"parent_id", "child_id", "kind"},
        )
        # The rows links wrote, few among many: verify() matches them with the links table.
        self._conn.execute(f"CREATE INDEX events_linked ON events (seq) WHERE {_LINKED_ROWS}")
        db.table("links").create_index(["parent_id"])
        db.table("links").create_index(["child_id"])
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                self._conn.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} are append-only: {action} refused'); END"
                )

    # --- writing -----------------------------------------------------------------------

    def write(self) -> _Writing:
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error."""
        return _Writing(self)

    def _begin(self) -> _Transaction:
        """Take the lock and begin; the caller ends with :meth:`_end` (see :class:`_Writing`)."""
        self._lock.acquire()
        try:
            if self._reopen and self.path != ":memory:":
                # A connection that met a read-only file stays read-only: open a new one, so the
                # store writes again once the cause is gone.
                self._close_quietly()
                self._connect()
                self._reopen = False
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
        except BaseException:
            self._lock.release()
            raise
        return _Transaction(conn, self)

    def _end(self, failed: BaseException | None) -> None:
        """Commit (or, after ``failed``, roll back) the transaction :meth:`_begin` opened."""
        try:
            if failed is None:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    raise self._failed(exc) from None
                self._known_flows |= self._pending_flows
                self._pending_flows.clear()
                return
            self._rollback()
            if isinstance(failed, sqlite3.Error):
                raise self._failed(failed) from None
        finally:
            self._lock.release()

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        error = _store_error(exc, self.path)
        if "read-only" in str(error) or "readonly" in str(exc):
            self._reopen = True
        return error

    def _rollback(self) -> None:
        self._pending_flows.clear()
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - the connection is already unusable
            pass

    # --- reading -----------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None

    def _head(self, conn: sqlite3.Connection, instance_id: str) -> Head | None:
        found = conn.execute(_HEAD_BY_ID, (instance_id,)).fetchone()
        return _head_of(found) if found else None

    def head(self, instance_id: str) -> Head | None:
        """The instance's head, or None."""
        with self._lock:
            try:
                return self._head(self._conn, instance_id)
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None

    def events(self, instance_id: str) -> list[Row]:
        """The instance's audit rows in chain order, refused attempts included."""
        return [
            _row(r) for r in self._read(f"{_SELECT} WHERE instance_id = ? ORDER BY position", (instance_id,))
        ]

    def iter_events(self) -> Iterator[Row]:
        """Every audit row, grouped by instance, in chain order."""
        for values in self._read(f"{_SELECT} ORDER BY instance_id, position"):
            yield _row(values)

    def iter_heads(self) -> Iterator[Head]:
        """Every instance head, by id."""
        for values in self._read(f"SELECT {', '.join(_HEAD_COLUMNS)} FROM instances ORDER BY id"):
            yield _head_of(values)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block see one state of the store (one read transaction).

        No writer sharing this store object runs meanwhile.
        """
        with self._lock:
            began = not self._conn.in_transaction
            try:
                if began:
                    self._conn.execute("BEGIN")
                yield
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None
            finally:
                if began:
                    self._end_read()

    def _end_read(self) -> None:
        """End the read transaction :meth:`snapshot` began (it wrote nothing: no outcome to report)."""
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - the connection is already unusable
            pass

    def scan_moves(self, seqs: Iterable[int]) -> Iterator[tuple[Any, ...]]:
        """``(seq, target, flow, flow_version, flow_hash)`` of the audit rows numbered ``seqs``."""
        wanted = list(seqs)
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                yield from self._read(
                    f"SELECT seq, target, flow, flow_version, flow_hash FROM events WHERE seq IN ({marks})",
                    tuple(chunk),
                )

    def scan_chains(self) -> Iterator[tuple[Any, ...]]:
        """Every audit row in global (``seq``) order, as the tuple :func:`verify_store` reads.

        ``(instance_id, position, prev_hash, hash, hashed, seq, accepted, version, plain,
        changes)``: ``hashed`` is the chained columns as a JSON array made by SQLite (the text
        the row's hash covers, when SQLite writes the values as the chain does); ``plain``
        is 1 when ``accepted`` and ``flow_version`` are whole numbers and an accepted row's
        ``changes`` are valid JSON; ``changes`` is given for accepted rows only. Rows are read
        one by one, walking the table in its own order. Iterate inside :meth:`snapshot`: the
        cursor is SQLite's own, so an error while reading raises ``sqlite3.Error``.
        """
        with self._lock:
            try:
                declared = {row[1]: row[2].upper() for row in self._conn.execute("PRAGMA table_info(events)")}
                if declared != _DECLARED:
                    # The walk relies on the column types (a TEXT column cannot hold a number).
                    raise StoreError(f"{self.path}: the events table is not the one this library creates")
                return self._conn.execute(_SCAN)
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None

    def events_since(self, seq: int, limit: int = 1000) -> list[Row]:
        """Audit rows after ``seq``, oldest first: the outbox subscribers read."""
        return [_row(r) for r in self._read(f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))]

    def flow_definition(self, content_hash: str) -> Mapping[str, Any] | None:
        """A stored flow definition by content hash."""
        found = self._read("SELECT definition FROM flows WHERE hash = ?", (content_hash,))
        return json.loads(found[0][0]) if found else None

    def _deadlines(self, conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[Deadline]:
        rows = conn.execute(
            f"SELECT {', '.join(_DEADLINE_COLUMNS)} FROM deadlines {where} "
            "ORDER BY due_at, instance_id, name",
            params,
        ).fetchall()
        return [_deadline(values) for values in rows]

    def due(self, now: datetime) -> list[Deadline]:
        """Pending deadlines due at or before ``now``, earliest first."""
        with self._lock:
            try:
                # Stored as UTC ISO text of one fixed width, so text order is time order.
                return self._deadlines(self._conn, "WHERE status = 'pending' AND due_at <= ?", (_fixed(now),))
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None

    def pending_deadlines(self, instance_id: str | None = None) -> list[Deadline]:
        """Every pending deadline (of one instance, when given), earliest first."""
        where, params = ("WHERE instance_id = ?", (instance_id,)) if instance_id else ("", ())
        with self._lock:
            try:
                return self._deadlines(self._conn, where, params)
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path) from None

    def links(self, instance_id: str) -> list[Mapping[str, Any]]:
        """The link rows in which the instance is parent or child, oldest first."""
        rows = self._read(
            "SELECT parent_id, parent_seq, child_id, child_seq, kind FROM links "
            "WHERE parent_id = ? OR child_id = ? ORDER BY child_seq",
            (instance_id, instance_id),
        )
        return [
            dict(zip(("parent_id", "parent_seq", "child_id", "child_seq", "kind"), r, strict=True))
            for r in rows
        ]

    def stored_flows(self) -> list[tuple[Any, Any]]:
        """``(hash, definition)`` of every stored flow definition, the definition as stored text."""
        return self._read("SELECT hash, definition FROM flows ORDER BY hash")

    def flows_in_use(self) -> list[tuple[Any, Any]]:
        """``(flow_hash, an instance id)`` for each flow definition an instance head runs under."""
        return self._read("SELECT flow_hash, min(id) FROM instances GROUP BY flow_hash ORDER BY flow_hash")

    def link_rows(self) -> list[tuple[Any, ...]]:
        """Every link row with the audit rows it names.

        ``(parent_id, parent_seq, child_id, child_seq, kind, the child row's instance_id,
        channel and event, the parent row's instance_id and accepted)``; the row columns are
        None where no audit row has that ``seq``.
        """
        return self._read(
            "SELECT l.parent_id, l.parent_seq, l.child_id, l.child_seq, l.kind, "
            "c.instance_id, c.channel, c.event, p.instance_id, p.accepted FROM links l "
            "LEFT JOIN events c ON c.seq = l.child_seq LEFT JOIN events p ON p.seq = l.parent_seq "
            "ORDER BY l.child_seq"
        )

    def linked_rows(self) -> list[tuple[Any, ...]]:
        """``(seq, instance_id, event, channel)`` of every audit row a link wrote.

        Their actor is the ``system`` acting on channel ``link:<parent>``; a partial index keeps
        the few of them apart from the many other rows.
        """
        return self._read(
            f"SELECT seq, instance_id, event, channel FROM events WHERE {_LINKED_ROWS} ORDER BY seq"
        )

    def chain_heads(self) -> Iterator[tuple[str, int, str]]:
        """Every chain's instance id, row count and last hash."""
        for instance, position, last in self._read(
            "SELECT e.instance_id, e.position, e.hash FROM events e JOIN "
            "(SELECT instance_id, max(position) AS top FROM events GROUP BY instance_id) m "
            "ON e.instance_id = m.instance_id AND e.position = m.top ORDER BY e.instance_id"
        ):
            yield instance, position + 1, last

    def count_events(self) -> int:
        """How many audit rows the store holds."""
        return int(self._read("SELECT count(*) FROM events")[0][0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"
