"""Keyed checkpoints of every hash chain, to show tampering a chain alone cannot show.

A chain proves its rows are consistent with each other, not that none were cut off its end, that
no instance was deleted whole, or that nobody rewrote a chain from scratch with fresh hashes.
A checkpoint records, for every instance, how many rows its chain had and the hash of the last
one, and seals that with an HMAC whose secret the operator keeps outside the database. Verified
later against a checkpoint, the store must still hold every recorded chain up to its recorded
row, with the same hash there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

import attrs

from aftersales_flow.errors import InvalidCommand


def _seal(taken_at: str, chains: Mapping[str, tuple[int, str]], secret: bytes) -> str:
    body = json.dumps([taken_at, sorted([k, v[0], v[1]] for k, v in chains.items())], separators=(",", ":"))
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()


def _secret(secret: bytes | str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < 16:
        raise InvalidCommand("a checkpoint secret must be at least 16 bytes; keep it outside the database")
    return key


@attrs.frozen(kw_only=True)
class Checkpoint:
    """Every chain's length and last hash at ``taken_at``, sealed with an HMAC (``mac``)."""

    taken_at: str
    chains: Mapping[str, tuple[int, str]]
    mac: str

    @classmethod
    def take(cls, taken_at: str, heads: Iterable[tuple[str, int, str]], secret: bytes | str) -> Checkpoint:
        """Seal ``(instance_id, row count, last hash)`` for every chain."""
        chains = {instance: (count, last) for instance, count, last in heads}
        return cls(taken_at=taken_at, chains=chains, mac=_seal(taken_at, chains, _secret(secret)))

    def sealed_by(self, secret: bytes | str) -> bool:
        """True when the checkpoint was made with ``secret`` and not altered since."""
        return hmac.compare_digest(self.mac, _seal(self.taken_at, self.chains, _secret(secret)))

    def to_json(self) -> str:
        """The checkpoint as JSON text, to keep next to (not inside) the database."""
        chains = {k: list(v) for k, v in sorted(self.chains.items())}
        return json.dumps({"taken_at": self.taken_at, "chains": chains, "mac": self.mac}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """A checkpoint read back from :meth:`to_json` text."""
        data = json.loads(text)
        chains = {k: (int(v[0]), str(v[1])) for k, v in data["chains"].items()}
        return cls(taken_at=data["taken_at"], chains=chains, mac=data["mac"])
