"""The flow every machine in the benchmark runs, written once for each library.

A cycle of 17 working states and one terminal state (18 states). The event ``advance``
moves ``s01 → s02 → … → s17 → s01``; each of its 17 branches is guarded by the same two
rules: ``checked`` is true and ``note`` is recorded (read from the event's payload, else
from the instance's data). ``close`` leaves ``s17`` for the terminal ``closed``. The cycle
lets an instance take any number of events, so a store can hold a million real, chained
events without a million instances.

- the engine: a YAML flow file, loaded through ``af.load_flow`` like any shipped flow;
- transitions: one static ``Machine(model=None, auto_transitions=False)`` shared by every
  model, triggered through ``machine.events[name].trigger(model, ...)`` (its FAQ's pattern);
- python-statemachine: a ``StateMachine`` class with the same states, events and guards.

The peers only decide and move the state in memory: no payload check, no data, no audit.
"""

from __future__ import annotations

import functools
import operator
from pathlib import Path
from typing import Any

WORKING_STATES = tuple(f"s{i:02d}" for i in range(1, 18))
STATES = (*WORKING_STATES, "closed")
FLOW_NAME = "bench_cycle"
ROLE = "service_advisor"
PASSING = {"checked": True, "note": "ok"}
"""The payload ``advance`` carries in every timed fire: both guards pass."""


def flow_yaml() -> str:
    """The benchmark flow as YAML, in the shape of the shipped flows."""
    lines = [
        f"flow: {FLOW_NAME}",
        "version: 1",
        "label: {en: Benchmark cycle, zh: 基准循环}",
        f"roles: [{ROLE}]",
        "fields:",
        "  checked: boolean",
        "  note: string",
        "start:",
        f"  - {{event: open, to: s01, roles: [{ROLE}], accepts: [checked, note]}}",
        "states:",
    ]
    lines += [f"  {s}: {{label: {{en: Step {s}, zh: 步骤 {s}}}}}" for s in WORKING_STATES]
    lines.append("  closed: {terminal: true, label: {en: Closed, zh: 已关闭}}")
    lines.append("transitions:")
    guard = "{all: [{rule: field_true, field: checked}, {rule: field_present, field: note}]}"
    for index, source in enumerate(WORKING_STATES):
        target = WORKING_STATES[(index + 1) % len(WORKING_STATES)]
        lines.append(
            f"  - {{event: advance, from: {source}, to: {target}, roles: [{ROLE}], "
            f"accepts: [checked, note], guard: {guard}}}"
        )
    lines.append(f"  - {{event: close, from: {WORKING_STATES[-1]}, to: closed, roles: [{ROLE}]}}")
    return "\n".join(lines) + "\n"


def write_flow(directory: Path) -> Path:
    """Write the flow file into ``directory`` and return its path."""
    path = directory / f"{FLOW_NAME}.yaml"
    path.write_text(flow_yaml(), encoding="utf-8")
    return path


def _value(payload: dict[str, Any] | None, data: dict[str, Any], field: str) -> Any:
    """A field as the engine's rules see it: the payload's value, else the stored data's."""
    if payload and field in payload:
        return payload[field]
    return data.get(field)


def _checked(payload: dict[str, Any] | None, data: dict[str, Any]) -> bool:
    return _value(payload, data, "checked") is True


def _has_note(payload: dict[str, Any] | None, data: dict[str, Any]) -> bool:
    return _value(payload, data, "note") not in (None, "", [], {})


# --- transitions --------------------------------------------------------------------------


class TransitionsModel:
    """What a static transitions machine acts on: the state, and the data guards read."""

    __slots__ = ("data", "state")

    def __init__(self, state: str, data: dict[str, Any]) -> None:
        self.state = state
        self.data = data


def transitions_machine() -> Any:
    """One static ``Machine`` for the flow, shared by every model (``model=None``)."""
    from transitions import Machine

    def checked(event_data: Any) -> bool:
        return _checked(event_data.kwargs.get("payload"), event_data.model.data)

    def has_note(event_data: Any) -> bool:
        return _has_note(event_data.kwargs.get("payload"), event_data.model.data)

    machine = Machine(
        model=None,
        states=list(STATES),
        initial=None,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for index, source in enumerate(WORKING_STATES):
        target = WORKING_STATES[(index + 1) % len(WORKING_STATES)]
        machine.add_transition("advance", source, target, conditions=[checked, has_note])
    machine.add_transition("close", WORKING_STATES[-1], "closed")
    return machine


# --- python-statemachine -----------------------------------------------------------------


def statemachine_class() -> type[Any]:
    """A python-statemachine ``StateMachine`` class for the flow (guards as ``cond``)."""
    from statemachine import State, StateMachine

    states = {name: State(name, initial=name == "s01") for name in WORKING_STATES}
    states["closed"] = State("closed", final=True)
    advance = functools.reduce(
        operator.or_,
        (
            states[source].to(
                states[WORKING_STATES[(i + 1) % len(WORKING_STATES)]], cond=["checked", "has_note"]
            )
            for i, source in enumerate(WORKING_STATES)
        ),
    )

    def __init__(self: Any, data: dict[str, Any] | None = None) -> None:  # noqa: N807
        self.data = data or {}
        StateMachine.__init__(self)

    def checked(self: Any, payload: dict[str, Any] | None = None) -> bool:
        return _checked(payload, self.data)

    def has_note(self: Any, payload: dict[str, Any] | None = None) -> bool:
        return _has_note(payload, self.data)

    namespace: dict[str, Any] = {
        **states,
        "advance": advance,
        "close": states[WORKING_STATES[-1]].to(states["closed"]),
        "__init__": __init__,
        "checked": checked,
        "has_note": has_note,
    }
    return type("BenchCycle", (StateMachine,), namespace)
