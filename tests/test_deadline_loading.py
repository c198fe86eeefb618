"""Deadlines in flow files: what they may say, and the errors when they say it wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

import aftersales_flow as af

TIMED = Path(__file__).parent / "fixtures" / "flows" / "deadlines" / "timed.yaml"


def load_changed(tmp_path: Path, old: str, new: str) -> af.Flow:
    text = TIMED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "timed.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return af.load_flow(path)


def error(tmp_path: Path, old: str, new: str) -> str:
    with pytest.raises(af.FlowDefinitionError) as caught:
        load_changed(tmp_path, old, new)
    return str(caught.value).replace(str(tmp_path / "timed.yaml"), "timed.yaml")


def test_deadlines_load_with_their_settings() -> None:
    """A state's deadlines load with names, durations or parameters, fields, events and payloads."""
    flow = af.load_flow(TIMED)
    booked = flow.states["booked"].deadlines
    assert [(d.name, d.event, d.field) for d in booked] == [
        ("confirmation", "sla_breached", None),
        ("reminder", "remind", "slot_at"),
    ]
    assert booked[1].payload == {"reminded": True}


def test_a_misspelt_fired_event_is_named(tmp_path: Path) -> None:
    """A deadline firing an event that does not leave its state is refused, listing the events there."""
    message = error(tmp_path, "fire: remind,", "fire: remnd,")
    assert message == (
        "timed.yaml:21:9: state 'booked' deadline 'reminder' fires 'remnd', which is not an event from "
        "'booked'; did you mean 'remind'?; events from it: annotate, arrive, confirm, remind"
    )


def test_the_fired_event_must_allow_the_system(tmp_path: Path) -> None:
    """A deadline may only fire an event the system role may fire."""
    message = error(
        tmp_path,
        "roles: [service_advisor, system], accepts: [reminded]",
        "roles: [service_advisor], accepts: [reminded]",
    )
    assert "fires 'remind', which the 'system' role may not fire; add system to its roles" in message


def test_the_field_must_be_a_declared_datetime(tmp_path: Path) -> None:
    """Counting from an undeclared or non-datetime field is refused."""
    assert "counts from field 'slot', which the flow does not declare" in error(
        tmp_path, "field: slot_at, before", "field: slot, before"
    )
    assert "counts from 'note', a string field; it must be a datetime" in error(
        tmp_path, "field: slot_at, before", "field: note, before"
    )


def test_durations_and_windows_are_checked_where_they_are_written(tmp_path: Path) -> None:
    """A duration that is not one, or a window that is not one, is refused at its parameter's line."""
    message = error(tmp_path, "confirm_within: 1h", "confirm_within: one hour")
    assert message.startswith(
        "timed.yaml:7:19: state 'booked' deadline 'confirmation' 'after' is not usable: not a duration"
    )
    assert "is not usable: not a time window: '9-11'" in error(tmp_path, '"09:00-11:00"', '"9-11"')


def test_before_needs_a_field_and_names_are_unique(tmp_path: Path) -> None:
    """'before' without a field, a deadline without a time, and two deadlines of one name are refused."""
    assert "'before' counts back from a 'field'; name the field" in error(
        tmp_path, "after: {param: confirm_within}", "before: {param: confirm_within}"
    )
    assert "needs 'after' (a duration), or a 'field' to count from" in error(
        tmp_path, "after: {param: confirm_within}, label", "label"
    )
    assert "the state has two deadlines named 'confirmation'; rename one" in error(
        tmp_path, "{name: reminder, field", "{name: confirmation, field"
    )


def test_payload_keys_must_be_taken_by_the_event(tmp_path: Path) -> None:
    """A deadline's payload may only hold fields its event takes."""
    assert "payload key 'note' is not taken by 'remind'; it takes: reminded" in error(
        tmp_path, "payload: {reminded: true}", "payload: {reminded: true, note: x}"
    )


def test_terminal_states_have_no_deadlines(tmp_path: Path) -> None:
    """A deadline on a terminal state is refused."""
    message = error(
        tmp_path,
        "done: {terminal: true, label: {en: Done, zh: 完成}}",
        "done: {terminal: true, label: {en: Done, zh: 完成}, deadlines: [{name: x, after: 1h}]}",
    )
    assert "state 'done' deadline 'x': a terminal state cannot have deadlines" in message


def test_malformed_event_and_unit_values_are_definition_errors(tmp_path: Path) -> None:
    """An event name or a deadline unit given as a list is a located definition error, not a crash."""
    assert "timed.yaml:" in error(tmp_path, "- {event: arrive, from", "- {event: [arrive], from")
    assert "'unit' must be one of days, hours, minutes" in error(
        tmp_path,
        "{name: missed, field: slot_at, after: 30m,",
        "{name: missed, field: slot_at, after: 30m, unit: [days],",
    )
