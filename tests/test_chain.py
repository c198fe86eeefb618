"""Tests for the per-instance hash chain of audit rows (``aftersales_flow._chain``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from _store_helpers import HISTORY, SA, TECH, load_mini_flows, make_engine, populate, refusal
from aftersales_flow._build import canonical_json
from aftersales_flow._chain import (
    CHAINED_COLUMNS,
    GENESIS,
    acyclic_encoder,
    checked_encoder,
    encode_values,
    hash_of,
    row_hash,
)
from aftersales_flow.engine import _CANONICAL


@pytest.fixture
def store(tmp_path: Path) -> Iterator[af.SQLiteStore]:
    with af.SQLiteStore(tmp_path / "audit.db") as opened:
        yield opened


@pytest.fixture
def engine(tmp_path: Path, store: af.SQLiteStore) -> af.Engine:
    return make_engine(load_mini_flows(tmp_path), store)


@pytest.fixture
def rows(engine: af.Engine, store: af.SQLiteStore) -> list[dict[str, Any]]:
    populate(engine)
    return [dict(row) for row in store.iter_events()]


def _other_value(value: Any) -> Any:
    """A different value of the same kind, as an edit with the sqlite3 command line would make."""
    if value is None:
        return "forged"
    if isinstance(value, int):
        return value + 1
    return value + "x"


# --- the hash ------------------------------------------------------------------------------


def test_genesis_is_sixty_four_zeros() -> None:
    """An instance's first row links to a fixed genesis value: 64 zero digits."""
    assert GENESIS == "0" * 64


def test_chained_columns_are_every_stored_column_but_the_hash(store: af.SQLiteStore) -> None:
    """The hash covers every column of the audit table, the global sequence included, but the hash itself."""
    stored = [column.name for column in store.db["events"].columns]
    assert set(CHAINED_COLUMNS) == set(stored) - {"hash"}
    assert len(CHAINED_COLUMNS) == len(set(CHAINED_COLUMNS))


def test_row_hash_is_hex_sha256_and_deterministic() -> None:
    """The same values always give the same 64-digit sha256 hex digest."""
    values = ["RO-1", 0, 1, "open", None, "a", 1, None, "[]"]
    first = row_hash(values)
    assert first == row_hash(list(values))
    assert len(first) == 64
    assert set(first) <= set("0123456789abcdef")


def test_hash_of_reads_the_chained_columns_in_order(rows: list[dict[str, Any]]) -> None:
    """hash_of(row) is row_hash over the row's chained columns, and equals the stored hash."""
    for row in rows:
        assert hash_of(row) == row_hash([row[c] for c in CHAINED_COLUMNS]) == row["hash"]


def test_hash_of_covers_seq_but_not_the_stored_hash(rows: list[dict[str, Any]]) -> None:
    """The global sequence number is part of a row's hash; the stored hash itself is not."""
    row = rows[0]
    assert hash_of({**row, "hash": "f" * 64}) == hash_of(row)
    assert hash_of({**row, "seq": 999}) != hash_of(row)


@pytest.mark.parametrize("column", CHAINED_COLUMNS)
def test_row_hash_changes_when_any_chained_column_changes(rows: list[dict[str, Any]], column: str) -> None:
    """Changing any one chained column of a stored row changes its hash."""
    for row in rows:
        assert hash_of({**row, column: _other_value(row[column])}) != row["hash"]


def test_null_and_empty_text_hash_differently() -> None:
    """A missing value (NULL) and empty text are told apart."""
    assert row_hash(["RO-1", None]) != row_hash(["RO-1", ""])


def test_null_and_a_nul_character_hash_differently() -> None:
    """A missing value (NULL) and the text '\\x00' are told apart, so NULL cannot be swapped for it unseen."""
    assert row_hash(["RO-1", None, "a"]) != row_hash(["RO-1", "\x00", "a"])


def test_a_separator_inside_a_value_cannot_move_a_column_boundary() -> None:
    """Text cannot be moved from one column into its neighbour without changing the hash."""
    assert row_hash(["sa-1\x1fx", "web"]) != row_hash(["sa-1", "x\x1fweb"])


# --- the chain the store writes ------------------------------------------------------------


def test_first_row_of_an_instance_links_to_genesis(engine: af.Engine, store: af.SQLiteStore) -> None:
    """An instance's first audit row has position 0 and prev_hash GENESIS."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    (first,) = store.events("RO-1")
    assert first["position"] == 0
    assert first["prev_hash"] == GENESIS
    assert first["hash"] == hash_of(first)


def test_each_instance_has_its_own_chain(rows: list[dict[str, Any]]) -> None:
    """Interleaved instances each start at position 0 from GENESIS and link only to their own rows."""
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_instance.setdefault(row["instance_id"], []).append(row)
    assert set(by_instance) == {"RO-1", "RO-2"}
    for chain in by_instance.values():
        assert [row["position"] for row in chain] == list(range(len(chain)))
        previous = GENESIS
        for row in chain:
            assert row["prev_hash"] == previous
            assert row["hash"] == hash_of(row)
            previous = row["hash"]


def test_refused_attempts_are_links_in_the_chain(rows: list[dict[str, Any]]) -> None:
    """Refused attempts take a chain position and link to the row before, like accepted events."""
    ro1 = [row for row in rows if row["instance_id"] == "RO-1"]
    assert [(row["seq"], row["position"], row["accepted"]) for row in ro1] == [
        (seq, position, int(accepted))
        for seq, (instance, position, _, accepted) in HISTORY.items()
        if instance == "RO-1"
    ]
    refused = [i for i, row in enumerate(ro1) if not row["accepted"]]
    assert refused == [1, 3, 5]
    for i in refused:
        assert ro1[i]["prev_hash"] == ro1[i - 1]["hash"]
        assert ro1[i]["version"] is None
    assert ro1[2]["prev_hash"] == ro1[1]["hash"]  # the accepted row after a refusal links to the refusal


def test_a_refusal_advances_the_chain_but_not_the_version(engine: af.Engine, store: af.SQLiteStore) -> None:
    """After a refusal the next accepted event takes the next position but the next version."""
    engine.start("mini", "RO-1", event="open", actor=SA)
    refusal(engine.fire, "RO-1", "finish", actor=TECH)
    step = engine.fire("RO-1", "go", actor=SA, payload={"ok": True})
    assert step.version == 2
    assert [(row["position"], row["version"]) for row in store.events("RO-1")] == [(0, 1), (1, None), (2, 2)]


def test_history_carries_the_chain(engine: af.Engine, rows: list[dict[str, Any]]) -> None:
    """Engine.history exposes each event's prev_hash and hash as stored."""
    history = engine.history("RO-1")
    stored = [row for row in rows if row["instance_id"] == "RO-1"]
    assert [(e.position, e.prev_hash, e.hash) for e in history] == [
        (row["position"], row["prev_hash"], row["hash"]) for row in stored
    ]


def _outcome(encode: Any, value: Any) -> Any:
    try:
        return encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)


def test_encoders_made_once_write_what_canonical_json_writes() -> None:
    """The engine's prebuilt encoders give canonical_json's text, and its errors, for payloads and data."""
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    values: list[Any] = [
        {"b": 1, "a": [1, 2.5, None, True, 'é\n\x01"\\'], "z": {"y": 1, "x": 2}},
        {"n": float("nan")},
        {"s": {1, 2}},
        {1: 2, "k": (1, 2)},
        {(1,): 2},
        cycle,
        [],
        {},
    ]
    checked = checked_encoder(_CANONICAL)
    plain = acyclic_encoder(_CANONICAL)
    for value in values:
        assert _outcome(checked, value) == _outcome(canonical_json, value)
        if value is not cycle:
            assert _outcome(plain, value) == _outcome(canonical_json, value)


def test_the_row_encoding_is_json_dumps_of_the_values() -> None:
    """A row's hashed text is json.dumps(values, ensure_ascii=False, separators=(",", ":"))."""
    values = [1, "I-1", 0, None, "é\u2028\x7f", '{"a":"b"}', True, 2.5, 10**30]
    assert encode_values(values) == json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    assert encode_values(tuple(values)) == encode_values(values)
