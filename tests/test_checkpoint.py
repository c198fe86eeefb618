"""Keyed checkpoints: what a hash chain alone cannot show, verify(checkpoint) finds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import aftersales_flow as af
from aftersales_flow.checkpoint import Checkpoint
from aftersales_flow.testing import SimulatedClock
from repair_order_steps import SA, advance_to, open_order

SECRET = b"kept-by-the-operator-not-in-the-db"


@pytest.fixture
def filed(tmp_path: Path, flows: af.FlowSet, clock: SimulatedClock) -> tuple[af.Engine, Path]:
    path = tmp_path / "store.db"
    engine = af.Engine(flows, af.SQLiteStore(path), clock=clock)
    advance_to(engine, clock, "RO-1", "authorized")
    open_order(engine, "RO-2")
    with pytest.raises(af.TransitionRefused):
        engine.fire("RO-2", "dispatch", actor=SA)
    return engine, path


def tamper(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        for statement in statements:
            conn.execute(statement)


def test_a_clean_store_verifies_against_its_checkpoint(filed: tuple[af.Engine, Path]) -> None:
    """Right after it is taken, and after more events, the store verifies against the checkpoint."""
    engine, _ = filed
    checkpoint = engine.checkpoint(SECRET)
    assert checkpoint.chains["RO-2"][0] == 2
    assert engine.verify(checkpoint, secret=SECRET).ok
    open_order(engine, "RO-3")
    assert engine.verify(checkpoint, secret=SECRET).ok


def test_a_truncated_tail_is_found(filed: tuple[af.Engine, Path]) -> None:
    """Cutting a refused attempt off a chain's end passes a plain verify, not a checkpointed one."""
    engine, path = filed
    checkpoint = engine.checkpoint(SECRET)
    tamper(path, "DELETE FROM events WHERE instance_id = 'RO-2' AND position = 1")
    assert engine.verify().ok  # the chain alone cannot tell
    report = engine.verify(checkpoint, secret=SECRET)
    assert [(p.instance_id, p.kind) for p in report.problems] == [("RO-2", "checkpoint")]
    assert "cut off its end" in report.problems[0].message


def test_a_deleted_instance_is_found(filed: tuple[af.Engine, Path]) -> None:
    """Deleting an instance's rows and head together is found, naming the instance."""
    engine, path = filed
    checkpoint = engine.checkpoint(SECRET)
    tamper(path, "DELETE FROM events WHERE instance_id = 'RO-2'", "DELETE FROM instances WHERE id = 'RO-2'")
    assert engine.verify().ok
    report = engine.verify(checkpoint, secret=SECRET)
    assert [(p.instance_id, p.kind) for p in report.problems] == [("RO-2", "checkpoint")]
    assert "was deleted" in report.problems[0].message


def test_a_chain_rewritten_from_scratch_is_found(
    filed: tuple[af.Engine, Path], clock: SimulatedClock
) -> None:
    """A chain replaced by a freshly hashed one (same id, new history) is found at the sealed row."""
    engine, path = filed
    checkpoint = engine.checkpoint(SECRET)
    tamper(path, "DELETE FROM events WHERE instance_id = 'RO-2'", "DELETE FROM instances WHERE id = 'RO-2'")
    clock.advance("1h")
    open_order(engine, "RO-2")
    with pytest.raises(af.TransitionRefused):
        engine.fire("RO-2", "dispatch", actor=SA)
    assert engine.verify().ok
    report = engine.verify(checkpoint, secret=SECRET)
    assert [(p.instance_id, p.kind, p.position) for p in report.problems] == [("RO-2", "checkpoint", 1)]


def test_the_seal_needs_the_secret(filed: tuple[af.Engine, Path]) -> None:
    """A checkpoint altered, or checked with another secret, does not verify; a short secret is refused."""
    engine, _ = filed
    checkpoint = engine.checkpoint(SECRET)
    assert not engine.verify(checkpoint, secret=b"another-secret-of-some-length").ok
    forged = Checkpoint(
        taken_at=checkpoint.taken_at, chains={**checkpoint.chains, "RO-2": (1, "0" * 64)}, mac=checkpoint.mac
    )
    assert (
        engine.verify(forged, secret=SECRET)
        .problems[0]
        .message.startswith("the checkpoint's seal does not match")
    )
    with pytest.raises(af.InvalidCommand, match="at least 16 bytes"):
        engine.checkpoint(b"short")
    with pytest.raises(af.InvalidCommand, match="needs the secret"):
        engine.verify(checkpoint)


def test_a_checkpoint_round_trips_through_json(filed: tuple[af.Engine, Path]) -> None:
    """to_json / from_json keep the checkpoint and its seal."""
    engine, _ = filed
    checkpoint = engine.checkpoint(SECRET)
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again == checkpoint
    assert engine.verify(again, secret=SECRET).ok


def test_a_chain_cut_to_one_row_says_one_audit_row(filed: tuple[af.Engine, Path]) -> None:
    """The truncation message counts rows in plain words: '1 audit row', not '1 audit rows'."""
    engine, path = filed
    checkpoint = engine.checkpoint(SECRET)
    tamper(path, "DELETE FROM events WHERE instance_id = 'RO-2' AND position = 1")
    (problem,) = engine.verify(checkpoint, secret=SECRET).problems
    assert "the chain has 1 audit row but the checkpoint sealed 2" in problem.message
