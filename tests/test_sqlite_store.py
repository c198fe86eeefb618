"""Tests for the embedded SQLite audit store (``aftersales_flow.sqlite_store``).

Schema and pragmas, append-only triggers and unique constraints, the write transaction,
reads and the outbox, what a refused command writes, idempotency, version conflicts, and
store errors (corrupt, read-only, locked).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from _store_helpers import (
    HISTORY,
    SA,
    TECH,
    connect,
    dump,
    event_row,
    load_mini_flows,
    make_engine,
    populate,
    refusal,
)
from aftersales_flow._chain import CHAINED_COLUMNS, GENESIS, hash_of
from aftersales_flow.sqlite_store import SCHEMA_VERSION
from aftersales_flow.store import Head

TABLES = ("deadlines", "events", "flows", "instances", "links", "meta")


@pytest.fixture
def flows(tmp_path: Path) -> af.FlowSet:
    return load_mini_flows(tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[af.SQLiteStore]:
    with af.SQLiteStore(db_path) as opened:
        yield opened


@pytest.fixture
def engine(flows: af.FlowSet, store: af.SQLiteStore) -> af.Engine:
    return make_engine(flows, store)


@pytest.fixture
def populated(engine: af.Engine) -> af.Engine:
    populate(engine)
    return engine


def _pragma(store: af.SQLiteStore, name: str) -> Any:
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def _raw_row(instance_id: str = "RO-9", **changes: Any) -> dict[str, Any]:
    """An audit row as the engine hands it to the store (no position, prev_hash, hash or seq)."""
    row: dict[str, Any] = {
        "instance_id": instance_id,
        "version": 1,
        "event": "open",
        "source": None,
        "target": "a",
        "accepted": 1,
        "refusal": None,
        "reasons": "[]",
        "actor_id": "sa-017",
        "actor_roles": '["service_advisor"]',
        "on_behalf_of": None,
        "channel": None,
        "at": "2024-05-01T08:00:01+00:00",
        "payload": "{}",
        "changes": "{}",
        "guards": "{}",
        "idempotency_key": None,
        "flow": "mini",
        "flow_version": 1,
        "flow_hash": "f" * 64,
    }
    row.update(changes)
    return row


def _head(instance_id: str = "RO-9", **changes: Any) -> Head:
    fields: dict[str, Any] = {
        "id": instance_id,
        "flow": "mini",
        "flow_version": 1,
        "flow_hash": "f" * 64,
        "state": "a",
        "version": 1,
        "data": "{}",
        "created_at": "2024-05-01T08:00:01+00:00",
        "updated_at": "2024-05-01T08:00:01+00:00",
    }
    fields.update(changes)
    return Head(**fields)


def _copy_of(path: Path, seq: int, **changes: Any) -> tuple[str, tuple[Any, ...]]:
    """An INSERT that copies audit row ``seq`` with some columns changed."""
    row = event_row(path, seq)
    del row["seq"]
    row.update(changes)
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return f"INSERT INTO events ({columns}) VALUES ({marks})", tuple(row.values())


def _dumps(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {table: dump(path, table) for table in TABLES}


# --- schema and pragmas --------------------------------------------------------------------


def test_new_file_gets_the_schema(store: af.SQLiteStore) -> None:
    """A new file gets the meta, events, instances and flows tables and the current schema version."""
    assert set(store.db.table_names()) == set(TABLES)
    assert store.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )


def test_reopening_an_existing_store_keeps_its_rows(
    db_path: Path, flows: af.FlowSet, populated: af.Engine
) -> None:
    """Opening the file again reads the same rows and heads, and writing continues the chains."""
    populated.store.close()
    with af.SQLiteStore(db_path) as again:
        assert again.count_events() == len(HISTORY)
        assert again.head("RO-2") is not None
        engine = make_engine(flows, again)
        step = engine.start("mini", "RO-3", event="open", actor=SA)
        assert step.seq == len(HISTORY) + 1
        assert engine.verify().ok


def test_file_store_uses_wal_and_synchronous_full_by_default(store: af.SQLiteStore) -> None:
    """A file store runs in WAL mode with synchronous=FULL unless told otherwise."""
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "synchronous") == 2  # FULL
    assert store.synchronous == "FULL"


def test_synchronous_normal_when_asked(db_path: Path) -> None:
    """synchronous='normal' (any case) sets PRAGMA synchronous=NORMAL."""
    with af.SQLiteStore(db_path, synchronous="normal") as opened:
        assert _pragma(opened, "synchronous") == 1  # NORMAL
        assert opened.synchronous == "NORMAL"
        assert "NORMAL" in repr(opened)


def test_unknown_synchronous_mode_is_refused(db_path: Path) -> None:
    """An unknown synchronous mode raises ValueError naming the modes, and creates no file."""
    with pytest.raises(ValueError, match="FULL") as caught:
        af.SQLiteStore(db_path, synchronous="sometimes")
    assert "'sometimes'" in str(caught.value)
    assert not db_path.exists()


def test_busy_timeout_is_set_from_seconds(db_path: Path) -> None:
    """busy_timeout (seconds) becomes the connection's PRAGMA busy_timeout (milliseconds); default 5 s."""
    with af.SQLiteStore(db_path) as default:
        assert _pragma(default, "busy_timeout") == 5000
    with af.SQLiteStore(db_path, busy_timeout=0.25) as short:
        assert _pragma(short, "busy_timeout") == 250


def test_memory_store_works_without_wal() -> None:
    """':memory:' is a working store (in memory journal mode, since WAL needs a file)."""
    with af.SQLiteStore() as memory:
        assert memory.path == ":memory:"
        assert _pragma(memory, "journal_mode") == "memory"
        assert memory.count_events() == 0


@pytest.mark.parametrize("table", ["events", "flows"])
def test_append_only_tables_refuse_update(populated: af.Engine, db_path: Path, table: str) -> None:
    """UPDATE on events or flows through plain SQL is aborted by a trigger."""
    conn = connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            conn.execute(f"UPDATE {table} SET {'name' if table == 'flows' else 'payload'} = 'x'")
    finally:
        conn.close()
    assert event_row(db_path, 1)["payload"] == '{"note":"brakes squeal"}'


@pytest.mark.parametrize("table", ["events", "flows"])
def test_append_only_tables_refuse_delete(populated: af.Engine, db_path: Path, table: str) -> None:
    """DELETE on events or flows through plain SQL is aborted by a trigger, leaving every row."""
    before = dump(db_path, table)
    conn = connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute(f"DELETE FROM {table}")
    finally:
        conn.close()
    assert dump(db_path, table) == before
    assert before


def test_instances_table_can_be_updated(populated: af.Engine, db_path: Path) -> None:
    """Heads are not append-only: the head table has no refusing trigger (it is checked by verify)."""
    conn = connect(db_path)
    try:
        conn.execute("UPDATE instances SET updated_at = updated_at")
    finally:
        conn.close()


def test_idempotency_key_is_unique(populated: af.Engine, db_path: Path) -> None:
    """Two audit rows cannot carry the same idempotency key."""
    sql, values = _copy_of(db_path, 3, position=99, version=99)
    conn = connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE.*idempotency_key"):
            conn.execute(sql, values)
    finally:
        conn.close()


def test_instance_position_is_unique(populated: af.Engine, db_path: Path) -> None:
    """Two audit rows of one instance cannot hold the same chain position."""
    sql, values = _copy_of(db_path, 2, idempotency_key="other")
    conn = connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE.*events\.position"):
            conn.execute(sql, values)
    finally:
        conn.close()


def test_instance_version_is_unique(populated: af.Engine, db_path: Path) -> None:
    """Two accepted events of one instance cannot hold the same version."""
    sql, values = _copy_of(db_path, 6, position=99)
    conn = connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match=r"UNIQUE.*events\.version"):
            conn.execute(sql, values)
    finally:
        conn.close()


def test_refused_rows_share_a_null_version_and_key(populated: af.Engine, store: af.SQLiteStore) -> None:
    """Many refused attempts of one instance coexist: NULL versions and keys do not collide."""
    refused = [row for row in store.events("RO-1") if not row["accepted"]]
    assert len(refused) == 3
    assert {row["version"] for row in refused} == {None}
    assert {row["idempotency_key"] for row in refused} == {None}


def test_file_with_other_tables_is_refused(db_path: Path) -> None:
    """A database that already holds other tables raises StoreCorrupt and is left untouched."""
    conn = connect(db_path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    with pytest.raises(af.StoreCorrupt, match="other tables"):
        af.SQLiteStore(db_path)
    conn = connect(db_path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.close()
    assert names == ["customers"]


def test_file_that_is_not_a_database_is_refused(db_path: Path) -> None:
    """A file that is not SQLite raises StoreCorrupt naming the file, and the file is unchanged."""
    content = b"RO-1001,brakes,2024-05-01\n" * 200
    db_path.write_bytes(content)
    with pytest.raises(af.StoreCorrupt, match="not a usable") as caught:
        af.SQLiteStore(db_path)
    assert str(db_path) in str(caught.value)
    assert db_path.read_bytes() == content


@pytest.mark.parametrize(("value", "shown"), [("2", "schema version 2"), ("0", "schema version 0")])
def test_other_schema_version_is_refused(db_path: Path, value: str, shown: str) -> None:
    """A store written with another schema version raises StoreCorrupt naming both versions."""
    af.SQLiteStore(db_path).close()
    conn = connect(db_path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    conn.close()
    with pytest.raises(af.StoreCorrupt, match=shown) as caught:
        af.SQLiteStore(db_path)
    assert f"reads version {SCHEMA_VERSION}" in str(caught.value)


def test_missing_schema_version_is_refused(db_path: Path) -> None:
    """A store whose schema version row is gone raises StoreCorrupt."""
    af.SQLiteStore(db_path).close()
    conn = connect(db_path)
    conn.execute("DELETE FROM meta")
    conn.close()
    with pytest.raises(af.StoreCorrupt, match="schema version missing"):
        af.SQLiteStore(db_path)


def test_unreadable_schema_version_is_refused(db_path: Path) -> None:
    """A schema version that is not a number raises StoreCorrupt, not a bare ValueError."""
    af.SQLiteStore(db_path).close()
    conn = connect(db_path)
    conn.execute("UPDATE meta SET value = 'one' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(af.StoreCorrupt):
        af.SQLiteStore(db_path)


def test_events_table_without_meta_is_refused(db_path: Path) -> None:
    """A file with an events table but no meta table is not ours: StoreCorrupt."""
    conn = connect(db_path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
    conn.close()
    with pytest.raises(af.StoreCorrupt):
        af.SQLiteStore(db_path)


def test_two_stores_creating_one_new_file_both_open(db_path: Path, tmp_path: Path) -> None:
    """Two processes opening the same new file at once both get a working store.

    The first holds the write lock while it creates the schema; the second, which saw an
    empty file before the lock, must find the schema made rather than create it again.
    """
    template = tmp_path / "template.db"
    af.SQLiteStore(template).close()
    conn = connect(template)
    schema = [
        r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
    ]
    conn.close()

    first = connect(db_path)
    first.execute("PRAGMA journal_mode = WAL")
    first.execute("BEGIN IMMEDIATE")
    outcome: dict[str, Any] = {}

    def open_second() -> None:
        try:
            outcome["store"] = af.SQLiteStore(db_path)
        except af.StoreError as exc:
            outcome["error"] = exc

    second = threading.Thread(target=open_second)
    second.start()
    time.sleep(0.5)  # the second store sees no tables and waits for the lock
    for statement in schema:
        first.execute(statement)
    first.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    first.execute("COMMIT")
    first.close()
    second.join(timeout=10)
    if "store" in outcome:
        outcome["store"].close()
    assert "error" not in outcome, str(outcome.get("error"))


# --- the write transaction -----------------------------------------------------------------


def test_append_sets_position_prev_hash_hash_and_seq(store: af.SQLiteStore) -> None:
    """append() chains the row: position 0 from GENESIS, then the next position from the last hash."""
    with store.write() as tx:
        first = tx.append(_raw_row())
        second = tx.append(_raw_row(version=None, accepted=0, target=None, refusal="GuardRejected"))
    assert (first["position"], first["prev_hash"], first["seq"]) == (0, GENESIS, 1)
    assert (second["position"], second["prev_hash"], second["seq"]) == (1, first["hash"], 2)
    assert first["hash"] == hash_of(first)
    assert [dict(row) for row in store.events("RO-9")] == [
        {c: row[c] for c in ("seq", *CHAINED_COLUMNS, "hash")} for row in (first, second)
    ]


def test_write_commits_rows_and_heads_together(store: af.SQLiteStore) -> None:
    """A transaction that ends normally commits its audit row and head."""
    with store.write() as tx:
        tx.append(_raw_row())
        tx.put_head(_head())
    assert store.count_events() == 1
    assert store.head("RO-9") == _head()


def test_write_rolls_back_everything_on_error(store: af.SQLiteStore, flows: af.FlowSet) -> None:
    """An exception inside write() rolls back the row, the head and the flow definition, and propagates."""

    def crash() -> None:
        with store.write() as tx:
            tx.ensure_flow(flows["mini"])
            tx.append(_raw_row())
            tx.put_head(_head())
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        crash()
    assert store.count_events() == 0
    assert store.head("RO-9") is None
    assert store.flow_definition(flows["mini"].content_hash) is None
    assert not store.db.execute("SELECT 1 FROM flows").fetchall()


def test_flow_rolled_back_is_stored_by_the_next_write(store: af.SQLiteStore, flows: af.FlowSet) -> None:
    """A flow definition whose transaction rolled back is written again next time (no stale cache)."""
    flow = flows["mini"]

    def crash() -> None:
        with store.write() as tx:
            tx.ensure_flow(flow)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash()
    with store.write() as tx:
        tx.ensure_flow(flow)
    assert store.flow_definition(flow.content_hash) is not None
    with store.write() as tx:
        tx.ensure_flow(flow)  # already stored: not inserted twice (the trigger-protected table has one row)
    assert store.db.execute("SELECT count(*) FROM flows").fetchone() == (1,)


def test_sqlite_error_inside_write_becomes_store_error(store: af.SQLiteStore) -> None:
    """An SQLite error inside the transaction raises StoreError saying nothing was written, and rolls back."""
    with store.write() as tx:
        tx.append(_raw_row(idempotency_key="k1"))

    def reuse_key() -> None:
        with store.write() as tx:
            tx.append(_raw_row("RO-10"))
            tx.append(_raw_row("RO-11", idempotency_key="k1"))

    with pytest.raises(af.StoreError, match="nothing was written"):
        reuse_key()
    assert store.count_events() == 1
    assert store.events("RO-10") == []


def test_put_head_inserts_then_updates(store: af.SQLiteStore) -> None:
    """put_head creates a head and later replaces its state, keeping created_at."""
    with store.write() as tx:
        tx.put_head(_head())
    with store.write() as tx:
        tx.put_head(
            _head(
                state="b",
                version=2,
                data='{"ok":true}',
                created_at="ignored",
                updated_at="2024-05-01T09:00:00+00:00",
            )
        )
    head = store.head("RO-9")
    assert head is not None
    assert (head.state, head.version, head.data) == ("b", 2, '{"ok":true}')
    assert head.created_at == "2024-05-01T08:00:01+00:00"
    assert head.updated_at == "2024-05-01T09:00:00+00:00"


def test_find_key_returns_the_row_with_that_key(store: af.SQLiteStore) -> None:
    """find_key returns the audit row carrying an idempotency key, or None."""
    with store.write() as tx:
        tx.append(_raw_row(idempotency_key="k1"))
        assert tx.find_key("k1") is not None
        assert tx.find_key("k1")["instance_id"] == "RO-9"
        assert tx.find_key("k2") is None


# --- reading -------------------------------------------------------------------------------


def test_events_are_in_chain_order(populated: af.Engine, store: af.SQLiteStore) -> None:
    """events(id) returns one instance's rows by position, refused attempts included."""
    assert [(r["seq"], r["position"], r["event"], bool(r["accepted"])) for r in store.events("RO-1")] == [
        (seq, position, event, accepted)
        for seq, (instance, position, event, accepted) in HISTORY.items()
        if instance == "RO-1"
    ]
    assert store.events("RO-404") == []


def test_iter_events_groups_by_instance(populated: af.Engine, store: af.SQLiteStore) -> None:
    """iter_events yields every row, grouped by instance id, each group in chain order."""
    assert [(r["instance_id"], r["position"]) for r in store.iter_events()] == sorted(
        (instance, position) for instance, position, _, _ in HISTORY.values()
    )


def test_iter_heads_yields_every_head_by_id(populated: af.Engine, store: af.SQLiteStore) -> None:
    """iter_heads yields one head per started instance, sorted by id."""
    assert [(h.id, h.state, h.version) for h in store.iter_heads()] == [("RO-1", "done", 3), ("RO-2", "c", 2)]


def test_flow_definition_is_stored_once_by_content_hash(populated: af.Engine, store: af.SQLiteStore) -> None:
    """The flow each event ran under is stored once under its content hash; unknown hashes give None."""
    flow_hash = store.events("RO-1")[0]["flow_hash"]
    definition = store.flow_definition(flow_hash)
    assert definition is not None
    assert definition["flow"] == "mini"
    assert store.db.execute("SELECT count(*) FROM flows").fetchone() == (1,)
    assert store.flow_definition("0" * 64) is None


def test_events_since_returns_later_rows_in_order(populated: af.Engine, store: af.SQLiteStore) -> None:
    """events_since(seq) returns the rows after seq, oldest first."""
    assert [r["seq"] for r in store.events_since(0)] == list(HISTORY)
    assert [r["seq"] for r in store.events_since(5)] == [6, 7, 8]
    assert store.events_since(len(HISTORY)) == []


def test_events_since_honours_the_limit(populated: af.Engine, store: af.SQLiteStore) -> None:
    """events_since(seq, limit) returns at most limit rows; paging through sees every row once."""
    assert [r["seq"] for r in store.events_since(2, limit=3)] == [3, 4, 5]
    seen: list[int] = []
    cursor = 0
    while page := store.events_since(cursor, limit=3):
        seen.extend(r["seq"] for r in page)
        cursor = page[-1]["seq"]
    assert seen == list(HISTORY)


def test_engine_events_since_returns_audit_events(populated: af.Engine) -> None:
    """Engine.events_since gives AuditEvent values after seq, refused attempts included."""
    events = populated.events_since(4, limit=3)
    assert all(isinstance(e, af.AuditEvent) for e in events)
    assert [(e.seq, e.instance_id, e.event, e.accepted) for e in events] == [
        (seq, *(HISTORY[seq][i] for i in (0, 2, 3))) for seq in (5, 6, 7)
    ]
    refused = events[0]
    assert refused.version is None
    assert refused.actor == TECH
    assert refused.payload == {"lines": []}
    assert refused.reasons[0].code == "count_where"


def test_count_events_counts_every_row(populated: af.Engine, store: af.SQLiteStore) -> None:
    """count_events counts accepted events and refused attempts."""
    assert store.count_events() == len(HISTORY)


def test_closed_store_raises_store_error(db_path: Path) -> None:
    """A store used after close() raises StoreError (the context manager closes it)."""
    with af.SQLiteStore(db_path) as closed:
        pass
    with pytest.raises(af.StoreError):
        closed.count_events()


def test_two_stores_on_one_file_serve_the_same_instances(
    db_path: Path, flows: af.FlowSet, engine: af.Engine
) -> None:
    """Engines on separate connections to one file see each other's writes (the head lives in the store)."""
    engine.start("mini", "RO-1", event="open", actor=SA, payload={"note": "n"})
    with af.SQLiteStore(db_path) as other_store:
        other = make_engine(flows, other_store)
        other.fire("RO-1", "go", actor=SA, payload={"ok": True}, expected_version=1)
        assert engine.instance("RO-1").state == "b"
        engine.fire("RO-1", "finish", actor=TECH, payload={"lines": [{"line_id": "L1"}]}, expected_version=2)
        assert other.instance("RO-1").state == "done"
        assert other.verify().ok


# --- what a command writes -----------------------------------------------------------------


REFUSED_COMMANDS: dict[str, tuple[type[af.TransitionRefused], str, str, dict[str, Any]]] = {
    # name: (refusal, instance, event, keyword arguments)
    "illegal": (af.IllegalTransition, "RO-2", "open", {"actor": SA}),
    "role": (af.RoleDenied, "RO-2", "finish", {"actor": SA, "payload": {"lines": [{"line_id": "L1"}]}}),
    "payload": (af.PayloadRejected, "RO-2", "finish", {"actor": TECH, "payload": {"colour": "red"}}),
    "guard": (af.GuardRejected, "RO-2", "finish", {"actor": TECH, "payload": {"lines": []}}),
    "version": (
        af.VersionConflict,
        "RO-2",
        "finish",
        {"actor": TECH, "expected_version": 1, "payload": {"lines": [{"line_id": "L1"}]}},
    ),
    "unknown": (af.UnknownInstance, "RO-404", "go", {"actor": SA}),
}


@pytest.mark.parametrize("kind", REFUSED_COMMANDS)
def test_refused_command_only_appends_one_refused_row(populated: af.Engine, db_path: Path, kind: str) -> None:
    """A refused command leaves every table as it was except for one new refused audit row."""
    cls, instance_id, event, kwargs = REFUSED_COMMANDS[kind]
    before = _dumps(db_path)
    with pytest.raises(cls) as caught:
        populated.fire(instance_id, event, **kwargs)
    after = _dumps(db_path)
    assert after["instances"] == before["instances"]
    assert after["flows"] == before["flows"]
    assert after["meta"] == before["meta"]
    assert after["events"][:-1] == before["events"]
    assert len(after["events"]) == len(before["events"]) + 1
    added = event_row(db_path, len(HISTORY) + 1)
    assert (added["instance_id"], added["event"], added["accepted"], added["version"]) == (
        instance_id,
        event,
        0,
        None,
    )
    assert added["refusal"] == cls.__name__
    assert caught.value.step.seq == added["seq"]
    assert [r["code"] for r in json.loads(added["reasons"])] == [r.code for r in caught.value.reasons]


def test_refused_start_of_existing_instance_only_appends_one_row(populated: af.Engine, db_path: Path) -> None:
    """Starting an instance that exists is refused (DuplicateInstance) and changes no head."""
    before = _dumps(db_path)
    with pytest.raises(af.DuplicateInstance):
        populated.start("mini", "RO-2", event="open", actor=SA)
    after = _dumps(db_path)
    assert after["instances"] == before["instances"]
    assert after["events"][:-1] == before["events"]
    assert event_row(db_path, len(HISTORY) + 1)["refusal"] == "DuplicateInstance"


def test_accepted_command_appends_one_row_and_moves_the_head(populated: af.Engine, db_path: Path) -> None:
    """An accepted event appends one row and changes only its own instance's head."""
    populated.start("mini", "RO-3", event="open", actor=SA, payload={"note": "tyres"})
    before = _dumps(db_path)
    populated.fire("RO-3", "go", actor=SA, payload={"ok": True})
    after = _dumps(db_path)
    assert after["events"][:-1] == before["events"]
    assert len(after["events"]) == len(before["events"]) + 1
    assert after["flows"] == before["flows"]
    unchanged = ("RO-1", "RO-2")
    assert [h for h in after["instances"] if h[0] in unchanged] == [
        h for h in before["instances"] if h[0] in unchanged
    ]
    assert (populated.instance("RO-3").state, populated.instance("RO-3").version) == ("b", 2)


# --- idempotency ---------------------------------------------------------------------------


def test_same_idempotency_key_returns_the_same_step_and_writes_nothing(
    engine: af.Engine, db_path: Path
) -> None:
    """A command repeated with its idempotency key returns the original Step and writes nothing."""
    engine.start("mini", "RO-1", event="open", actor=SA, idempotency_key="open-1")
    first = engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, idempotency_key="go-1")
    before = _dumps(db_path)
    again = engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, idempotency_key="go-1")
    assert again == first
    assert _dumps(db_path) == before
    assert engine.instance("RO-1").version == 2


def test_same_idempotency_key_on_start_returns_the_same_step(engine: af.Engine, db_path: Path) -> None:
    """A repeated start with its idempotency key returns the original Step rather than DuplicateInstance."""
    first = engine.start("mini", "RO-1", event="open", actor=SA, idempotency_key="open-1")
    before = _dumps(db_path)
    assert engine.start("mini", "RO-1", event="open", actor=SA, idempotency_key="open-1") == first
    assert _dumps(db_path) == before


@pytest.mark.parametrize(
    ("instance_id", "event", "payload"),
    [("RO-1", "go", {"ok": False}), ("RO-1", "finish", {"ok": True}), ("RO-2", "go", {"ok": True})],
    ids=["other-payload", "other-event", "other-instance"],
)
def test_idempotency_key_reused_for_another_command_is_refused(
    engine: af.Engine, db_path: Path, instance_id: str, event: str, payload: dict[str, Any]
) -> None:
    """A key reused with another instance, event or payload raises IdempotencyKeyReused; only the
    refusal is written, without the key (which stays the first command's)."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    engine.start("mini", "RO-2", event="open", actor=SA)
    engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, idempotency_key="go-1")
    before = _dumps(db_path)
    with pytest.raises(af.IdempotencyKeyReused) as caught:
        engine.fire(instance_id, event, actor=SA, payload=payload, idempotency_key="go-1")
    assert [r.code for r in caught.value.reasons] == ["idempotency_key_reused"]
    after = _dumps(db_path)
    assert {t: rows for t, rows in after.items() if t != "events"} == {
        t: rows for t, rows in before.items() if t != "events"
    }
    assert after["events"][: len(before["events"])] == before["events"]
    [added] = engine.history(instance_id)[-1:]
    assert (added.accepted, added.event, added.idempotency_key) == (False, event, None)
    assert len(after["events"]) == len(before["events"]) + 1


def test_refused_commands_key_replays_the_same_refusal(engine: af.Engine, db_path: Path) -> None:
    """A refused command's key, used again, re-raises the same refusal class and reasons, writing nothing."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    first = refusal(engine.fire, "RO-1", "finish", actor=TECH, idempotency_key="finish-1")
    assert isinstance(first, af.IllegalTransition)
    before = _dumps(db_path)
    again = refusal(engine.fire, "RO-1", "finish", actor=TECH, idempotency_key="finish-1")
    assert type(again) is af.IllegalTransition
    assert again.reasons == first.reasons
    assert _dumps(db_path) == before


def test_refused_commands_key_replays_the_original_step(engine: af.Engine) -> None:
    """The replayed refusal carries the same refused Step as the first one (version included)."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    first = refusal(engine.fire, "RO-1", "finish", actor=TECH, idempotency_key="finish-1")
    again = refusal(engine.fire, "RO-1", "finish", actor=TECH, idempotency_key="finish-1")
    assert first.step.version == 1
    assert again.step == first.step


def test_refused_key_replays_the_refusal_even_when_it_would_now_pass(
    engine: af.Engine, db_path: Path
) -> None:
    """The key fixes the outcome: a once-refused command stays refused after the instance moved on."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    refusal(engine.fire, "RO-1", "go", actor=TECH, payload={"ok": True}, idempotency_key="go-1")
    engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
    before = _dumps(db_path)
    with pytest.raises(af.RoleDenied):
        engine.fire("RO-1", "go", actor=TECH, payload={"ok": True}, idempotency_key="go-1")
    assert _dumps(db_path) == before


# --- expected version ----------------------------------------------------------------------


def test_expected_version_mismatch_raises_version_conflict_and_is_audited(
    engine: af.Engine, store: af.SQLiteStore
) -> None:
    """A stale expected_version raises VersionConflict, leaves the head, and records the refusal."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, expected_version=1)
    with pytest.raises(af.VersionConflict) as caught:
        engine.fire("RO-1", "finish", actor=TECH, payload={"lines": [{"line_id": "L1"}]}, expected_version=1)
    assert [r.code for r in caught.value.reasons] == ["version_conflict"]
    assert "version 2, not 1" in caught.value.reasons[0].message
    assert engine.instance("RO-1").state == "b"
    last = engine.history("RO-1")[-1]
    assert (last.event, last.accepted, last.version) == ("finish", False, None)
    assert last.reasons == caught.value.reasons
    assert store.events("RO-1")[-1]["refusal"] == "VersionConflict"
    assert engine.verify().ok


def test_matching_expected_version_is_accepted(engine: af.Engine) -> None:
    """An expected_version equal to the stored version lets the event through."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    step = engine.fire("RO-1", "go", actor=SA, payload={"ok": True}, expected_version=1)
    assert step.version == 2


# --- store errors --------------------------------------------------------------------------


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make the store file unwritable: chmod 0444 as an ordinary user, the immutable flag as root.

    Root ignores file modes, so chmod proves nothing there; the immutable attribute binds root too.
    """
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make the file immutable as root here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def read_only_store(db_path: Path, flows: af.FlowSet) -> Iterator[af.SQLiteStore]:
    with af.SQLiteStore(db_path) as store:
        make_engine(flows, store).start("mini", "RO-1", event="open", actor=SA)
    with _read_only(db_path), af.SQLiteStore(db_path) as opened:
        yield opened


def test_read_only_file_raises_store_error_and_still_reads(
    read_only_store: af.SQLiteStore, flows: af.FlowSet
) -> None:
    """A store file that cannot be written raises StoreError ('read-only') on write; reads still work."""
    engine = make_engine(flows, read_only_store)
    with pytest.raises(af.StoreError, match="read-only; nothing was written") as caught:
        engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
    assert not isinstance(caught.value, af.StoreBusy | af.StoreCorrupt)
    assert engine.instance("RO-1").version == 1
    assert read_only_store.count_events() == 1


def test_query_only_connection_raises_store_error_and_writes_nothing(
    engine: af.Engine, store: af.SQLiteStore, db_path: Path
) -> None:
    """With PRAGMA query_only on, a command raises StoreError, writes nothing, and works once it is off."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    before = _dumps(db_path)
    store.db.execute("PRAGMA query_only = ON")
    with pytest.raises(af.StoreError, match="read-only"):
        engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
    assert _dumps(db_path) == before
    store.db.execute("PRAGMA query_only = OFF")
    assert engine.fire("RO-1", "go", actor=SA, payload={"ok": True}).version == 2


def test_lock_held_past_busy_timeout_raises_store_busy(db_path: Path, flows: af.FlowSet) -> None:
    """A writer locked out past the busy timeout raises StoreBusy, writes nothing, and works once freed."""
    with af.SQLiteStore(db_path, busy_timeout=0.25) as store:
        engine = make_engine(flows, store)
        engine.start("mini", "RO-1", event="open", actor=SA)
        before = _dumps(db_path)
        other = connect(db_path)
        try:
            other.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(af.StoreBusy, match="locked") as caught:
                engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
            assert time.monotonic() - started >= 0.2
            assert str(db_path) in str(caught.value)
            assert engine.instance("RO-1").version == 1  # readers are not blocked in WAL mode
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert _dumps(db_path) == before
        step = engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
        assert step.version == 2
        assert engine.verify().ok


def test_lock_released_within_busy_timeout_lets_the_writer_through(db_path: Path, flows: af.FlowSet) -> None:
    """A writer waits for a lock released within the busy timeout and then succeeds."""
    with af.SQLiteStore(db_path, busy_timeout=5) as store:
        engine = make_engine(flows, store)
        engine.start("mini", "RO-1", event="open", actor=SA)
        other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.2, lambda: (other.execute("COMMIT"), other.close()))
        releaser.start()
        try:
            step = engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
        finally:
            releaser.join()
        assert step.version == 2
