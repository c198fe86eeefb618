"""Linked instances: a transition that starts an instance of another flow, or fires on one.

```yaml
  - event: internal_confirmation_done
    ...
    starts:
      - flow: repair_order
        event: draft_from_appointment
        id: "{id}-RO"                      # {id}: this instance, {version}: the version this event makes
        payload: {appointment_id: $id, customer: $data.customer}
        when: <guard>                      # only when it holds on the data after the event
    fires:
      - {flow: repair_order, event: customer_arrived, id: "{id}-RO"}
```

Payload values starting with ``$`` are taken from the parent: ``$id``, ``$now``, ``$event``,
``$data.<path>`` (the parent's data after the event) and ``$payload.<path>``. The child runs
in the parent's transaction: if it is refused, the parent is refused too, with its reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from aftersales_flow._frozen import freeze, thaw
from aftersales_flow.rules._expr import Guard
from aftersales_flow.rules._registry import MISSING, get_path

LINK_CHANNEL = "link:"
"""The channel prefix of the ``system`` actor a link acts as: ``link:<parent instance id>``.

The engine writes it on every row a link writes; verification finds those rows by it.
"""


def link_channel(parent_id: str) -> str:
    """The channel of the actor a link from ``parent_id`` acts as."""
    return LINK_CHANNEL + parent_id


_ID = re.compile(r"\{(id|version|flow)\}")
LINK_KEYS = {
    "flow": "the linked flow's name",
    "event": "for starts: a start event of that flow; for fires: an event of the linked instance",
    "id": "the linked instance's id: a template with {id} (this instance) and {version} (this event's)",
    "payload": "the event's payload; values like $id, $now, $data.customer, $payload.reason",
    "when": "a guard on this instance's data after the event: link only when it holds",
}


@attrs.frozen(kw_only=True)
class Link:
    """One linked command a transition runs: ``start`` a child instance, or ``fire`` on one."""

    kind: str
    flow: str
    event: str
    id: str = "{id}/{flow}"
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)
    when: Guard | None = None
    where: str = ""

    def child_id(self, parent: str, version: int) -> str:
        """The linked instance's id for parent ``parent`` and the version its event makes."""
        values = {"id": parent, "version": str(version), "flow": self.flow}
        return _ID.sub(lambda m: values[m.group(1)], self.id)

    def child_payload(
        self, *, parent: str, event: str, now: str, data: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The payload with every ``$`` reference filled in from the parent (absent ones left out)."""
        result: dict[str, Any] = {}
        for key, value in thaw(self.payload).items():
            filled = fill(value, parent=parent, event=event, now=now, data=data, payload=payload)
            if filled is not MISSING:
                result[key] = filled
        return result


def fill(
    value: Any, *, parent: str, event: str, now: str, data: Mapping[str, Any], payload: Mapping[str, Any]
) -> Any:
    """One payload value with its ``$`` reference resolved (MISSING when the data lacks it)."""
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    if value == "$id":
        return parent
    if value == "$now":
        return now
    if value == "$event":
        return event
    source, _, path = value[1:].partition(".")
    if source == "data" and path:
        return get_path(data, path)
    if source == "payload" and path:
        return get_path(payload, path)
    return value


def reference_problem(value: Any) -> str | None:
    """Why a ``$`` value is not a reference the engine can fill, or None."""
    if not isinstance(value, str) or not value.startswith("$"):
        return None
    if value in ("$id", "$now", "$event"):
        return None
    source, _, path = value[1:].partition(".")
    if source in ("data", "payload") and path:
        return None
    return f"{value!r} is not a reference; use $id, $now, $event, $data.<field> or $payload.<field>"
