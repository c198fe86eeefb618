"""The per-instance hash chain of audit rows, shared by every store and by verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of an instance's first audit row."""

CHAINED_COLUMNS: tuple[str, ...] = (
    "seq",
    "instance_id",
    "position",
    "version",
    "event",
    "source",
    "target",
    "accepted",
    "refusal",
    "reasons",
    "actor_id",
    "actor_roles",
    "on_behalf_of",
    "channel",
    "at",
    "payload",
    "changes",
    "guards",
    "idempotency_key",
    "flow",
    "flow_version",
    "flow_hash",
    "prev_hash",
)
"""Every column of an audit row that its hash covers, in order (all but ``hash`` itself).

``seq`` is covered too, so moving a row in the global order (which subscribers read) shows.
"""


def row_hash(values: Sequence[Any]) -> str:
    """sha256 over the chained column values of one row (in :data:`CHAINED_COLUMNS` order).

    The values are encoded as a JSON array, so NULL, text and numbers stay distinct and no
    value can move a column boundary.
    """
    encoded = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def hash_of(row: Mapping[str, Any]) -> str:
    """The hash a row with these column values must carry."""
    return row_hash([row[c] for c in CHAINED_COLUMNS])
