"""The values the engine hands out: actors, steps, instances, options, audit events, reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs


def _frozen_roles(roles: Iterable[str]) -> frozenset[str]:
    if isinstance(roles, str):
        return frozenset({roles})
    return frozenset(roles)


@attrs.frozen(kw_only=True)
class Reason:
    """Why a command was refused, in plain words.

    ``code`` is stable and machine-readable (``missing_field``, ``role_denied``,
    ``guard:work_order_signed``…), ``message`` is for a service advisor, ``rule`` names the
    rule (or check) that produced it.
    """

    code: str
    message: str
    rule: str = ""
    field: str | None = None
    """The payload or data field the reason is about, when there is one."""

    def to_dict(self) -> dict[str, str | None]:
        """The reason as a JSON-ready mapping."""
        return {"code": self.code, "message": self.message, "rule": self.rule, "field": self.field}


@attrs.frozen
class Actor:
    """Who fires an event: an id and the roles the integrator vouches for.

    The engine never widens roles; it only checks them against the flow.
    """

    id: str
    roles: frozenset[str] = attrs.field(converter=_frozen_roles, factory=frozenset)
    on_behalf_of: str | None = attrs.field(default=None, kw_only=True)
    channel: str | None = attrs.field(default=None, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The actor as a JSON-ready mapping."""
        return {
            "id": self.id,
            "roles": sorted(self.roles),
            "on_behalf_of": self.on_behalf_of,
            "channel": self.channel,
        }


SYSTEM = Actor("system", roles={"system"})
"""The actor that deadlines and scans fire as."""


@attrs.frozen(kw_only=True)
class Step:
    """One command's outcome: accepted (``accepted=True``) or refused (carried by the error)."""

    instance_id: str
    flow: str
    flow_version: int
    event: str
    source: str | None
    target: str | None
    version: int
    actor: Actor
    at: datetime
    accepted: bool = True
    reasons: tuple[Reason, ...] = ()
    seq: int | None = None


@attrs.frozen(kw_only=True)
class Instance:
    """The head of an instance: where it is and what it knows."""

    id: str
    flow: str
    flow_version: int
    state: str
    version: int
    data: Mapping[str, Any] = attrs.field(factory=dict, eq=True)


@attrs.frozen(kw_only=True)
class Option:
    """An event the instance could take from its current state, and whether this actor may."""

    event: str
    target: str
    allowed: bool
    reasons: tuple[Reason, ...] = ()


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One row of the audit trail: an accepted event or a refused attempt."""

    seq: int
    instance_id: str
    position: int
    version: int | None
    event: str
    source: str | None
    target: str | None
    accepted: bool
    reasons: tuple[Reason, ...]
    actor: Actor
    at: datetime
    payload: Mapping[str, Any]
    changes: Mapping[str, Any]
    guards: Mapping[str, bool]
    idempotency_key: str | None
    flow: str
    flow_version: int
    flow_hash: str
    prev_hash: str
    hash: str


@attrs.frozen(kw_only=True)
class VerifyProblem:
    """One thing :meth:`Engine.verify` found wrong, naming the instance and event."""

    instance_id: str
    kind: str
    message: str
    seq: int | None = None
    position: int | None = None
    event: str | None = None

    def __str__(self) -> str:
        where = f"instance {self.instance_id!r}"
        if self.seq is not None:
            where += f", event #{self.seq}"
        if self.event:
            where += f" ({self.event})"
        return f"{where}: {self.message}"


@attrs.frozen(kw_only=True)
class VerifyReport:
    """The result of :meth:`Engine.verify`: ``ok`` when no problem was found."""

    ok: bool
    checked: int
    instances: int
    problems: tuple[VerifyProblem, ...] = ()

    def __bool__(self) -> bool:
        return self.ok
