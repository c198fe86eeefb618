"""Tests for store verification (``aftersales_flow._verify`` and ``Engine.verify``).

The acceptance criterion: changing any audit row with the ``sqlite3`` command line makes
``verify()`` report that instance and event. Tampering here goes through the real command
line on the store file while the engine's own connection stays open, as an operator would.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import aftersales_flow as af
from _store_helpers import (
    HISTORY,
    SA,
    event_row,
    load_mini_flows,
    make_engine,
    needs_sqlite3_cli,
    populate,
    sql_literal,
    sqlite3_cli,
)
from aftersales_flow._chain import CHAINED_COLUMNS, GENESIS, hash_of
from aftersales_flow._verify import verify_rows, with_references
from aftersales_flow.store import Head

UNLOCK_UPDATE = "DROP TRIGGER events_no_update;"
UNLOCK_DELETE = "DROP TRIGGER events_no_delete;"


@pytest.fixture
def flows(tmp_path: Path) -> af.FlowSet:
    return load_mini_flows(tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def engine(db_path: Path, flows: af.FlowSet) -> Iterator[af.Engine]:
    with af.SQLiteStore(db_path) as store:
        engine = make_engine(flows, store)
        populate(engine)
        yield engine


def _problems_at(report: af.VerifyReport, seq: int) -> list[af.VerifyProblem]:
    return [p for p in report.problems if p.seq == seq]


def _assert_names_event(report: af.VerifyReport, seq: int, instance_id: str, event: str) -> None:
    """The report is not ok and a problem names this instance and this event (by seq and name)."""
    assert not report.ok
    named = _problems_at(report, seq)
    assert named, f"no problem names event #{seq}: {[str(p) for p in report.problems]}"
    for problem in named:
        assert problem.instance_id == instance_id
        assert problem.event == event
        assert f"instance {instance_id!r}, event #{seq} ({event})" in str(problem)


def _assert_only_instance(report: af.VerifyReport, instance_id: str) -> None:
    assert {p.instance_id for p in report.problems} == {instance_id}


# --- a clean store -------------------------------------------------------------------------


def test_clean_store_verifies(engine: af.Engine) -> None:
    """A store written only by the engine verifies ok, counting every row and instance."""
    report = engine.verify()
    assert report.ok
    assert bool(report)
    assert report.checked == len(HISTORY)
    assert report.instances == 2
    assert report.problems == ()


def test_empty_store_verifies() -> None:
    """An empty store verifies ok with nothing checked."""
    with af.SQLiteStore() as store:
        report = af.Engine(af.FlowSet({}), store).verify()
    assert (report.ok, report.checked, report.instances, report.problems) == (True, 0, 0, ())


def test_instance_with_only_refused_attempts_verifies(flows: af.FlowSet) -> None:
    """Refused attempts on an instance that never existed form a valid chain with no head."""
    with af.SQLiteStore() as store:
        engine = make_engine(flows, store)
        for _ in range(2):
            with pytest.raises(af.UnknownInstance):
                engine.fire("RO-404", "go", actor=SA)
        report = engine.verify()
    assert (report.ok, report.checked, report.instances) == (True, 2, 1)


# --- edited rows (the acceptance criterion) ------------------------------------------------

# column: (seq of the row to edit, the new value)
EDITS: dict[str, tuple[int, Any]] = {
    "seq": (6, 60),
    "instance_id": (5, "RO-2"),
    "position": (3, 7),
    "version": (3, 5),
    "event": (2, "go"),
    "source": (3, "c"),
    "target": (3, "c"),
    "accepted": (5, 1),
    "refusal": (2, "RoleDenied"),
    "reasons": (5, "[]"),
    "actor_id": (3, "sa-999"),
    "actor_roles": (3, '["service_advisor","service_manager"]'),
    "on_behalf_of": (6, "customer-42"),
    "channel": (6, "phone"),
    "at": (6, "2024-04-30T23:59:59+00:00"),
    "payload": (1, '{"note":"nothing wrong"}'),
    "changes": (6, '{"lines":[]}'),
    "guards": (5, "{}"),
    "idempotency_key": (3, "forged-key"),
    "flow": (4, "other"),
    "flow_version": (4, 2),
    "flow_hash": (7, "e" * 64),
    "prev_hash": (6, "a" * 64),
    "hash": (6, "b" * 64),
}


def test_every_stored_column_has_an_edit_case() -> None:
    """The edit cases cover every column an audit row's hash covers, and the hash itself."""
    assert set(EDITS) == {*CHAINED_COLUMNS, "hash"}


@needs_sqlite3_cli
@pytest.mark.parametrize("column", list(EDITS))
def test_editing_a_column_with_the_sqlite3_cli_is_reported(
    engine: af.Engine, db_path: Path, column: str
) -> None:
    """Changing any column of an audit row with the sqlite3 command line makes verify() name that event."""
    seq, value = EDITS[column]
    before = event_row(db_path, seq)
    assert before[column] != value
    sqlite3_cli(
        db_path, f"{UNLOCK_UPDATE} UPDATE events SET {column} = {sql_literal(value)} WHERE seq = {seq};"
    )
    moved = value if column == "seq" else seq  # an edited seq moves the row to its new number
    after = event_row(db_path, moved)
    assert after[column] == value
    report = engine.verify()
    _assert_names_event(report, moved, after["instance_id"], after["event"])
    assert report.checked == len(HISTORY)


@needs_sqlite3_cli
def test_edited_row_is_reported_as_edited(engine: af.Engine, db_path: Path) -> None:
    """An edited payload gives exactly one 'edited' problem, on that row of that instance."""
    sqlite3_cli(db_path, f'{UNLOCK_UPDATE} UPDATE events SET payload = \'{{"note":"fine"}}\' WHERE seq = 1;')
    report = engine.verify()
    assert [(p.kind, p.instance_id, p.seq, p.event) for p in report.problems] == [
        ("edited", "RO-1", 1, "open")
    ]


@needs_sqlite3_cli
def test_edit_with_trigger_restored_is_still_reported(engine: af.Engine, db_path: Path) -> None:
    """Dropping the trigger, editing and re-creating the trigger leaves the edit visible."""
    schema = sqlite3_cli(db_path, "SELECT sql FROM sqlite_master WHERE name = 'events_no_update';").strip()
    sqlite3_cli(db_path, f"{UNLOCK_UPDATE} UPDATE events SET actor_id = 'sa-001' WHERE seq = 6; {schema};")
    assert sqlite3_cli(db_path, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger';").strip() == "6"
    _assert_names_event(engine.verify(), 6, "RO-1", "finish")


@needs_sqlite3_cli
def test_edit_is_reported_by_a_freshly_opened_store(
    engine: af.Engine, db_path: Path, flows: af.FlowSet
) -> None:
    """An edit made while no engine runs is found by an engine opened afterwards."""
    engine.store.close()
    sqlite3_cli(db_path, f"{UNLOCK_UPDATE} UPDATE events SET target = 'c' WHERE seq = 3;")
    with af.SQLiteStore(db_path) as reopened:
        report = make_engine(flows, reopened).verify()
    _assert_names_event(report, 3, "RO-1", "go")


@needs_sqlite3_cli
def test_null_replaced_by_a_nul_character_is_reported(engine: af.Engine, db_path: Path) -> None:
    """Replacing a missing value (NULL) with the text '\\x00' is an edit and is reported."""
    sqlite3_cli(db_path, f"{UNLOCK_UPDATE} UPDATE events SET on_behalf_of = char(0) WHERE seq = 6;")
    assert event_row(db_path, 6)["on_behalf_of"] == "\x00"
    _assert_names_event(engine.verify(), 6, "RO-1", "finish")


# --- deleted, inserted and reordered rows --------------------------------------------------


@needs_sqlite3_cli
@pytest.mark.parametrize("seq", [2, 3, 5], ids=["refused", "accepted", "refused-before-accepted"])
def test_deleted_middle_row_is_reported_at_the_next_row(engine: af.Engine, db_path: Path, seq: int) -> None:
    """Deleting a row inside a chain names the instance and the row that no longer links."""
    following = {2: 3, 3: 5, 5: 6}[seq]
    sqlite3_cli(db_path, f"{UNLOCK_DELETE} DELETE FROM events WHERE seq = {seq};")
    report = engine.verify()
    _assert_names_event(report, following, "RO-1", HISTORY[following][2])
    assert {"gap", "chain"} <= {p.kind for p in _problems_at(report, following)}
    _assert_only_instance(report, "RO-1")
    assert report.checked == len(HISTORY) - 1


@needs_sqlite3_cli
def test_deleted_accepted_row_makes_the_head_disagree(engine: af.Engine, db_path: Path) -> None:
    """Deleting an accepted event in the middle also makes the head disagree with the replayed data."""
    sqlite3_cli(db_path, f"{UNLOCK_DELETE} DELETE FROM events WHERE seq = 3;")
    report = engine.verify()
    heads = [p for p in report.problems if p.kind == "head"]
    assert [(p.instance_id, p.seq) for p in heads] == [("RO-1", None)]
    assert "data" in heads[0].message


@needs_sqlite3_cli
def test_deleted_last_accepted_row_makes_the_head_disagree(engine: af.Engine, db_path: Path) -> None:
    """Deleting an instance's last row, an accepted event, is reported: its head is ahead of its events."""
    sqlite3_cli(db_path, f"{UNLOCK_DELETE} DELETE FROM events WHERE seq = 7;")
    report = engine.verify()
    assert [(p.kind, p.instance_id, p.seq) for p in report.problems] == [("head", "RO-2", None)]
    message = report.problems[0].message
    assert "state 'c' but its events end in 'a'" in message
    assert "version 2 but its events reach 1" in message


@needs_sqlite3_cli
def test_deleted_last_refused_row_goes_unnoticed(engine: af.Engine, db_path: Path) -> None:
    """A known limit: removing an instance's trailing refused attempts leaves a valid, shorter chain.

    Nothing after the row links to it and the head does not record refusals, so only an anchor
    kept outside the store (a head hash per instance, or the row count) could reveal it.
    """
    sqlite3_cli(db_path, f"{UNLOCK_DELETE} DELETE FROM events WHERE seq = 8;")
    report = engine.verify()
    assert report.ok
    assert report.checked == len(HISTORY) - 1


@needs_sqlite3_cli
def test_deleted_instance_events_leave_an_orphan_head(engine: af.Engine, db_path: Path) -> None:
    """Deleting every row of an instance but not its head is reported for that instance."""
    sqlite3_cli(db_path, f"{UNLOCK_DELETE} DELETE FROM events WHERE instance_id = 'RO-2';")
    report = engine.verify()
    assert [(p.kind, p.instance_id) for p in report.problems] == [("head", "RO-2")]
    assert "no audit events" in report.problems[0].message


@needs_sqlite3_cli
def test_deleted_head_is_reported(engine: af.Engine, db_path: Path) -> None:
    """Deleting an instance's head while its events remain is reported for that instance."""
    sqlite3_cli(db_path, "DELETE FROM instances WHERE id = 'RO-1';")
    report = engine.verify()
    assert [(p.kind, p.instance_id) for p in report.problems] == [("head", "RO-1")]
    assert "no head" in report.problems[0].message


@needs_sqlite3_cli
def test_head_for_an_instance_without_events_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A head inserted for an instance that has no audit events is reported."""
    sqlite3_cli(
        db_path,
        "INSERT INTO instances SELECT 'RO-9', flow, flow_version, flow_hash, state, version, data, "
        "created_at, updated_at FROM instances WHERE id = 'RO-2';",
    )
    report = engine.verify()
    assert [(p.kind, p.instance_id) for p in report.problems] == [("head", "RO-9")]


def _insert_sql(row: dict[str, Any]) -> str:
    columns = [c for c in row if c != "seq"]
    values = ", ".join(sql_literal(row[c]) for c in columns)
    return f"INSERT INTO events ({', '.join(columns)}) VALUES ({values});"


@needs_sqlite3_cli
def test_row_inserted_into_a_chain_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A forged row slipped into the middle of a chain, with a correct hash of its own, is reported.

    The forger shifts the later positions to make room and links the forged row to the row
    before it; the row after it then no longer links, and its edited position breaks its hash.
    """
    before_gap = event_row(db_path, 3)  # RO-1 position 2
    forged = {
        **event_row(db_path, 5),
        "position": 3,
        "prev_hash": before_gap["hash"],
        "actor_id": "sa-017",
        "idempotency_key": None,
    }
    forged["hash"] = hash_of(forged)
    sqlite3_cli(
        db_path,
        f"{UNLOCK_UPDATE}"
        " UPDATE events SET position = position + 100 WHERE instance_id = 'RO-1' AND position >= 3;"
        " UPDATE events SET position = position - 99 WHERE instance_id = 'RO-1' AND position >= 100;"
        f" {_insert_sql(forged)}",
    )
    report = engine.verify()
    _assert_names_event(report, 5, "RO-1", "finish")  # the old row that followed position 2
    assert {"chain", "edited"} <= {p.kind for p in _problems_at(report, 5)}
    _assert_only_instance(report, "RO-1")
    assert report.checked == len(HISTORY) + 1


@needs_sqlite3_cli
def test_row_appended_with_a_made_up_hash_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A row appended to a chain by hand, without the right hash, is reported by its new seq."""
    last = event_row(db_path, 8)
    forged = {**last, "position": 6, "prev_hash": last["hash"], "hash": "c" * 64}
    sqlite3_cli(db_path, _insert_sql(forged))
    report = engine.verify()
    _assert_names_event(report, len(HISTORY) + 1, "RO-1", "go")
    assert [p.kind for p in report.problems] == ["edited"]


@needs_sqlite3_cli
def test_rows_swapped_in_the_chain_are_reported(engine: af.Engine, db_path: Path) -> None:
    """Two rows swapped in chain order (their positions exchanged) are reported."""
    sqlite3_cli(
        db_path,
        f"{UNLOCK_UPDATE} UPDATE events SET position = 99 WHERE seq = 2;"
        " UPDATE events SET position = 1 WHERE seq = 3;"
        " UPDATE events SET position = 2 WHERE seq = 2;",
    )
    report = engine.verify()
    _assert_names_event(report, 3, "RO-1", "go")
    _assert_names_event(report, 2, "RO-1", "finish")
    assert "order" in {p.kind for p in report.problems}
    _assert_only_instance(report, "RO-1")


@needs_sqlite3_cli
def test_rows_swapped_in_the_global_sequence_are_reported(engine: af.Engine, db_path: Path) -> None:
    """Two rows whose global sequence numbers are exchanged are reported as out of order."""
    sqlite3_cli(
        db_path,
        f"{UNLOCK_UPDATE} UPDATE events SET seq = -1 WHERE seq = 5;"
        " UPDATE events SET seq = 5 WHERE seq = 6;"
        " UPDATE events SET seq = 6 WHERE seq = -1;",
    )
    report = engine.verify()
    # seq is hashed, so both moved rows no longer match their hashes, and their order breaks.
    assert [(p.kind, p.instance_id, p.seq, p.event) for p in report.problems] == [
        ("edited", "RO-1", 6, "finish"),
        ("edited", "RO-1", 5, "finish"),
        ("order", "RO-1", 5, "finish"),
    ]


# --- edited heads --------------------------------------------------------------------------

HEAD_EDITS = {
    "state": ("'b'", "state 'b' but its events end in 'done'"),
    "version": ("7", "version 7 but its events reach 3"),
    "data": ('\'{"note":"brakes squeal"}\'', "data that differs"),
    "flow_hash": ("'" + "d" * 64 + "'", "a flow definition its last event did not run under"),
    "flow_version": ("2", "a flow definition its last event did not run under"),
}


@needs_sqlite3_cli
@pytest.mark.parametrize("column", list(HEAD_EDITS))
def test_edited_head_is_reported(engine: af.Engine, db_path: Path, column: str) -> None:
    """An instance head edited with the sqlite3 command line disagrees with its events and is reported."""
    value, says = HEAD_EDITS[column]
    sqlite3_cli(db_path, f"UPDATE instances SET {column} = {value} WHERE id = 'RO-1';")
    report = engine.verify()
    heads = [p for p in report.problems if p.kind != "flow"]
    assert [(p.kind, p.instance_id, p.seq) for p in heads] == [("head", "RO-1", None)]
    assert says in heads[0].message
    assert str(heads[0]).startswith("instance 'RO-1': the head disagrees")
    # A head pointing at a definition that is not stored is also reported as such.
    flows = [(p.instance_id, "which is not stored" in p.message) for p in report.problems if p.kind == "flow"]
    assert flows == ([("RO-1", True)] if column == "flow_hash" else [])


@needs_sqlite3_cli
def test_head_data_that_is_not_json_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A head whose data is not JSON is reported as disagreeing with its events."""
    sqlite3_cli(db_path, "UPDATE instances SET data = 'not json' WHERE id = 'RO-2';")
    report = engine.verify()
    assert [(p.kind, p.instance_id) for p in report.problems] == [("head", "RO-2")]


# --- verify_rows: checks that hold even when a forger recomputes the hash -------------------


@pytest.fixture
def chain(engine: af.Engine) -> list[dict[str, Any]]:
    return [dict(row) for row in engine.store.events("RO-2")]


@pytest.fixture
def heads(engine: af.Engine) -> dict[str, Head]:
    return {head.id: head for head in engine.store.iter_heads() if head.id == "RO-2"}


def _rechained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with positions, prev_hash and hash recomputed, as a careful forger would."""
    previous = GENESIS
    result = []
    for position, row in enumerate(rows):
        fixed = {**row, "position": position, "prev_hash": previous}
        fixed["hash"] = previous = hash_of(fixed)
        result.append(fixed)
    return result


def test_verify_rows_accepts_the_stored_chain(chain: list[dict[str, Any]], heads: dict[str, Head]) -> None:
    """verify_rows on an untouched chain and head reports nothing."""
    report = verify_rows(chain, heads)
    assert (report.ok, report.checked, report.instances) == (True, 2, 1)


def test_refused_row_with_a_version_is_reported(chain: list[dict[str, Any]], heads: dict[str, Head]) -> None:
    """A refused attempt that carries a version is reported even with a correct hash."""
    forged = _rechained([*chain, {**chain[-1], "accepted": 0, "version": 3, "target": None, "seq": 99}])
    report = verify_rows(forged, heads)
    assert [(p.kind, p.seq) for p in report.problems] == [("version", 99)]


def test_skipped_version_is_reported(chain: list[dict[str, Any]], heads: dict[str, Head]) -> None:
    """An accepted event whose version skips one is reported even with a correct hash."""
    forged = _rechained([chain[0], {**chain[1], "version": 3}])
    report = verify_rows(forged, {"RO-2": attrs.evolve(heads["RO-2"], version=3)})
    assert [(p.kind, p.seq, p.event) for p in report.problems] == [("version", chain[1]["seq"], "go")]


def test_changes_that_are_not_json_are_reported(chain: list[dict[str, Any]], heads: dict[str, Head]) -> None:
    """An accepted event whose recorded changes are not JSON is reported even with a correct hash."""
    forged = _rechained([chain[0], {**chain[1], "changes": "{oops"}])
    report = verify_rows(forged, heads)
    assert [(p.kind, p.seq) for p in report.problems] == [("edited", chain[1]["seq"])]


def test_recomputed_rewrite_is_caught_by_the_head(
    chain: list[dict[str, Any]], heads: dict[str, Head]
) -> None:
    """A rewritten chain with every hash recomputed is still caught when it no longer matches the head."""
    forged = _rechained([chain[0], {**chain[1], "target": "b"}])
    report = verify_rows(forged, heads)
    assert [(p.kind, p.instance_id) for p in report.problems] == [("head", "RO-2")]


# --- the fast walk (SQLite, rows in seq order) reports exactly what the plain walk reports ------------


def _plain_report(store: af.SQLiteStore, checkpoint: af.Checkpoint | None) -> af.VerifyReport:
    """What verify_rows says over the rows grouped by instance, in chain order (the reference)."""
    heads = {head.id: head for head in store.iter_heads()}
    return with_references(
        verify_rows(store.iter_events(), heads, checkpoint.chains if checkpoint else None), store
    )


_TAMPER_VALUES: list[Any] = [
    None,
    0,
    1,
    2,
    3,
    -1,
    2.5,
    0.30000000000000004,
    1e300,
    "",
    "x",
    "a",
    "b",
    "c",
    "done",
    "go",
    "open",
    "{oops",
    '{"ok":true}',
    '{"ok": true}',
    "[]",
    '[["ok",true]]',
    "[1,2",
    "1",
    "null",
    "NaN",
    GENESIS,
    "\x00",
    "é",
    b"\x00blob",
]


def _tamper_randomly(path: Path, rng: random.Random, checkpoint: af.Checkpoint) -> None:
    """One to three random edits of the store file, sometimes re-hashed as a careful forger would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        for _ in range(rng.randint(1, 3)):
            seqs = [s for (s,) in conn.execute("SELECT seq FROM events")]
            if not seqs:
                break
            seq = rng.choice(seqs)
            action = rng.choice(["edit", "edit", "edit", "delete", "swap", "head", "forge"])
            if action == "delete":
                conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
            elif action == "swap":
                other = rng.choice(seqs)
                conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (seq,))
                conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq, other))
                conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (other,))
            elif action == "head":
                column = rng.choice(["state", "version", "data", "flow_hash"])
                with contextlib.suppress(sqlite3.IntegrityError):
                    conn.execute(f"UPDATE instances SET {column} = ?", (rng.choice(_TAMPER_VALUES),))
            else:
                column = rng.choice([*CHAINED_COLUMNS[1:], "hash"])
                try:
                    conn.execute(
                        f"UPDATE events SET {column} = ? WHERE seq = ?", (rng.choice(_TAMPER_VALUES), seq)
                    )
                except sqlite3.IntegrityError:
                    continue
                if action == "forge":  # recompute this row's hash from its (new) values
                    conn.row_factory = sqlite3.Row
                    row = dict(conn.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone())
                    conn.row_factory = None
                    with contextlib.suppress(TypeError, ValueError):
                        conn.execute("UPDATE events SET hash = ? WHERE seq = ?", (hash_of(row), seq))
    finally:
        conn.close()


@pytest.mark.parametrize("seed", range(200))
def test_fast_walk_reports_what_the_plain_walk_reports(flows: af.FlowSet, tmp_path: Path, seed: int) -> None:
    """On a store tampered at random, verify() (rows read in seq order) equals the plain walk, word for word."""
    rng = random.Random(seed)
    path = tmp_path / "audit.db"
    with af.SQLiteStore(path) as store:
        engine = make_engine(flows, store)
        populate(engine)
        engine.start("mini", "RO-3", event="open", actor=SA, payload={"note": "n"})
        engine.fire("RO-3", "go", actor=SA, payload={"ok": True})
        checkpoint = engine.checkpoint(SECRET)
        _tamper_randomly(path, rng, checkpoint)
        for sealed in (None, checkpoint):
            fast = _outcome(
                lambda sealed=sealed: engine.verify(sealed, secret=SECRET) if sealed else engine.verify()
            )
            assert fast == _outcome(lambda sealed=sealed: _plain_report(store, sealed)), seed


SECRET = "a secret of sixteen bytes or more"


def _outcome(verify: Callable[[], af.VerifyReport]) -> af.VerifyReport | str:
    """The report, or the kind of error verifying raised (the plain walk trips on some values too)."""
    try:
        return verify()
    except Exception as exc:  # noqa: BLE001 - compared between the two walks, not judged here
        return type(exc).__name__


# --- stored flow definitions (append-only by the schema; verify() checks them too) ---------------


@needs_sqlite3_cli
def test_an_edited_flow_definition_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A stored definition edited (a guard loosened, say) no longer hashes to its key: reported."""
    sqlite3_cli(
        db_path,
        "DROP TRIGGER flows_no_update; UPDATE flows SET definition = replace(definition, '\"go\"', '\"GO\"');",
    )
    problems = engine.verify().problems
    assert [(p.kind, p.instance_id) for p in problems] == [("flow", "RO-1")]
    assert "does not match its hash" in problems[0].message
    assert "(the definition was edited)" in problems[0].message


@needs_sqlite3_cli
def test_a_deleted_flow_definition_is_reported(engine: af.Engine, db_path: Path) -> None:
    """A stored definition deleted is reported for an instance that runs under it."""
    sqlite3_cli(db_path, "DROP TRIGGER flows_no_delete; DELETE FROM flows;")
    problems = engine.verify().problems
    assert [(p.kind, p.instance_id) for p in problems] == [("flow", "RO-1")]
    assert "which is not stored (the definition was deleted)" in problems[0].message
