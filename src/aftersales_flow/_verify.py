"""Verification of a store: hash chains, positions, versions, and heads against replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aftersales_flow._build import content_hash
from aftersales_flow._chain import CHAINED_COLUMNS, GENESIS, row_hash
from aftersales_flow.errors import StoreError
from aftersales_flow.links import LINK_CHANNEL, link_channel
from aftersales_flow.store import Head, Row, Store
from aftersales_flow.values import VerifyProblem, VerifyReport


def _rows(count: int) -> str:
    return f"{count} audit row" if count == 1 else f"{count} audit rows"


class _ChainCheck:
    """Walks one instance's rows in chain order and notes what is wrong."""

    def __init__(self, instance_id: str, problems: list[VerifyProblem]) -> None:
        self.instance_id = instance_id
        self.problems = problems
        self.expected: tuple[int, str] | None = None
        """The checkpoint's (row count, last hash) for this chain, when verifying against one."""
        self.expected_position = 0
        self.prev_hash = GENESIS
        self.last_seq = 0
        self.version = 0
        self.state: str | None = None
        self.flow: str | None = None
        self.flow_version = 0
        self.flow_hash = ""
        self.data: dict[str, Any] = {}
        self.data_ok = True

    def problem(self, kind: str, message: str, row: Row | None) -> None:
        self.problems.append(
            VerifyProblem(
                instance_id=self.instance_id,
                kind=kind,
                message=message,
                seq=row["seq"] if row is not None else None,
                position=row["position"] if row is not None else None,
                event=row["event"] if row is not None else None,
            )
        )

    def add(self, row: Row) -> None:
        position = row["position"]
        if position != self.expected_position:
            what = "missing" if position > self.expected_position else "repeated"
            self.problem(
                "gap",
                f"audit row at chain position {position} where {self.expected_position} was expected "
                f"(rows {what}: deleted or inserted)",
                row,
            )
        if row["prev_hash"] != self.prev_hash:
            self.problem(
                "chain",
                "the row does not link to the row before it (deleted, inserted or reordered rows)",
                row,
            )
        actual = row_hash([row[c] for c in CHAINED_COLUMNS])
        if actual != row["hash"]:
            self.problem("edited", "the row's content does not match its hash (the row was edited)", row)
        if row["seq"] <= self.last_seq:
            self.problem("order", "the row is out of order in the global sequence (reordered rows)", row)
        if row["accepted"]:
            self.version += 1
            if row["version"] != self.version:
                self.problem(
                    "version", f"accepted event has version {row['version']}, expected {self.version}", row
                )
                self.version = row["version"] if isinstance(row["version"], int) else self.version
            self.state = row["target"]
            self.flow, self.flow_version, self.flow_hash = row["flow"], row["flow_version"], row["flow_hash"]
            try:
                self.data.update(json.loads(row["changes"]))
            except (TypeError, ValueError):
                self.data_ok = False
                self.problem("edited", "the row's recorded changes are not valid JSON", row)
        elif row["version"] is not None:
            self.problem("version", "a refused attempt carries a version", row)
        if self.expected is not None and position == self.expected[0] - 1 and row["hash"] != self.expected[1]:
            self.problem(
                "checkpoint",
                "the row differs from the one the checkpoint sealed (the chain was rewritten)",
                row,
            )
        self.expected_position = position + 1
        self.prev_hash = row["hash"]
        self.last_seq = row["seq"]

    def finish(self, head: Head | None) -> None:
        if self.expected is not None and self.expected_position < self.expected[0]:
            self.problem(
                "checkpoint",
                f"the chain has {_rows(self.expected_position)} but the checkpoint sealed "
                f"{self.expected[0]} (rows were cut off its end)",
                None,
            )
        self._finish_head(head)

    def _finish_head(self, head: Head | None) -> None:
        if head is None:
            if self.version:
                self.problem(
                    "head", "accepted events exist but the instance has no head (head deleted)", None
                )
            return
        if not self.version:
            self.problem("head", "the instance has a head but no accepted event", None)
            return
        mismatches = []
        if head.state != self.state:
            mismatches.append(f"state {head.state!r} but its events end in {self.state!r}")
        if head.version != self.version:
            mismatches.append(f"version {head.version} but its events reach {self.version}")
        if (head.flow, head.flow_version, head.flow_hash) != (self.flow, self.flow_version, self.flow_hash):
            mismatches.append("a flow definition its last event did not run under")
        if self.data_ok:
            try:
                head_data = json.loads(head.data)
            except (TypeError, ValueError):
                head_data = None
            if head_data != self.data:
                mismatches.append("data that differs from the data its events produce")
        if mismatches:
            self.problem("head", "the head disagrees with its events: it has " + "; ".join(mismatches), None)


def verify_rows(
    rows: Iterable[Row], heads: dict[str, Head], checkpoint: Mapping[str, tuple[int, str]] | None = None
) -> VerifyReport:
    """Verify audit rows (grouped by instance, in chain order) against the heads.

    With a ``checkpoint`` (instance id -> row count and last hash at the time it was taken),
    every recorded chain must still reach its recorded row, with the same hash there.
    """
    problems: list[VerifyProblem] = []
    checked = 0
    instances = 0
    current: _ChainCheck | None = None
    seen: set[str] = set()
    for row in rows:
        checked += 1
        if current is None or row["instance_id"] != current.instance_id:
            if current is not None:
                current.finish(heads.get(current.instance_id))
            instances += 1
            seen.add(row["instance_id"])
            current = _ChainCheck(row["instance_id"], problems)
            current.expected = (checkpoint or {}).get(row["instance_id"])
        current.add(row)
    if current is not None:
        current.finish(heads.get(current.instance_id))
    _missing(problems, seen, heads, checkpoint)
    return VerifyReport(ok=not problems, checked=checked, instances=instances, problems=tuple(problems))


def _missing(
    problems: list[VerifyProblem],
    seen: set[str],
    heads: Mapping[str, Head],
    checkpoint: Mapping[str, tuple[int, str]] | None,
) -> None:
    """Chains the checkpoint sealed that are gone, and heads without any audit event."""
    for instance_id in sorted(set(checkpoint or {}) - seen):
        count, _ = (checkpoint or {})[instance_id]
        problems.append(
            VerifyProblem(
                instance_id=instance_id,
                kind="checkpoint",
                message=f"the checkpoint records {_rows(count)} for this instance, but it has none now "
                "(the instance was deleted)",
            )
        )
    for instance_id in sorted(set(heads) - seen):
        problems.append(
            VerifyProblem(
                instance_id=instance_id,
                kind="head",
                message="the instance has a head but no audit events (its events were deleted)",
            )
        )


def verify_store(store: Store, checkpoint: Mapping[str, tuple[int, str]] | None = None) -> VerifyReport:
    """Verify every chain and head of ``store`` (and against a checkpoint's chains, when given).

    A store that can (SQLite) is read in one pass in its own order (see :class:`_Walk`);
    any other, or one holding what that pass cannot read, chain by chain.
    """
    report: VerifyReport | None = None
    if all(hasattr(store, name) for name in ("snapshot", "scan_chains", "scan_moves")):
        try:
            with store.snapshot():  # type: ignore[attr-defined]
                heads = {head.id: head for head in store.iter_heads()}
                report = _verify_scan(store, heads, checkpoint)
        except StoreError:
            report = None  # e.g. a value JSON cannot hold: the plain walk says what it is
    if report is None:
        heads = {head.id: head for head in store.iter_heads()}
        report = verify_rows(store.iter_events(), heads, checkpoint)
    return with_references(report, store)


def with_references(report: VerifyReport, store: Store) -> VerifyReport:
    """``report`` with the problems of what the chains point to outside themselves added."""
    extra = _references(store)
    if not extra:
        return report
    problems = (*report.problems, *extra)
    return VerifyReport(ok=False, checked=report.checked, instances=report.instances, problems=problems)


def _references(store: Store) -> list[VerifyProblem]:
    """What the chains point to outside themselves: stored flow definitions and link rows.

    Both tables are append-only by the schema; whoever drops a trigger could still edit or
    delete their rows, which no chain covers. A definition must hash to the key it is stored
    under and exist for every head; a link row must name the rows the link wrote, and every
    row a link wrote must have its link row. Stores without these tables are not asked.
    """
    if not all(hasattr(store, name) for name in ("stored_flows", "flows_in_use", "link_rows", "linked_rows")):
        return []
    return [*_definition_problems(store), *_link_problems(store)]


def _definition_problems(store: Any) -> list[VerifyProblem]:
    found = []
    users: dict[str, str] = dict(store.flows_in_use())
    stored = set()
    for flow_hash, text in store.stored_flows():
        stored.add(flow_hash)
        try:
            definition = json.loads(text)
            name = f"{definition.get('flow')!r} version {definition.get('version')}"
            intact = content_hash(definition) == flow_hash
        except (TypeError, ValueError, AttributeError):
            name, intact = "(unreadable)", False
        if not intact:
            found.append(
                VerifyProblem(
                    instance_id=users.get(flow_hash, "*"),
                    kind="flow",
                    message=f"the stored definition of flow {name} does not match its hash {flow_hash} "
                    "(the definition was edited)",
                )
            )
    for flow_hash, instance_id in sorted(users.items()):
        if flow_hash not in stored:
            found.append(
                VerifyProblem(
                    instance_id=instance_id,
                    kind="flow",
                    message=f"the instance runs under flow definition {flow_hash}, which is not stored "
                    "(the definition was deleted)",
                )
            )
    return found


def _link_problems(store: Any) -> list[VerifyProblem]:
    found = []
    rows = store.link_rows()
    for row in rows:
        parent_id, parent_seq, child_id, child_seq, kind, c_id, c_channel, c_event, p_id, p_ok = row
        wrong = []
        if c_id is None:
            wrong.append(f"no audit row {child_seq} exists")
        elif c_id != child_id or c_channel != link_channel(parent_id):
            wrong.append(f"audit row {child_seq} is not {parent_id}'s link into {child_id}")
        if p_id != parent_id or not p_ok:
            wrong.append(f"audit row {parent_seq} is not an accepted event of {parent_id}")
        if wrong:
            found.append(
                VerifyProblem(
                    instance_id=child_id,
                    kind="link",
                    message=f"the link row '{kind}' from {parent_id} (seq {parent_seq}) to {child_id} "
                    f"(seq {child_seq}) disagrees with the audit trail: {'; '.join(wrong)} "
                    "(the link row was edited or inserted)",
                    seq=child_seq if c_id == child_id else None,
                    event=c_event if c_id == child_id else None,
                )
            )
    named = {row[3] for row in rows}
    for seq, instance_id, event, channel in store.linked_rows():
        if seq in named:
            continue
        found.append(
            VerifyProblem(
                instance_id=instance_id,
                kind="link",
                message=f"the row was written by a link from {channel.removeprefix(LINK_CHANNEL)} but "
                "no link row names it (the link row was deleted)",
                seq=seq,
                event=event,
            )
        )
    return found


_FLUSH = 16
"""Changes texts a chain gathers before they are decoded together (fewer calls, little memory)."""
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner behind ``json.loads``: (value, end) of the JSON text at a position."""


class _Walk:
    """One pass over every row in global order, keeping per chain only what its end needs.

    A chain is *clean* when its rows came in chain order (positions 0, 1, 2… as ``seq``
    grows), each linking to the one before, hashing right, numbered right, with valid
    changes. A clean chain walked in ``seq`` order is walked exactly as :func:`verify_rows`
    walks it, and none of its rows has a problem, so only its end (length, head, checkpoint)
    remains to check. Every other chain is *suspect* and is checked again, row by row, by
    :class:`_ChainCheck`: its problems are word for word those :func:`verify_rows` reports.
    """

    def __init__(self, checkpoint: Mapping[str, tuple[int, str]] | None) -> None:
        self.chains: dict[Any, list[Any]] = {}
        """Per instance: [next position, last hash, version, last accepted seq, data, changes texts]."""
        self.suspects: set[Any] = set()
        self.rows = 0
        # The checkpoint's sealed row of each chain: (its position, its hash).
        self.sealed = {key: (count - 1, last) for key, (count, last) in (checkpoint or {}).items()}

    def walk(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Follow every row (see :meth:`SQLiteStore.scan_chains` for the columns).

        The loop is the hot path of verification, so it is kept flat.
        """
        chains, suspects, sealed, flush = self.chains, self.suspects, self.sealed, self._flush
        digest = hashlib.sha256
        count = 0
        for instance_id, position, prev_hash, hash_, hashed, seq, accepted, version, plain, changes in rows:
            count += 1
            chain = chains.get(instance_id)
            if chain is None:
                chain = chains[instance_id] = [0, GENESIS, 0, 0, {}, []]
            if (
                position != chain[0]
                or prev_hash != chain[1]
                or plain != 1
                or digest(hashed.encode()).hexdigest() != hash_
            ):
                suspects.add(instance_id)
            if accepted:
                chain[2] += 1
                if version != chain[2]:
                    suspects.add(instance_id)
                chain[3] = seq
                texts = chain[5]
                texts.append(changes)
                if len(texts) == _FLUSH:
                    flush(instance_id, chain)
            elif version is not None:
                suspects.add(instance_id)
            if sealed:
                mark = sealed.get(instance_id)
                if mark is not None and mark[0] == position and mark[1] != hash_:
                    suspects.add(instance_id)
            chain[0] = position + 1 if type(position) is int else -1
            chain[1] = hash_
        self.rows = count

    def _flush(self, instance_id: Any, chain: list[Any]) -> None:
        """Decode a chain's gathered changes at once and write them into its data, in order.

        Each text is valid JSON on its own (SQLite said so), so the array of them decodes
        to exactly the values decoding each would give.
        """
        texts, data = chain[5], chain[4]
        try:
            joined = "[" + ",".join(texts) + "]"
            try:
                changes, end = _scan_json(joined, 0)  # json.loads without its wrapping
            except StopIteration:
                end = -1
            if end != len(joined):
                changes = json.loads(joined)
            if len(changes) != len(texts):
                raise ValueError("changes do not split as written")  # noqa: TRY301 - one way out
            for change in changes:
                data.update(change)
        except (TypeError, ValueError):
            self.suspects.add(instance_id)
        texts.clear()

    def ending(
        self, instance_id: str, last: tuple[Any, ...] | None, problems: list[VerifyProblem]
    ) -> _ChainCheck | None:
        """A clean chain's walk as :class:`_ChainCheck` would have left it, or None if it is not clean.

        ``last`` is the chain's last accepted row's (target, flow, flow version, flow hash).
        """
        chain = self.chains[instance_id]
        if chain[5]:
            self._flush(instance_id, chain)
        if instance_id in self.suspects:
            return None
        check = _ChainCheck(instance_id, problems)
        check.expected_position = chain[0]
        check.version = chain[2]
        check.data = chain[4]
        if last is not None:
            check.state, check.flow, check.flow_version, check.flow_hash = last
        return check


def _verify_scan(
    store: Any, heads: dict[str, Head], checkpoint: Mapping[str, tuple[int, str]] | None
) -> VerifyReport | None:
    """:func:`verify_rows` over a store's rows read in ``seq`` order (see :class:`_Walk`).

    Returns None when the store holds something the fast walk cannot order like the plain
    walk (an instance id that is not text); the caller then walks the plain way.
    """
    walk = _Walk(checkpoint)
    walk.walk(store.scan_chains())
    seen = list(walk.chains)
    if any(type(instance_id) is not str for instance_id in seen):
        return None
    clean = {walk.chains[i][3]: i for i in seen if i not in walk.suspects and walk.chains[i][3]}
    lasts = {clean[seq]: move for seq, *move in store.scan_moves(clean)}
    problems: list[VerifyProblem] = []
    for instance_id in sorted(seen):
        check = walk.ending(instance_id, lasts.get(instance_id), problems)
        sealed = (checkpoint or {}).get(instance_id)
        if check is None:
            check = _ChainCheck(instance_id, problems)
            check.expected = sealed
            for row in store.events(instance_id):
                check.add(row)
        check.expected = sealed
        check.finish(heads.get(instance_id))
    _missing(problems, set(seen), heads, checkpoint)
    return VerifyReport(ok=not problems, checked=walk.rows, instances=len(seen), problems=tuple(problems))
