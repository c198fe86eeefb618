"""Failing storage: a full disk, a read-only file, a file locked by another program, a corrupt file.

Each must give a clear error (a :class:`af.StoreError` subclass naming the file and the cause),
change nothing in the store, and the store must work again once the cause is gone.

How each cause is made (the tests run as root in CI's container; see docs/reliability.md):

- full disk: a 2 MB tmpfs mounted for the test and filled with a filler file; where mounting is
  not allowed the test is skipped, and ``PRAGMA max_page_count`` (a database size cap that fails
  with the same SQLITE_FULL) runs everywhere;
- read-only: the immutable attribute (``chattr +i``, which binds root too) on the store file, and a
  tmpfs remounted read-only;
- locked: another process holding the write lock (``BEGIN EXCLUSIVE``), or holding the whole file
  in ``locking_mode=EXCLUSIVE``;
- corrupt: garbage bytes over the header, the whole file or pages in the middle, a truncated file,
  garbage appended to the write-ahead log.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from reliability_support import SA, START, write_flows

BIG = "x" * 60_000
"""A note large enough that the write-ahead log must grow to take it."""


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> af.FlowSet:
    return af.load_flows(write_flows(tmp_path_factory.mktemp("storage")))


def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through a separate plain connection."""
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("events", "instances", "deadlines", "links", "flows", "meta")
        }
    finally:
        conn.close()


def _engine(store: af.SQLiteStore, flows: af.FlowSet) -> af.Engine:
    return af.Engine(flows, store, clock=SimulatedClock(START))


def _populate(db: Path, flows: af.FlowSet) -> None:
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        engine.start("counter", "C-1", event="open", actor=SA)
        for n in range(3):
            engine.fire("C-1", "bump", actor=SA, payload={"n": n})
        engine.start("pinger", "P-1", event="open", actor=SA)


def _plain_store_error(error: af.StoreError) -> None:
    assert type(error) is af.StoreError, f"{type(error).__name__}: {error}"


# --- a full disk -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _small_filesystem(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount_point`` (skips the test where mounting is not allowed)."""
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_refuses_the_command_changes_nothing_and_works_once_space_is_freed(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """On a full filesystem a command raises StoreError ('disk is full', naming the file), writes
    nothing and leaves the instance readable; a tick raises it too and its deadline stays pending;
    once space is freed the same store object writes again and everything verifies."""
    with _small_filesystem(tmp_path / "mnt", "2m") as mnt:
        db = mnt / "audit.db"
        _populate(db, flows)
        store = af.SQLiteStore(db)
        clock = SimulatedClock(START + timedelta(minutes=2))
        try:
            engine = af.Engine(flows, store, clock=clock)
            _fill(mnt / "filler")
            error = None
            for n in range(200):  # the log may have room left from earlier transactions; use it up
                before = _tables(db)
                try:
                    engine.fire("C-1", "bump", actor=SA, payload={"n": n, "note": BIG})
                except af.StoreError as exc:
                    error = exc
                    break
            assert error is not None, "the full disk never refused a write"
            _plain_store_error(error)
            assert "disk is full" in str(error)
            assert "nothing was written" in str(error)
            assert str(db) in str(error)
            assert _tables(db) == before
            version = engine.instance("C-1").version
            assert engine.replay("C-1") == engine.instance("C-1")
            with pytest.raises(af.StoreError, match="disk is full"):
                engine.tick()
            assert [(d.name, d.status) for d in store.pending_deadlines("P-1")] == [("nudge", "pending")]
            assert _tables(db) == before

            (mnt / "filler").unlink()
            step = engine.fire("C-1", "bump", actor=SA, payload={"n": 999, "note": BIG})
            assert step.version == version + 1
            assert [s.event for s in engine.tick()] == ["ping"]
            assert engine.verify().ok
        finally:
            store.close()
        with af.SQLiteStore(db) as again:
            assert _engine(again, flows).verify().ok


def test_a_new_store_on_a_full_disk_is_refused_and_opens_once_space_is_freed(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """Creating a store on a full filesystem raises StoreError naming the file and leaves no half-made
    schema; once space is freed the same path opens as a new, working store."""
    with _small_filesystem(tmp_path / "mnt", "1m") as mnt:
        _fill(mnt / "filler")
        db = mnt / "new.db"
        with pytest.raises(af.StoreError) as caught:
            af.SQLiteStore(db)
        assert str(db) in str(caught.value)
        assert not isinstance(caught.value, af.StoreBusy | af.StoreCorrupt)
        (mnt / "filler").unlink()
        with af.SQLiteStore(db) as store:
            engine = _engine(store, flows)
            engine.start("counter", "C-1", event="open", actor=SA)
            assert engine.verify().ok


def test_a_size_cap_refuses_like_a_full_disk_and_works_once_lifted(tmp_path: Path, flows: af.FlowSet) -> None:
    """Portable stand-in for a full disk (runs without mount rights): PRAGMA max_page_count at the
    current size makes SQLite answer SQLITE_FULL; the command raises StoreError ('disk is full'),
    writes nothing, and goes through once the cap is lifted."""
    db = tmp_path / "audit.db"
    _populate(db, flows)
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        (pages,) = store.db.execute("PRAGMA page_count").fetchone()
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        before = _tables(db)
        with pytest.raises(af.StoreError) as caught:
            engine.fire("C-1", "bump", actor=SA, payload={"n": 1, "note": BIG})
        _plain_store_error(caught.value)
        assert "disk is full; nothing was written" in str(caught.value)
        assert _tables(db) == before
        store.db.execute("PRAGMA max_page_count = 4294967294")
        assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1, "note": BIG}).version == 5
        assert engine.verify().ok


# --- a read-only file ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """The immutable attribute on ``path`` (binds root too); skips where chattr cannot set it."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make the file immutable here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_file_refuses_writes_keeps_reads_and_a_new_store_writes_once_writable(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """An immutable store file opens for reading; a command raises StoreError ('read-only', naming
    the file) and writes nothing; once the file is writable again a store opened anew writes."""
    db = tmp_path / "audit.db"
    _populate(db, flows)
    before = _tables(db)
    with _immutable(db), af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        with pytest.raises(af.StoreError) as caught:
            engine.fire("C-1", "bump", actor=SA, payload={"n": 1})
        _plain_store_error(caught.value)
        assert "read-only; nothing was written" in str(caught.value)
        assert str(db) in str(caught.value)
        assert engine.instance("C-1").version == 4
        assert engine.verify().ok
    assert _tables(db) == before
    with af.SQLiteStore(db) as store:
        assert _engine(store, flows).fire("C-1", "bump", actor=SA, payload={"n": 1}).version == 5


def test_read_only_file_the_same_store_writes_again_once_the_file_is_writable(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """A long-running service keeps its store object: once the file is writable again, the next
    command through the same SQLiteStore goes through (SQLite opened the file read-only, for the
    life of the connection; the store reconnects after a read-only refusal)."""
    db = tmp_path / "audit.db"
    _populate(db, flows)
    store = af.SQLiteStore(db)
    try:
        with _immutable(db):
            store.close()
            store = af.SQLiteStore(db)
            engine = _engine(store, flows)
            with pytest.raises(af.StoreError, match="read-only"):
                engine.fire("C-1", "bump", actor=SA, payload={"n": 1})
        assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}).version == 5
    finally:
        store.close()


@pytest.mark.parametrize("left", ["clean", "with-log"])
def test_read_only_filesystem_refuses_and_works_once_writable(
    tmp_path: Path, flows: af.FlowSet, left: str
) -> None:
    """On a filesystem remounted read-only: after a clean shutdown (no -wal/-shm files) opening the
    store raises StoreError naming the file and saying the folder is read-only, since SQLite cannot
    create the log's shared-memory file; with the log files left (a crash, or a read-only reader) the store opens, reads, and a
    command raises StoreError 'read-only'. Nothing is written either way, and after the remount
    read-write the store opens and writes."""
    with _small_filesystem(tmp_path / "mnt", "4m") as mnt:
        db = mnt / "audit.db"
        _populate(db, flows)
        before = _tables(db)
        if left == "with-log":  # a read-only reader cannot remove the log files when it closes
            reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            reader.execute("SELECT count(*) FROM events").fetchone()
            reader.close()
            assert Path(f"{db}-shm").exists()
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        try:
            with pytest.raises(af.StoreError) as caught:
                _open_read_and_write(db, flows)
            _plain_store_error(caught.value)
            assert str(db) in str(caught.value)
            assert "nothing was written" in str(caught.value)
            assert "read-only" in str(caught.value)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert _tables(db) == before
        with af.SQLiteStore(db) as store:
            engine = _engine(store, flows)
            assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}).version == 5
            assert engine.verify().ok


def _open_read_and_write(db: Path, flows: af.FlowSet) -> None:
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        assert engine.instance("C-1").version == 4
        engine.fire("C-1", "bump", actor=SA, payload={"n": 1})


# --- a file locked by another program ---------------------------------------------------------------


HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive-mode":
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
conn.close()
print("released", flush=True)
"""
"""Another program: holds the store file's write lock (or the whole file) until told to let go."""


@contextlib.contextmanager
def _held(db: Path, mode: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.stdin.write("go\n")
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.stdout.close()
        assert holder.wait(10) == 0


def test_write_lock_held_by_another_program_gives_store_busy_and_works_after_release(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """While another program holds the write lock, a command and a tick wait for the busy timeout
    (0.3 s) and raise StoreBusy naming the file; reads go on; nothing is written; after the release
    the same store fires the command and the deadline."""
    db = tmp_path / "audit.db"
    _populate(db, flows)
    before = _tables(db)
    clock = SimulatedClock(START + timedelta(minutes=2))
    with af.SQLiteStore(db, busy_timeout=0.3) as store:
        engine = af.Engine(flows, store, clock=clock)
        with _held(db, "write-lock"):
            began = time.monotonic()
            with pytest.raises(af.StoreBusy) as caught:
                engine.fire("C-1", "bump", actor=SA, payload={"n": 1})
            waited = time.monotonic() - began
            assert 0.25 <= waited < 1.5, waited
            assert str(db) in str(caught.value)
            assert "locked" in str(caught.value)
            with pytest.raises(af.StoreBusy):
                engine.tick()
            assert engine.instance("C-1").version == 4  # WAL: readers are not blocked
            assert [d.status for d in store.pending_deadlines("P-1")] == ["pending"]
        assert _tables(db) == before
        assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}).version == 5
        assert [s.event for s in engine.tick()] == ["ping"]
        assert engine.verify().ok


def test_file_held_in_exclusive_locking_mode_gives_store_busy_at_open_and_opens_after_release(
    tmp_path: Path, flows: af.FlowSet
) -> None:
    """Another program holding the file in locking_mode=EXCLUSIVE keeps even readers out: opening the
    store raises StoreBusy naming the file after the busy timeout, not a hang; after the release it
    opens and works."""
    db = tmp_path / "audit.db"
    _populate(db, flows)
    before = _tables(db)
    with _held(db, "exclusive-mode"):
        began = time.monotonic()
        with pytest.raises(af.StoreBusy) as caught:
            af.SQLiteStore(db, busy_timeout=0.3)
        assert 0.25 <= time.monotonic() - began < 1.5
        assert str(db) in str(caught.value)
    assert _tables(db) == before
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        assert engine.fire("C-1", "bump", actor=SA, payload={"n": 1}).version == 5


# --- a corrupt file -----------------------------------------------------------------------------------


def _garbage(rng: random.Random, size: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(size))


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory: pytest.TempPathFactory, flows: af.FlowSet) -> bytes:
    """A store file of 5 instances x 31 events, checkpointed and closed."""
    db = tmp_path_factory.mktemp("good") / "audit.db"
    with af.SQLiteStore(db, synchronous="OFF") as store:
        engine = _engine(store, flows)
        for k in range(5):
            engine.start("counter", f"C-{k}", event="open", actor=SA)
            for n in range(30):
                engine.fire(f"C-{k}", "bump", actor=SA, payload={"n": n, "note": "brakes " * 40})
    assert not Path(f"{db}-wal").exists()
    return db.read_bytes()


@pytest.fixture
def good_file(tmp_path: Path, good_bytes: bytes) -> tuple[Path, bytes]:
    """A copy of the good store file; its path and bytes."""
    db = tmp_path / "audit.db"
    db.write_bytes(good_bytes)
    return db, good_bytes


def _page_size(content: bytes) -> int:
    size = int.from_bytes(content[16:18], "big")
    return 65536 if size == 1 else size


CORRUPTIONS = {
    "header-garbage": lambda good, rng: _garbage(rng, 100) + good[100:],
    "all-garbage": lambda good, rng: _garbage(rng, len(good)),
    "all-zeros": lambda good, rng: b"\0" * len(good),
    "truncated-to-half": lambda good, rng: good[: len(good) // 2],
    "last-page-cut": lambda good, rng: good[: len(good) - _page_size(good)],
    "schema-page-garbage": lambda good, rng: (
        good[:100] + _garbage(rng, _page_size(good) - 100) + good[_page_size(good) :]
    ),
    "middle-pages-garbage": lambda good, rng: (
        good[: 3 * _page_size(good)] + _garbage(rng, 3 * _page_size(good)) + good[6 * _page_size(good) :]
    ),
}


def _open_and_read_everything(db: Path, flows: af.FlowSet) -> None:
    """What a service does first: open, verify, read every head."""
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        engine.verify()
        for head in store.iter_heads():
            engine.instance(head.id)


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_file_gives_store_corrupt_changes_nothing_and_a_restored_file_works(
    good_file: tuple[Path, bytes], flows: af.FlowSet, kind: str
) -> None:
    """Garbage over the header, the whole file, the schema page or middle pages, or a cut file: opening
    or reading raises StoreCorrupt naming the file (never a wrong answer, never a bare sqlite3 error),
    the file is left byte for byte as it was, and once the good file is restored the store works."""
    db, good = good_file
    bad = CORRUPTIONS[kind](good, random.Random(kind))
    db.write_bytes(bad)
    with pytest.raises(af.StoreCorrupt) as caught:
        _open_and_read_everything(db, flows)
    assert str(db) in str(caught.value)
    assert "not a usable aftersales_flow database" in str(caught.value)
    assert db.read_bytes() == bad
    db.write_bytes(good)
    for leftover in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        assert engine.verify().ok
        assert engine.fire("C-2", "bump", actor=SA, payload={"n": 99}).version == 32


def test_garbage_after_the_write_ahead_log_is_ignored(
    tmp_path: Path, good_file: tuple[Path, bytes], flows: af.FlowSet
) -> None:
    """A write-ahead log left by a crash whose tail is garbage (a torn write) loses nothing that
    committed: on opening, SQLite replays the frames whose checksums hold and ignores the rest."""
    db, _ = good_file
    keep = af.SQLiteStore(db)  # holds the log open, so that closing the writer does not checkpoint it
    try:
        with af.SQLiteStore(db) as store:
            _engine(store, flows).fire("C-1", "bump", actor=SA, payload={"n": 100})
        wal = Path(f"{db}-wal").read_bytes()
        assert wal
        crashed = tmp_path / "crashed.db"  # the files as a crash would leave them: no -shm
        shutil.copyfile(db, crashed)
        Path(f"{crashed}-wal").write_bytes(wal + _garbage(random.Random(3), 50_000))
    finally:
        keep.close()
    with af.SQLiteStore(crashed) as store:
        engine = _engine(store, flows)
        assert engine.verify().ok
        assert engine.instance("C-1").version == 32


def test_an_empty_file_is_a_new_store(tmp_path: Path, flows: af.FlowSet) -> None:
    """A zero-byte file is an empty SQLite database, not a corrupt one: it becomes a new store."""
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        engine.start("counter", "C-1", event="open", actor=SA)
        assert engine.verify().ok


def test_a_command_on_a_partly_corrupt_file_gives_store_corrupt_and_changes_nothing(
    good_file: tuple[Path, bytes], flows: af.FlowSet
) -> None:
    """Garbage over pages in the middle lets the file open (the schema is intact), but every command
    that touches the damaged pages raises StoreCorrupt and the file keeps its bytes: the store never
    writes on top of a damage it has seen."""
    db, good = good_file
    bad = CORRUPTIONS["middle-pages-garbage"](good, random.Random("middle-pages-garbage"))
    db.write_bytes(bad)
    with af.SQLiteStore(db) as store:
        engine = _engine(store, flows)
        for k in range(5):
            with pytest.raises(af.StoreCorrupt):
                engine.fire(f"C-{k}", "bump", actor=SA, payload={"n": 1})
    assert db.read_bytes() == bad


def test_a_store_in_a_folder_that_does_not_exist_says_so(tmp_path: Path) -> None:
    """Opening a store under a missing folder names the folder, not only SQLite's 'unable to open'."""
    missing = tmp_path / "no-such-folder" / "audit.db"
    with pytest.raises(af.StoreError) as caught:
        af.SQLiteStore(missing)
    assert str(caught.value).startswith(f"{missing}: the folder {missing.parent} does not exist")
    assert not missing.parent.exists()
