"""Verification of a store: hash chains, positions, versions, and heads against replay."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aftersales_flow._chain import CHAINED_COLUMNS, GENESIS, row_hash
from aftersales_flow.store import Head, Row, Store
from aftersales_flow.values import VerifyProblem, VerifyReport


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
                f"the chain has {self.expected_position} audit rows but the checkpoint sealed "
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
    for instance_id in sorted(set(checkpoint or {}) - seen):
        count, _ = (checkpoint or {})[instance_id]
        problems.append(
            VerifyProblem(
                instance_id=instance_id,
                kind="checkpoint",
                message=f"the checkpoint records {count} audit rows for this instance, but it has none now "
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
    return VerifyReport(ok=not problems, checked=checked, instances=instances, problems=tuple(problems))


def verify_store(store: Store, checkpoint: Mapping[str, tuple[int, str]] | None = None) -> VerifyReport:
    """Verify every chain and head of ``store`` (and against a checkpoint's chains, when given)."""
    heads = {head.id: head for head in store.iter_heads()}
    return verify_rows(store.iter_events(), heads, checkpoint)
