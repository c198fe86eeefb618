"""Hostile input: payloads, ids, event names, keys, actors, clocks, flow files, SQL.

The trust model of docs/reliability.md, checked: flows cannot run code, payloads have size and
depth limits, SQL takes parameters only, roles come from the integrator and the engine never
widens them, and whatever a caller sends gives an accepted event, an audited refusal, or an
``InvalidCommand`` that writes nothing; never a bare Python error, never a row that breaks
``verify()``. Every input here is a row of the table in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from reliability_support import SA, START, write_flows

TECH = af.Actor("tech-1", roles={"technician"})
TIMED = Path(__file__).parent / "fixtures" / "flows" / "deadlines" / "timed.yaml"
SLOT = "2026-11-05T14:00:00+08:00"


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> af.FlowSet:
    return af.load_flows(write_flows(tmp_path_factory.mktemp("hostile")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[af.SQLiteStore]:
    with af.SQLiteStore(tmp_path / "hostile.db") as opened:
        yield opened


@pytest.fixture
def engine(flows: af.FlowSet, store: af.SQLiteStore) -> af.Engine:
    engine = af.Engine(flows, store, clock=SimulatedClock(START))
    engine.start("counter", "C-1", event="open", actor=SA)
    return engine


def _count(store: af.SQLiteStore) -> int:
    return store.count_events()


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def _strict_json(text: str) -> Any:
    """JSON as the standard defines it (no NaN or Infinity), as any other language reads it."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


# --- payloads -----------------------------------------------------------------------------------------

ACCEPTED, REFUSED, INVALID = "accepted", "refused", "invalid"

PAYLOADS: dict[str, tuple[Any, str, str | None]] = {
    # name: (payload, outcome, reason code of a refusal)
    "sql-in-text": ({"note": "'); DROP TABLE events; --"}, ACCEPTED, None),
    "control-chars-in-text": ({"note": "\x00\x1b[2J\r\n\u2028"}, ACCEPTED, None),
    "largest-accepted-255KB": ({"note": "x" * (255 * 1024)}, ACCEPTED, None),
    "oversize-300KB": ({"note": "x" * 300_000}, REFUSED, "too_large"),
    "nested-12": ({"extra": _nested(11)}, ACCEPTED, None),
    "nested-13": ({"extra": _nested(13)}, REFUSED, "bad_value"),
    "10001-items": ({"extra": list(range(10_001))}, REFUSED, "bad_value"),
    "10001-keys": ({"extra": {str(n): n for n in range(10_001)}}, REFUSED, "bad_value"),
    # NaN and infinity are not JSON: refused before anything is written (InvalidCommand).
    "nan-in-integer": ({"n": math.nan}, INVALID, None),
    "infinity-in-any": ({"extra": math.inf}, INVALID, None),
    "bool-for-integer": ({"n": True}, REFUSED, "wrong_type"),
    "undeclared-dunder": ({"__class__": "x"}, REFUSED, "undeclared_field"),
    "integer-key": ({1: "x"}, REFUSED, "undeclared_field"),
    "mixed-keys": ({1: "x", "n": 1}, INVALID, None),
    "5000-digit-integer": ({"n": 10**5000}, INVALID, None),
    "set": ({"extra": {1, 2}}, INVALID, None),
    "bytes": ({"note": b"x"}, INVALID, None),
    "datetime-object": ({"extra": datetime(2026, 1, 1, tzinfo=UTC)}, INVALID, None),
    "date-object": ({"extra": date(2026, 1, 1)}, INVALID, None),
    "decimal": ({"extra": Decimal("1.5")}, INVALID, None),
    "python-object": ({"extra": object()}, INVALID, None),
    "a-list-not-a-mapping": ([1, 2], INVALID, None),
    "a-string-not-a-mapping": ("n=1", INVALID, None),
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_hostile_payloads(engine: af.Engine, store: af.SQLiteStore, name: str) -> None:
    """Each payload is accepted and stored exactly, refused with an audited reason (head unchanged), or
    refused as InvalidCommand with nothing written; the store verifies either way."""
    payload, outcome, code = PAYLOADS[name]
    before = _count(store)
    head = engine.instance("C-1")
    if outcome == ACCEPTED:
        step = engine.fire("C-1", "bump", actor=SA, payload=payload)
        stored = engine.history("C-1")[-1]
        assert (stored.seq, stored.payload) == (step.seq, payload)
    elif outcome == REFUSED:
        with pytest.raises(af.PayloadRejected) as caught:
            engine.fire("C-1", "bump", actor=SA, payload=payload)
        assert code in [r.code for r in caught.value.reasons]
        assert _count(store) == before + 1
        assert engine.instance("C-1") == head
    else:
        with pytest.raises(af.InvalidCommand):
            engine.fire("C-1", "bump", actor=SA, payload=payload)
        assert _count(store) == before
    assert engine.verify().ok


def test_a_payload_nested_past_the_recursion_limit_is_an_invalid_command(
    engine: af.Engine, store: af.SQLiteStore
) -> None:
    """A payload nested 100,000 deep is an InvalidCommand (once a bare RecursionError from json.dumps);
    nothing is written."""
    before = _count(store)
    try:
        with pytest.raises(af.InvalidCommand):
            engine.fire("C-1", "bump", actor=SA, payload={"extra": _nested(100_000)})
    finally:
        assert _count(store) == before


def test_a_refused_oversize_payload_is_not_stored_whole(engine: af.Engine, store: af.SQLiteStore) -> None:
    """A payload over MAX_PAYLOAD_BYTES is refused (too_large) and the refused row stores its size and
    sha256, not the payload: refusals cannot grow the file by megabytes per call."""
    with pytest.raises(af.PayloadRejected):
        engine.fire("C-1", "bump", actor=SA, payload={"note": "x" * 4_000_000})
    stored = store.events("C-1")[-1]
    assert len(stored["payload"]) <= 256 * 1024, (
        f"the refusal stored {len(stored['payload'])} bytes of payload"
    )


def test_audit_rows_hold_standard_json_only(engine: af.Engine, store: af.SQLiteStore) -> None:
    """NaN and Infinity, even in an undeclared field, are an InvalidCommand: every audit row holds
    standard JSON that a subscriber in any language (or a strict parser) can read."""
    for value in (math.nan, math.inf, -math.inf):
        with contextlib.suppress(af.PayloadRejected, af.InvalidCommand):
            engine.fire("C-1", "bump", actor=SA, payload={"zzz": value})
    for row in store.events("C-1"):
        for column in ("payload", "changes", "reasons", "guards"):
            _strict_json(row[column])


# --- ids, event names, keys ---------------------------------------------------------------------------

REFUSED_TEXT = {
    "empty": "",
    "blank": "   ",
    "201-chars": "x" * 201,
    "nul": "a\x00b",
    "newline": "a\nb",
    "carriage-return": "a\rb",
    "tab": "a\tb",
    "escape-sequence": "a\x1b[31mb",
    "delete": "a\x7fb",
}


def _command(field: str, text: str) -> Callable[[af.Engine], af.Step]:
    if field == "instance id":
        return lambda engine: engine.start("counter", text, event="open", actor=SA)
    if field == "event name":
        return lambda engine: engine.fire("C-1", text, actor=SA)
    return lambda engine: engine.fire("C-1", "bump", actor=SA, idempotency_key=text)


FIELDS = ("instance id", "event name", "idempotency key")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("kind", REFUSED_TEXT)
def test_unusable_ids_names_and_keys_are_invalid_commands(
    engine: af.Engine, store: af.SQLiteStore, field: str, kind: str
) -> None:
    """Empty, blank, over-long text, or text with control characters, as an instance id, event name or
    idempotency key: InvalidCommand naming the field, nothing written."""
    before = _count(store)
    with pytest.raises(af.InvalidCommand, match=f"the {field}"):
        _command(field, REFUSED_TEXT[kind])(engine)
    assert _count(store) == before


def test_c1_control_characters_are_refused_like_the_others(engine: af.Engine, store: af.SQLiteStore) -> None:
    """C1 controls (U+0080-U+009F: NEL, the CSI terminal escape) are refused in instance ids, event
    names and keys like the C0 controls."""
    accepted = []
    for field in FIELDS:
        for text in ("a\x85b", "a\x9b31mb"):
            try:
                _command(field, text)(engine)
            except af.InvalidCommand:
                continue
            except af.TransitionRefused:
                pass
            accepted.append((field, text))
    assert not accepted, f"C1 control characters let through: {accepted}"


def test_lone_surrogates_are_invalid_commands_not_encoding_errors(
    engine: af.Engine, store: af.SQLiteStore
) -> None:
    """A lone surrogate (U+D800, not encodable as UTF-8) in an id, event name, key or payload text is
    an InvalidCommand, raised before the store transaction; nothing is written."""
    before = _count(store)
    bare = []
    attempts: list[Callable[[af.Engine], af.Step]] = [_command(field, "a\ud800b") for field in FIELDS]
    attempts.append(lambda engine: engine.fire("C-1", "bump", actor=SA, payload={"note": "\udc00"}))
    for attempt in attempts:
        try:
            attempt(engine)
        except af.InvalidCommand:
            pass
        except UnicodeError as exc:
            bare.append(repr(exc))
    assert _count(store) == before
    assert not bare, f"bare encoding errors: {bare}"


PLAIN_IDS = {
    "sql": "RO-1'; DROP TABLE events; --",
    "path": "../../etc/passwd",
    "wildcards": "RO-%_*?[]",
    "quotes": "RO-\"1\"-'2'",
    "chinese-plate": "车辆-粤B12345",
    "right-to-left-override": "RO-\u202e1",
    "zero-width-space": "RO-\u200b1",
    "line-separator": "RO-\u20281",
    "200-chars": "R" * 200,
}


@pytest.mark.parametrize("kind", PLAIN_IDS)
def test_odd_but_printable_ids_are_plain_text(engine: af.Engine, kind: str) -> None:
    """SQL, paths, wildcards, quotes and Unicode format characters in an id are just text: the
    instance is created under exactly that id and read back by it. (Confusable ids, such as a
    zero-width space or a right-to-left override, are accepted: see the trust model.)"""
    instance_id = PLAIN_IDS[kind]
    engine.start("counter", instance_id, event="open", actor=SA, idempotency_key=instance_id)
    assert engine.instance(instance_id).id == instance_id
    assert [e.instance_id for e in engine.history(instance_id)] == [instance_id]
    assert engine.verify().ok


@pytest.mark.parametrize(
    "event", ["sla_breached", "__init__", "bump ", "BUMP", "bump'; --", "open", "close\u200b"]
)
def test_events_the_flow_does_not_have_are_audited_illegal_transitions(
    engine: af.Engine, store: af.SQLiteStore, event: str
) -> None:
    """An event name the state does not offer, including the engine's own 'sla_breached' and names
    that differ by case, a space or an invisible character, is an IllegalTransition: audited,
    nothing else changes."""
    before = _count(store)
    head = engine.instance("C-1")
    with pytest.raises(af.IllegalTransition):
        engine.fire("C-1", event, actor=SA)
    assert _count(store) == before + 1
    assert engine.instance("C-1") == head


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (True, af.InvalidCommand),
        ("1", af.InvalidCommand),
        (1.0, af.InvalidCommand),
        (-1, af.VersionConflict),
        (2**70, af.VersionConflict),
    ],
    ids=["bool", "text", "float", "negative", "huge"],
)
def test_hostile_expected_versions(engine: af.Engine, value: Any, outcome: type[Exception]) -> None:
    """expected_version must be a whole number; any other whole number is compared and conflicts."""
    with pytest.raises(outcome):
        engine.fire("C-1", "bump", actor=SA, expected_version=value)
    assert engine.instance("C-1").version == 1


# --- actors and roles ---------------------------------------------------------------------------------


def test_a_numeric_actor_id_does_not_break_verify(engine: af.Engine, store: af.SQLiteStore) -> None:
    """A numeric actor id (a staff number passed as an int) is an InvalidCommand, so no row is hashed
    with a number SQLite stores as text: verify() never raises a false tamper alarm."""
    with contextlib.suppress(af.InvalidCommand):
        engine.fire("C-1", "bump", actor=af.Actor(5, roles={"service_advisor"}))  # type: ignore[arg-type]
    report = engine.verify()
    assert report.ok, [str(p) for p in report.problems]


ACTORS = {
    "id-none": af.Actor(None, roles={"service_advisor"}),  # type: ignore[arg-type]
    "id-number": af.Actor(5, roles={"service_advisor"}),  # type: ignore[arg-type]
    "id-empty": af.Actor("", roles={"service_advisor"}),
    "id-control-chars": af.Actor("sa\x1b[2J", roles={"service_advisor"}),
    "role-number": af.Actor("sa", roles={1}),  # type: ignore[arg-type]
    "on-behalf-of-number": af.Actor("sa", roles={"service_advisor"}, on_behalf_of=7),  # type: ignore[arg-type]
    "channel-number": af.Actor("sa", roles={"service_advisor"}, channel=8),  # type: ignore[arg-type]
}


def test_actor_fields_that_are_not_usable_text_are_invalid_commands(
    engine: af.Engine, store: af.SQLiteStore
) -> None:
    """An actor id that is None, a number, empty or holds control characters, a role that is not
    text, and on_behalf_of or channel that are not text: each an InvalidCommand, nothing written."""
    wrong = {}
    for kind, actor in ACTORS.items():
        before = _count(store)
        try:
            engine.fire("C-1", "bump", actor=actor)
        except af.InvalidCommand:
            pass
        except Exception as exc:  # noqa: BLE001 - every other outcome is what this test reports
            wrong[kind] = f"{type(exc).__name__}: {exc}"
        else:
            wrong[kind] = "accepted"
        if _count(store) != before:
            wrong[kind] = wrong.get(kind, "") + " (a row was written)"
    assert not wrong, wrong


def test_the_engine_never_widens_roles(engine: af.Engine, store: af.SQLiteStore) -> None:
    """Roles are exactly what the integrator passed: none, a wrong case, padding or a role of another
    event get RoleDenied; the audit row records the roles as given; deadline events ('system')
    cannot be fired by an advisor, only by an actor the integrator gave 'system'."""
    for actor in (
        af.Actor("nobody"),
        af.Actor("sa", roles={"Service_Advisor"}),
        af.Actor("sa", roles={" service_advisor"}),
        af.Actor("sa", roles={"service_advisor,technician"}),
        TECH,
    ):
        with pytest.raises(af.RoleDenied):
            engine.fire("C-1", "bump", actor=actor, payload={"n": 1})
        assert engine.history("C-1")[-1].actor == actor
    engine.start("pinger", "P-1", event="open", actor=SA)
    with pytest.raises(af.RoleDenied):
        engine.fire("P-1", "ping", actor=SA)
    assert engine.fire("P-1", "ping", actor=af.Actor("scheduler", roles={"system"})).accepted
    assert engine.instance("C-1").version == 1


def test_a_role_string_is_one_role(engine: af.Engine) -> None:
    """roles='service_advisor' is the one role, not its letters."""
    assert af.Actor("sa", roles="service_advisor").roles == frozenset({"service_advisor"})
    assert engine.fire("C-1", "bump", actor=af.Actor("sa", roles="service_advisor")).version == 2


# --- clocks and timestamps ----------------------------------------------------------------------------


def test_a_clock_going_backwards_is_recorded_as_it_reads(flows: af.FlowSet, store: af.SQLiteStore) -> None:
    """The engine takes what the clock says: an event after the clock went back an hour is recorded
    with the earlier time (its seq and chain position still follow the one before), the head's
    updated_at goes before its created_at, deadlines count from the earlier time, and verify() is
    clean: the order of the audit trail is seq, not at."""
    clock = SimulatedClock(START)
    engine = af.Engine(flows, store, clock=clock)
    engine.start("counter", "C-1", event="open", actor=SA)
    engine.start("pinger", "P-1", event="open", actor=SA)
    clock.set(START - timedelta(hours=1))
    step = engine.fire("C-1", "bump", actor=SA)
    engine.fire("P-1", "stop", actor=SA)
    engine.start("pinger", "P-2", event="open", actor=SA)
    history = engine.history("C-1")
    assert [e.at for e in history] == [START, START - timedelta(hours=1)]
    assert history[1].seq > history[0].seq
    assert step.at == START - timedelta(hours=1)
    head = store.head("C-1")
    assert head is not None
    assert head.updated_at < head.created_at
    assert [d.due_at for d in store.pending_deadlines("P-2")] == [START - timedelta(minutes=59)]
    assert engine.verify().ok


def test_a_tick_ahead_of_the_clock_stamps_events_with_their_due_time(
    flows: af.FlowSet, store: af.SQLiteStore
) -> None:
    """tick(now) with ``now`` ahead of the clock (catching up after an outage, or a simulation)
    stamps each event it fires with the time its deadline was due, never earlier, and the deadlines
    those events set count from there; each deadline fires once."""
    clock = SimulatedClock(START)
    engine = af.Engine(flows, store, clock=clock)
    engine.start("pinger", "P-1", event="open", actor=SA)
    ahead = START + timedelta(minutes=5)
    [step] = engine.tick(ahead)
    assert (step.event, step.at) == ("ping", START + timedelta(minutes=1))  # due one minute after open
    [step] = engine.tick(ahead)  # its own deadline counts from its due time, not from the clock
    assert (step.event, step.at) == ("pong", START + timedelta(minutes=2))
    assert [e.idempotency_key for e in engine.history("P-1")][1:] == [
        "deadline:P-1:nudge:1",
        "deadline:P-1:nudge_back:2",
    ]
    assert engine.tick(START + timedelta(minutes=2)) == []  # the next one is due at minute 3
    assert engine.verify().ok


def test_a_tick_behind_the_clock_stamps_events_with_the_clock(
    flows: af.FlowSet, store: af.SQLiteStore
) -> None:
    """A deadline fired late (the clock past its due time) is stamped with the clock: when it fired."""
    clock = SimulatedClock(START)
    engine = af.Engine(flows, store, clock=clock)
    engine.start("pinger", "P-1", event="open", actor=SA)
    clock.advance(timedelta(minutes=30))
    [step] = engine.tick()
    assert (step.event, step.at) == ("ping", START + timedelta(minutes=30))


@pytest.mark.parametrize(
    ("reading", "shown"),
    [
        (datetime(2026, 11, 2, 16, 0, tzinfo=timezone(timedelta(hours=8))), "2026-11-02T08:00:00+00:00"),
        (datetime(2026, 11, 2, 8, 0, tzinfo=UTC), "2026-11-02T08:00:00+00:00"),
    ],
    ids=["shanghai", "utc"],
)
def test_an_aware_clock_in_any_zone_is_stored_in_utc(
    flows: af.FlowSet, store: af.SQLiteStore, reading: datetime, shown: str
) -> None:
    """A clock reading in another time zone is stored as the same moment in UTC."""
    engine = af.Engine(flows, store, clock=lambda: reading)
    engine.start("counter", "C-1", event="open", actor=SA)
    assert store.events("C-1")[0]["at"] == shown


def test_a_clock_without_a_time_zone_is_an_invalid_command(flows: af.FlowSet, store: af.SQLiteStore) -> None:
    """A naive clock reading is refused before anything is written."""
    engine = af.Engine(flows, store, clock=lambda: datetime(2026, 11, 2, 8, 0))
    with pytest.raises(af.InvalidCommand, match="time zone"):
        engine.start("counter", "C-1", event="open", actor=SA)
    assert _count(store) == 0


def test_a_clock_that_returns_no_datetime_is_an_invalid_command(
    flows: af.FlowSet, store: af.SQLiteStore
) -> None:
    """A clock returning text, None or a number is an InvalidCommand naming what it returned;
    nothing is written."""
    wrong = {}
    for reading in ("2026-11-02T08:00:00+00:00", None, 1_700_000_000):
        engine = af.Engine(flows, store, clock=lambda reading=reading: reading)
        try:
            engine.start("counter", "C-1", event="open", actor=SA)
        except af.InvalidCommand:
            pass
        except Exception as exc:  # noqa: BLE001 - every other outcome is what this test reports
            wrong[repr(reading)] = f"{type(exc).__name__}: {exc}"
    assert _count(store) == 0
    assert not wrong, wrong


def test_a_timestamp_at_the_edge_of_the_calendar_is_refused_not_an_overflow(store: af.SQLiteStore) -> None:
    """A datetime field the deadline arithmetic cannot handle (year 1) is refused on the field (times
    must lie between the years 1900 and 2999), never an OverflowError."""
    engine = af.Engine(af.FlowSet({"timed": af.load_flow(TIMED)}), store, clock=SimulatedClock(START))
    sa = af.Actor("sa-1", roles={"service_advisor"})
    wrong = {}
    for number, slot in enumerate(["0001-01-01T00:00:00+14:00", "0001-01-01T12:00:00+00:00"]):
        try:
            engine.start("timed", f"T-{number}", event="book", actor=sa, payload={"slot_at": slot})
        except (af.PayloadRejected, af.InvalidCommand):
            pass
        except Exception as exc:  # noqa: BLE001 - every other outcome is what this test reports
            wrong[slot] = f"{type(exc).__name__}: {exc}"
    assert engine.verify().ok
    assert not wrong, wrong


@pytest.mark.parametrize(
    "slot",
    ["2024-02-30T10:00:00+08:00", "2026-11-05T14:00:00", f"{SLOT}\n", f"+{SLOT}", "tomorrow", ""],
    ids=["no-such-day", "no-zone", "newline", "sign", "words", "empty"],
)
def test_unusable_timestamps_in_payloads_are_refused(store: af.SQLiteStore, slot: str) -> None:
    """Timestamps that are not aware ISO 8601 times are refused with a reason on the field."""
    engine = af.Engine(af.FlowSet({"timed": af.load_flow(TIMED)}), store, clock=SimulatedClock(START))
    with pytest.raises(af.PayloadRejected) as caught:
        engine.start(
            "timed",
            "T-1",
            event="book",
            actor=af.Actor("sa-1", roles={"service_advisor"}),
            payload={"slot_at": slot},
        )
    assert {r.field for r in caught.value.reasons} == {"slot_at"}


# --- SQL takes parameters only -----------------------------------------------------------------------


class _RecordingConnection:
    """Wraps the store's sqlite3 connection and keeps the text of every statement it runs."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.statements: list[str] = []

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> sqlite3.Cursor:
        self.statements.append(sql)
        return self._conn.executemany(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


MARK = "Zq9MARK"


def test_sql_takes_parameters_only(flows: af.FlowSet, store: af.SQLiteStore) -> None:
    """Caller text (ids, events, keys, payloads, actors) reaches SQLite only as parameters: no statement
    the store runs contains any of it, and SQL-looking text is stored verbatim."""
    recording = _RecordingConnection(store._conn)
    store._conn = recording  # type: ignore[assignment]
    engine = af.Engine(flows, store, clock=SimulatedClock(START))
    hostile = f"{MARK}'); DROP TABLE events; --"
    actor = af.Actor(
        f"sa-{MARK}' OR '1'='1", roles={"service_advisor"}, on_behalf_of=f'{MARK}"', channel=f"{MARK};"
    )
    engine.start(
        "counter", hostile, event="open", actor=actor, payload={"note": hostile}, idempotency_key=hostile
    )
    engine.fire(hostile, "bump", actor=actor, payload={"note": hostile, "extra": {hostile: [hostile]}})
    with pytest.raises(af.IllegalTransition):
        engine.fire(hostile, f"{MARK}' OR 1=1 --", actor=actor)
    with pytest.raises(af.UnknownInstance):
        engine.fire(f"{MARK}%", "bump", actor=actor)
    engine.history(hostile)
    engine.events_since(0)
    engine.verify()
    engine.start("pinger", f"P-{MARK}'", event="open", actor=actor)
    engine.tick(START + timedelta(minutes=2))
    assert recording.statements
    leaked = [sql for sql in recording.statements if MARK in sql]
    assert not leaked, leaked
    assert engine.instance(hostile).data["note"] == hostile
    assert engine.verify().ok
    store._conn = recording._conn  # type: ignore[assignment]


# --- flows cannot run code ----------------------------------------------------------------------------

CODE_IN_FLOWS = {
    "python-tag": "flow: !!python/object/apply:os.system ['touch {sentinel}']\n",
    "python-name-in-guard": "guard: !!python/name:os.system\n",
    "expression-as-rule": "guard: {{rule: \"__import__('os').system('touch {sentinel}')\"}}\n",
    "module-path-as-rule": "guard: {{rule: os.system, field: note}}\n",
    "expression-as-guard": "guard: \"__import__('os').system('touch {sentinel}')\"\n",
    "format-string": "label: {{en: '{{0.__class__.__mro__}}', zh: x}}\n",
}


@pytest.mark.parametrize("kind", CODE_IN_FLOWS)
def test_flow_files_cannot_run_code(tmp_path: Path, kind: str) -> None:
    """Python tags, expressions or module paths where a rule name goes: the flow is refused with a
    FlowDefinitionError, and nothing runs (the sentinel file is never made). Rules are looked up by
    name in the registry the integrator built; flow text is never evaluated.
    (tests/test_hostile_flows.py covers malformed, huge and alias-bomb files.)"""
    sentinel = tmp_path / "ran"
    folder = write_flows(tmp_path)
    text = (folder / "counter.yaml").read_text(encoding="utf-8")
    line = CODE_IN_FLOWS[kind].format(sentinel=sentinel)
    if line.startswith("flow:"):
        text = line + text.split("\n", 1)[1]
    elif line.startswith("label:"):
        text = text.replace("label: {en: Counter, zh: 计数}\n", line)
    else:
        text = text.replace("increment: [count]}", "increment: [count], " + line.strip() + "}")
    (folder / "counter.yaml").write_text(text, encoding="utf-8")
    try:
        flows = af.load_flows(folder)
    except af.FlowDefinitionError:
        pass
    else:  # a label is only text: it loads, and shows as written
        assert kind == "format-string"
        assert flows["counter"].label.en == "{0.__class__.__mro__}"
    assert not sentinel.exists()
