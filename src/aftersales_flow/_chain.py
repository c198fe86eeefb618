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


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""The hash's encoding: exactly ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``.

One encoder made once; ``json.dumps`` with these options builds a new one on every call.
"""
_sha256 = hashlib.sha256


def encode_values(values: Sequence[Any]) -> str:
    """The text a row's hash covers: its chained column values as a compact JSON array."""
    return _ENCODER.encode(values if isinstance(values, list) else list(values))


def row_hash(values: Sequence[Any]) -> str:
    """sha256 over the chained column values of one row (in :data:`CHAINED_COLUMNS` order).

    The values are encoded as a JSON array, so NULL, text and numbers stay distinct and no
    value can move a column boundary.
    """
    return _sha256(encode_values(values).encode()).hexdigest()


def hash_of(row: Mapping[str, Any]) -> str:
    """The hash a row with these column values must carry."""
    return row_hash([row[c] for c in CHAINED_COLUMNS])
