"""The per-instance hash chain of audit rows, shared by every store and by verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
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


def _c_settings(encoder: json.JSONEncoder) -> tuple[Any, ...] | None:
    """What ``encoder.encode`` hands CPython's C encoder after the cycle check (None: no C encoder)."""
    indent: object = encoder.indent  # None unless given (the stubs say int | str)
    if getattr(json.encoder, "c_make_encoder", None) is None or indent is not None:
        return None  # pragma: no cover - CPython has the C encoder; no indent here
    quote = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    return (
        encoder.default,
        quote,
        encoder.indent,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )


def checked_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` for a mapping or a list, word for word, errors included, minus its wrapping.

    Each call gets a C encoder of its own with a fresh cycle check, as ``encode`` does; only the
    Python around it is skipped.
    """
    settings = _c_settings(encoder)
    if settings is None or not encoder.check_circular:  # pragma: no cover
        return encoder.encode
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encoder.encode(value)
        return "".join(make({}, *settings)(value, 0))

    return encode


def acyclic_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` for values that hold no reference cycle, without its per-call set-up.

    ``JSONEncoder.encode`` builds its C encoder afresh on every call (with a dict to detect
    cycles); for values that cannot hold a cycle (flat rows, data decoded from JSON) one C
    encoder made once writes exactly the same text.
    """
    settings = _c_settings(encoder)
    if settings is None:  # pragma: no cover
        return encoder.encode
    iterencode = json.encoder.c_make_encoder(None, *settings)  # type: ignore[attr-defined]

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


_encode = acyclic_encoder(json.JSONEncoder(ensure_ascii=False, separators=(",", ":")))
"""The hash's encoding: exactly ``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``.

Made once; ``json.dumps`` with these options builds a new encoder on every call.
"""
_sha256 = hashlib.sha256


def encode_values(values: Sequence[Any]) -> str:
    """The text a row's hash covers: its chained column values as a compact JSON array."""
    return _encode(values if isinstance(values, list) else list(values))


def row_hash(values: Sequence[Any]) -> str:
    """sha256 over the chained column values of one row (in :data:`CHAINED_COLUMNS` order).

    The values are encoded as a JSON array, so NULL, text and numbers stay distinct and no
    value can move a column boundary.
    """
    return _sha256(encode_values(values).encode()).hexdigest()


def hash_of(row: Mapping[str, Any]) -> str:
    """The hash a row with these column values must carry."""
    return row_hash([row[c] for c in CHAINED_COLUMNS])
