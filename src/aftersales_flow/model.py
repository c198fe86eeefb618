"""The frozen model of a loaded flow: fields, transitions, the flow and a set of flows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from aftersales_flow._frozen import freeze, thaw
from aftersales_flow.errors import UnknownFlowError
from aftersales_flow.links import Link
from aftersales_flow.rules._expr import Guard
from aftersales_flow.states.state import Label, State

__all__ = ["FIELD_TYPES", "FieldSpec", "Flow", "FlowSet", "Transition", "freeze", "thaw"]

FIELD_TYPES = ("string", "integer", "number", "boolean", "datetime", "date", "list", "object", "any")
"""The types a data field may declare."""


def _fields(value: Mapping[str, FieldSpec]) -> Mapping[str, FieldSpec]:
    return MappingProxyType(dict(value))


def _states(value: Mapping[str, State]) -> Mapping[str, State]:
    return MappingProxyType(dict(value))


def _flows(value: Mapping[str, Flow]) -> Mapping[str, Flow]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class FieldSpec:
    """A data field the flow's events may write.

    A ``list`` field with a ``key`` is merged item by item: a payload item whose key matches
    an existing item updates it; a new key appends.
    """

    name: str
    type: str = "any"
    key: str | None = None
    values: tuple[Any, ...] | None = None
    description: str = ""


@attrs.frozen(kw_only=True)
class Transition:
    """A way out of a state (``source``), or into the flow (``source is None`` for a start)."""

    event: str
    source: str | None
    target: str
    roles: frozenset[str]
    requires: tuple[str, ...] = ()
    accepts: tuple[str, ...] = ()
    guard: Guard | None = None
    unless: Guard | None = None
    label: Label | None = None
    set: Mapping[str, Any] = attrs.field(factory=lambda: MappingProxyType({}), converter=freeze)
    increment: tuple[str, ...] = ()
    stamp: tuple[str, ...] = ()
    starts: tuple[Link, ...] = ()
    """Instances of other flows this event starts, in its transaction."""
    fires: tuple[Link, ...] = ()
    """Events this event fires on linked instances, in its transaction."""
    description: str = ""
    where: str = ""
    """``file:line:col`` of the transition's definition."""

    @property
    def is_start(self) -> bool:
        """True for an event that creates an instance."""
        return self.source is None

    @property
    def fields(self) -> frozenset[str]:
        """Every payload field the event may carry."""
        return frozenset(self.requires) | frozenset(self.accepts)


@attrs.frozen(kw_only=True)
class Flow:
    """A validated flow definition: a frozen value the runtime never mutates."""

    name: str
    version: int
    label: Label
    brand: str | None = None
    description: str = ""
    roles: frozenset[str]
    params: Mapping[str, Any] = attrs.field(converter=freeze)
    fields: Mapping[str, FieldSpec] = attrs.field(converter=_fields)
    states: Mapping[str, State] = attrs.field(converter=_states)
    starts: tuple[Transition, ...]
    transitions: tuple[Transition, ...]
    invariants: tuple[Guard, ...] = ()
    source: str = ""
    """The files the flow was loaded from (base, then overlay)."""
    content_hash: str = ""
    """sha256 of the canonical definition; every event records it."""
    definition: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze, eq=False, repr=False)
    """The merged definition as plain data, stored by the audit store under the hash."""

    _by_source: Mapping[tuple[str | None, str], tuple[Transition, ...]] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        index: dict[tuple[str | None, str], list[Transition]] = {}
        for transition in (*self.starts, *self.transitions):
            index.setdefault((transition.source, transition.event), []).append(transition)
        object.__setattr__(self, "_by_source", MappingProxyType({k: tuple(v) for k, v in index.items()}))

    def branches(self, source: str | None, event: str) -> tuple[Transition, ...]:
        """The transitions ``event`` may take from ``source`` (``None``: start events), in order."""
        return self._by_source.get((source, event), ())

    def events_from(self, source: str | None) -> list[str]:
        """The events declared from ``source``, in definition order, each once."""
        seen: dict[str, None] = {}
        for transition in self.starts if source is None else self.transitions:
            if transition.source == source:
                seen.setdefault(transition.event, None)
        return list(seen)

    @property
    def events(self) -> list[str]:
        """Every event name of the flow, each once."""
        seen: dict[str, None] = {}
        for transition in (*self.starts, *self.transitions):
            seen.setdefault(transition.event, None)
        return list(seen)

    @property
    def terminal_states(self) -> frozenset[str]:
        """The states that accept no event."""
        return frozenset(name for name, state in self.states.items() if state.terminal)


@attrs.frozen
class FlowSet:
    """The flows an engine runs, by name (one brand's view of the shipped flows)."""

    flows: Mapping[str, Flow] = attrs.field(converter=_flows)
    brand: str | None = attrs.field(default=None, kw_only=True)

    def __getitem__(self, name: str) -> Flow:
        try:
            return self.flows[name]
        except KeyError:
            known = ", ".join(sorted(self.flows)) or "none"
            raise UnknownFlowError(f"unknown flow {name!r}; loaded flows: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.flows

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows.values())

    def __len__(self) -> int:
        return len(self.flows)

    @property
    def names(self) -> list[str]:
        """The flow names, sorted."""
        return sorted(self.flows)
