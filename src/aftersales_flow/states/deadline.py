"""Deadlines hang on states: when they fall due, an event fires or an SLA breach is recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from aftersales_flow._frozen import thaw
from aftersales_flow._time import parse_duration, parse_timestamp
from aftersales_flow.rules._expr import Guard
from aftersales_flow.rules._local import parse_window, to_local, window_at
from aftersales_flow.states.state import Label

SLA_BREACHED = "sla_breached"
"""The event a deadline without ``fire`` records: the state is unchanged."""


@attrs.frozen
class ParamValue:
    """A deadline setting taken from the flow's parameters (``{param: name}``)."""

    name: str


Setting = str | float | ParamValue | None


def resolve(value: Any, params: Mapping[str, Any]) -> Any:
    """The setting itself, or the parameter it names."""
    return thaw(params[value.name]) if isinstance(value, ParamValue) else value


@attrs.frozen(kw_only=True)
class DeadlineSpec:
    """A deadline declared on a state.

    It falls due ``after`` a duration from the moment the state was entered, or ``after`` /
    ``before`` the timestamp in data ``field`` (``slot_at`` ``before: 1d``). When due, the
    engine fires ``fire`` as the ``system`` actor with ``payload``, or records
    ``sla_breached``. ``avoid`` lists local time windows (``'09:00-11:00'``) the due time is
    moved out of, in the flow's ``timezone`` parameter.
    """

    name: str
    state: str
    after: Setting = None
    before: Setting = None
    field: str | None = None
    fire: str | None = None
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    avoid: Setting | tuple[str, ...] = ()
    unit: str | None = None
    """``days``, ``hours`` or ``minutes`` when ``after`` / ``before`` are plain numbers."""
    when: Guard | None = None
    """A guard checked when the deadline would be set; when it fails, the deadline is not set."""
    label: Label | None = None
    where: str = ""

    @property
    def event(self) -> str:
        """The event the deadline fires (``sla_breached`` when it only records a breach)."""
        return self.fire or SLA_BREACHED

    def due_at(
        self, *, entered_at: datetime, data: Mapping[str, Any], params: Mapping[str, Any]
    ) -> datetime | None:
        """When the deadline falls due, or None when its data field is not recorded."""
        base = entered_at
        if self.field is not None:
            raw = data.get(self.field)
            if raw is None or raw == "":
                return None
            try:
                base = parse_timestamp(raw)
            except ValueError:
                return None
        try:
            after = _duration(resolve(self.after, params), self.unit)
            due = base + after - _duration(resolve(self.before, params), self.unit)
        except OverflowError:
            return None  # beyond the calendar: such times are refused as payloads; no deadline
        windows = resolve(self.avoid, params)
        if windows:
            due = shift_out_of(due, list(windows), params.get("timezone"))
        return due


UNITS = {"days": 86400, "hours": 3600, "minutes": 60}
"""The units a deadline's plain-number durations may be given in."""


def _duration(value: Any, unit: str | None = None) -> timedelta:
    if value is None:
        return timedelta(0)
    if unit is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value * UNITS[unit])
    return parse_duration(value)


def shift_out_of(moment: datetime, windows: Sequence[str], timezone: str | None) -> datetime:
    """``moment`` moved to the end of any local window it falls in (repeatedly, for adjoining ones)."""
    local = to_local(moment, timezone)
    for _ in range(len(windows) + 1):
        hit = window_at(local, windows)
        if hit is None:
            break
        _, end = parse_window(hit)
        local = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return local.astimezone(moment.tzinfo)


@attrs.frozen(kw_only=True)
class Deadline:
    """A pending deadline of one instance, as stored."""

    instance_id: str
    flow: str
    name: str
    state: str
    due_at: datetime
    event: str
    set_seq: int
    """The audit sequence number of the event that set the deadline."""
    status: str = "pending"
    """``pending`` until it fires, then ``done`` (kept while the instance stays in the state)."""
