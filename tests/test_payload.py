"""Tests for payload checks and how a payload changes the data (``aftersales_flow._payload``)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aftersales_flow as af
from aftersales_flow._payload import (
    MAX_ITEMS,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    _json_problem,
    _plain,
    apply_effects,
    check_payload,
    merge_keyed,
    merge_payload,
)
from aftersales_flow.model import FieldSpec, Flow, Transition
from aftersales_flow.states.state import Label, State
from aftersales_flow.values import Reason

FIELDS = [
    FieldSpec(name="note", type="string"),
    FieldSpec(name="cancel_reason", type="string"),
    FieldSpec(name="ok", type="boolean"),
    FieldSpec(name="count", type="integer"),
    FieldSpec(name="amount", type="number"),
    FieldSpec(name="promised_completion_at", type="datetime"),
    FieldSpec(name="next_service_due", type="date"),
    FieldSpec(name="documents_received", type="list"),
    FieldSpec(name="settlement", type="object"),
    FieldSpec(name="extra", type="any"),
    FieldSpec(name="channel", type="string", values=("in_person", "phone", "app")),
    FieldSpec(name="defects", type="list", values=("scratch", "dent")),
    FieldSpec(name="lines", type="list", key="line_id"),
]
ALL = tuple(spec.name for spec in FIELDS)


def _label(text: str) -> Label:
    return Label(en=text, zh=text)


def _flow(*transitions: Transition) -> Flow:
    return Flow(
        name="mini",
        version=1,
        label=_label("Mini"),
        roles=frozenset({"service_advisor"}),
        params={},
        fields={spec.name: spec for spec in FIELDS},
        states={name: State(name=name, label=_label(name)) for name in ("a", "b", "c")},
        starts=(),
        transitions=transitions,
    )


def _go(target: str = "b", *, requires: tuple[str, ...] = (), accepts: tuple[str, ...] = ALL) -> Transition:
    return Transition(
        event="go",
        source="a",
        target=target,
        roles=frozenset({"service_advisor"}),
        requires=requires,
        accepts=tuple(a for a in accepts if a not in requires),
    )


FLOW = _flow(_go())


def _check(payload: dict[str, Any], *branches: Transition, size: int = 0) -> list[Reason]:
    flow = _flow(*branches) if branches else FLOW
    return check_payload(flow, "go", flow.branches("a", "go"), payload, size)


def _messages(payload: dict[str, Any], *branches: Transition) -> list[str]:
    return [r.message for r in _check(payload, *branches)]


# --- declared and required fields ----------------------------------------------------------


def test_valid_payload_has_no_problems() -> None:
    """A payload of declared fields with the right types passes."""
    payload = {
        "note": "customer waits on site",
        "ok": True,
        "count": 2,
        "amount": 812.5,
        "promised_completion_at": "2026-11-02T17:00:00+08:00",
        "next_service_due": "2027-05-02",
        "documents_received": ["registration_certificate"],
        "settlement": {"total": 812.5},
        "extra": [1, "two", {"three": None}],
        "channel": "phone",
        "defects": ["scratch"],
        "lines": [{"line_id": "L1", "status": "authorized"}],
    }
    assert _check(payload) == []


def test_empty_payload_passes_without_required_fields() -> None:
    """An event without required fields takes an empty payload."""
    assert _check({}) == []


def test_undeclared_field_is_refused_naming_what_the_event_takes() -> None:
    """A field the event does not take is refused, listing the fields it does take."""
    branch = _go(accepts=("note", "ok"))
    assert _check({"note": "x", "colour": "red"}, branch) == [
        Reason(
            code="undeclared_field",
            message="'go' does not take the field 'colour'; it takes: note, ok",
            rule="payload",
            field="colour",
        )
    ]


def test_undeclared_field_for_an_event_taking_nothing() -> None:
    """An event that takes no fields says so."""
    assert _messages({"note": "x"}, _go(accepts=())) == [
        "'go' does not take the field 'note'; it takes: no fields"
    ]


def test_undeclared_values_are_not_type_checked() -> None:
    """Only the undeclared-field problem is reported for an undeclared field."""
    assert [r.code for r in _check({"colour": object()}, _go(accepts=()))] == ["undeclared_field"]


def test_fields_accepted_by_any_branch_are_accepted() -> None:
    """A field is accepted when any branch of the event takes it."""
    branches = (_go("b", accepts=("note",)), _go("c", accepts=("count",)))
    assert _check({"note": "x", "count": 1}, *branches) == []


@pytest.mark.parametrize("payload", [{}, {"cancel_reason": None}, {"cancel_reason": ""}])
def test_missing_required_field(payload: dict[str, Any]) -> None:
    """A required field that is absent, null or empty text is missing."""
    assert _check(payload, _go(requires=("cancel_reason",))) == [
        Reason(
            code="missing_field",
            message="'go' must record 'cancel_reason'",
            rule="payload",
            field="cancel_reason",
        )
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("documents_received", []), ("settlement", {}), ("ok", False), ("count", 0), ("note", " ")],
)
def test_empty_list_false_and_zero_count_as_given(field: str, value: Any) -> None:
    """An empty list or mapping, False and zero are statements, so a required field is given."""
    assert _check({field: value}, _go(requires=(field,))) == []


def test_only_fields_every_branch_requires_are_required() -> None:
    """A field is required only when every branch of the event requires it."""
    branches = (_go("b", requires=("ok", "note")), _go("c", requires=("ok",)))
    assert _messages({}, *branches) == ["'go' must record 'ok'"]


def test_missing_fields_are_reported_in_name_order() -> None:
    """Several missing fields are each reported, sorted by name."""
    assert _messages({}, _go(requires=("ok", "note", "count"))) == [
        "'go' must record 'count'",
        "'go' must record 'note'",
        "'go' must record 'ok'",
    ]


def test_every_problem_is_reported_together() -> None:
    """Undeclared, missing and mistyped fields are all reported in one list."""
    reasons = _check({"colour": "red", "count": "two"}, _go(requires=("ok",), accepts=("count",)))
    assert [r.code for r in reasons] == ["undeclared_field", "missing_field", "wrong_type"]


# --- types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("note", 5, "'note' must be text (got 5)"),
        ("count", True, "'count' must be a whole number (got True)"),
        ("count", 1.5, "'count' must be a whole number (got 1.5)"),
        ("count", "3", "'count' must be a whole number (got '3')"),
        ("amount", False, "'amount' must be a number (got False)"),
        ("amount", "812.50", "'amount' must be a number (got '812.50')"),
        ("ok", 1, "'ok' must be true or false (got 1)"),
        ("ok", "true", "'ok' must be true or false (got 'true')"),
        (
            "promised_completion_at",
            "2026-11-02T17:00:00",
            "'promised_completion_at' must be a time with a time zone (ISO 8601) between the years 1900 and 2999 (got '2026-11-02T17:00:00')",
        ),
        (
            "promised_completion_at",
            "tomorrow 5pm",
            "'promised_completion_at' must be a time with a time zone (ISO 8601) between the years 1900 and 2999 (got 'tomorrow 5pm')",
        ),
        (
            "promised_completion_at",
            1_700_000_000,
            "'promised_completion_at' must be a time with a time zone (ISO 8601) between the years 1900 and 2999 (got 1700000000)",
        ),
        (
            "next_service_due",
            "02/05/2027",
            "'next_service_due' must be a date (YYYY-MM-DD) (got '02/05/2027')",
        ),
        (
            "next_service_due",
            "2027-05-02T00:00:00Z",
            "'next_service_due' must be a date (YYYY-MM-DD) (got '2027-05-02T00:00:00Z')",
        ),
        ("next_service_due", 20270502, "'next_service_due' must be a date (YYYY-MM-DD) (got 20270502)"),
        ("documents_received", "registration", "'documents_received' must be a list (got 'registration')"),
        ("settlement", [812.5], "'settlement' must be a mapping (got [812.5])"),
    ],
)
def test_wrong_type_is_refused_in_words(field: str, value: Any, message: str) -> None:
    """A value of the wrong type is refused, saying in words what the field takes and what it got."""
    assert _check({field: value}) == [Reason(code="wrong_type", message=message, rule="payload", field=field)]


@pytest.mark.parametrize("value", ["2026-11-02T17:00:00Z", "2026-11-02T17:00:00.123456+08:00"])
def test_datetime_with_a_zone_is_accepted(value: str) -> None:
    """ISO 8601 text with a zone (or Z) is a datetime."""
    assert _check({"promised_completion_at": value}) == []


@pytest.mark.parametrize("value", ["2027-02-30", "2027-13-01", "2027-05-02\n"])
def test_date_must_be_a_calendar_date(value: str) -> None:
    """Text shaped like a date that is no calendar date (or has a trailing newline) is refused.

    The check is the regex ``^\\d{4}-\\d{2}-\\d{2}$``: it accepts 2027-02-30 and, as ``$``
    matches before a final newline, ``'2027-05-02\\n'``.
    """
    assert [r.code for r in _check({"next_service_due": value})] == ["wrong_type"]


def test_any_field_takes_any_plain_value() -> None:
    """A field of type ``any`` takes text, numbers, lists and mappings."""
    for value in ("x", 1, 1.5, True, [1], {"a": [None]}):
        assert _check({"extra": value}) == []


@pytest.mark.parametrize("field", ["note", "count", "amount", "ok", "promised_completion_at", "lines"])
def test_null_is_accepted_for_an_optional_field(field: str) -> None:
    """An optional field may be recorded as null, whatever its type."""
    assert _check({field: None}) == []


def test_long_values_are_shortened_in_messages() -> None:
    """A value longer than 60 characters is cut with '...' in the message."""
    message = _messages({"count": "x" * 100})[0]
    assert message == "'count' must be a whole number (got '" + "x" * 56 + "...)"


# --- enumerated values ---------------------------------------------------------------------


def test_value_outside_values_is_refused() -> None:
    """A field with ``values`` takes only those, listing them."""
    assert _check({"channel": "fax"}) == [
        Reason(
            code="bad_value",
            message="'channel' must be one of in_person, phone, app (got 'fax')",
            rule="payload",
            field="channel",
        )
    ]


def test_values_of_a_list_are_checked_item_by_item() -> None:
    """For a list with ``values`` each item must be allowed; each bad item is named."""
    assert _messages({"defects": ["scratch", "rust", None, "chip"]}) == [
        "'defects' must be one of scratch, dent (got 'rust')",
        "'defects' must be one of scratch, dent (got 'chip')",
    ]


# --- keyed lists ---------------------------------------------------------------------------


def test_keyed_list_items_need_their_key() -> None:
    """Each item of a keyed list must be a mapping carrying the key; the message counts from one."""
    payload = {"lines": [{"line_id": "L1"}, {"status": "done"}, {"line_id": ""}, "L4"]}
    assert _check(payload) == [
        Reason(
            code="missing_key",
            message=f"'lines' item #{n} needs its 'line_id'",
            rule="payload",
            field="lines",
        )
        for n in (2, 3, 4)
    ]


# --- limits and plain data -----------------------------------------------------------------


def _nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """A value whose innermost item sits at the depth limit is accepted."""
    assert _check({"extra": _nested(MAX_PAYLOAD_DEPTH - 1)}) == []


def test_nesting_beyond_the_limit_is_refused() -> None:
    """A value nested deeper than the limit is refused, naming the path where it went too deep."""
    path = "extra" + "[0]" * MAX_PAYLOAD_DEPTH
    assert _check({"extra": _nested(MAX_PAYLOAD_DEPTH)}) == [
        Reason(
            code="bad_value",
            message=f"'{path}' is nested more than {MAX_PAYLOAD_DEPTH} levels deep",
            rule="payload",
            field="extra",
        )
    ]


def test_too_many_list_items_are_refused() -> None:
    """A list longer than the item limit is refused."""
    assert _messages({"extra": [0] * (MAX_ITEMS + 1)}) == [f"'extra' has more than {MAX_ITEMS} items"]
    assert _check({"extra": [0] * MAX_ITEMS}) == []


def test_too_many_mapping_entries_are_refused() -> None:
    """A mapping with more entries than the limit is refused."""
    big = {f"k{i}": i for i in range(MAX_ITEMS + 1)}
    assert _messages({"settlement": big}) == [f"'settlement' has more than {MAX_ITEMS} entries"]


def test_payload_too_large_is_refused() -> None:
    """A payload larger than the byte limit is refused (about no field), with its size."""
    size = MAX_PAYLOAD_BYTES + 1
    assert _check({}, size=size)[0] == Reason(
        code="too_large",
        message=f"the payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
        rule="payload",
        field="",
    )
    assert _check({}, size=MAX_PAYLOAD_BYTES) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "'extra' is not a finite number"),
        (float("inf"), "'extra' is not a finite number"),
        ({"a": [1, float("-inf")]}, "'extra.a[1]' is not a finite number"),
        ({1: "one"}, "'extra' has a key that is not text (1)"),
        (
            datetime(2026, 11, 2, tzinfo=UTC),
            "'extra' holds a datetime, which is not plain data (text, numbers, lists, mappings)",
        ),
        (
            {"tags": {"a"}},
            "'extra.tags' holds a set, which is not plain data (text, numbers, lists, mappings)",
        ),
        (b"bytes", "'extra' holds a bytes, which is not plain data (text, numbers, lists, mappings)"),
    ],
)
def test_values_that_are_not_json_are_refused(value: Any, message: str) -> None:
    """Non-finite numbers, non-text keys and non-JSON objects are refused, naming the path."""
    assert _check({"extra": value}) == [
        Reason(code="bad_value", message=message, rule="payload", field="extra")
    ]


def test_a_datetime_object_in_a_datetime_field_is_not_plain_data() -> None:
    """A datetime field takes ISO text, not a Python datetime."""
    assert [r.code for r in _check({"promised_completion_at": datetime(2026, 11, 2, tzinfo=UTC)})] == [
        "bad_value"
    ]


# --- a flow loaded from YAML ---------------------------------------------------------------


def test_check_payload_with_a_loaded_flow(tmp_path: Path) -> None:
    """Field types, values and keys declared in YAML drive the checks."""
    path = tmp_path / "mini.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            flow: mini
            version: 1
            label: {en: Mini, zh: 迷你}
            roles: [service_advisor]
            fields:
              channel: {type: string, values: [in_person, phone]}
              lines: {type: list, key: line_id}
            start:
              - {event: open, to: a, roles: [service_advisor], requires: [channel], accepts: [lines]}
            states:
              a: {label: {en: A, zh: 甲}}
              done: {terminal: true, label: {en: Done, zh: 完}}
            transitions:
              - {event: finish, from: a, to: done, roles: [service_advisor]}
            """
        ),
        encoding="utf-8",
    )
    flow = af.load_flow(path)
    branches = flow.branches(None, "open")
    assert check_payload(flow, "open", branches, {"channel": "phone", "lines": [{"line_id": "L1"}]}) == []
    assert [r.message for r in check_payload(flow, "open", branches, {"channel": "fax", "lines": [{}]})] == [
        "'channel' must be one of in_person, phone (got 'fax')",
        "'lines' item #1 needs its 'line_id'",
    ]


# --- merge_payload / merge_keyed -----------------------------------------------------------


def test_merge_payload_writes_fields_over_the_data() -> None:
    """Payload fields replace the data's values; other data is kept; the input is not changed."""
    data = {"note": "old", "count": 1}
    merged = merge_payload(FLOW, data, {"note": "new", "ok": True})
    assert merged == {"note": "new", "count": 1, "ok": True}
    assert data == {"note": "old", "count": 1}


def test_merge_payload_merges_keyed_lists_by_key() -> None:
    """A keyed list in the payload updates items by key and appends new ones."""
    data = {"lines": [{"line_id": "L1", "status": "proposed"}, {"line_id": "L2", "status": "proposed"}]}
    merged = merge_payload(
        FLOW, data, {"lines": [{"line_id": "L2", "status": "declined"}, {"line_id": "L3"}]}
    )
    assert merged["lines"] == [
        {"line_id": "L1", "status": "proposed"},
        {"line_id": "L2", "status": "declined"},
        {"line_id": "L3"},
    ]
    assert data["lines"][1] == {"line_id": "L2", "status": "proposed"}


def test_merge_payload_replaces_unkeyed_lists() -> None:
    """A list field without a key is replaced whole."""
    merged = merge_payload(FLOW, {"defects": ["scratch"]}, {"defects": ["dent"]})
    assert merged["defects"] == ["dent"]


def test_merge_payload_keyed_field_set_to_null_replaces() -> None:
    """A keyed field given a non-list value (null) is written as it is."""
    assert merge_payload(FLOW, {"lines": [{"line_id": "L1"}]}, {"lines": None})["lines"] is None


def test_merge_keyed_updates_by_key_and_appends() -> None:
    """An update with a known key changes that item in place; a new key is appended at the end."""
    current = [{"line_id": "L1", "status": "authorized"}, {"line_id": "L2", "status": "authorized"}]
    assert merge_keyed(
        current, [{"line_id": "L3", "status": "proposed"}, {"line_id": "L1", "status": "done"}], "line_id"
    ) == [
        {"line_id": "L1", "status": "done"},
        {"line_id": "L2", "status": "authorized"},
        {"line_id": "L3", "status": "proposed"},
    ]


def test_merge_keyed_merges_items_shallowly() -> None:
    """An update keeps the item's other keys but replaces a nested mapping whole."""
    current = [
        {"line_id": "L1", "amount": 100, "authorization": {"signer_role": "customer", "method": "e_sign"}}
    ]
    merged = merge_keyed(current, [{"line_id": "L1", "authorization": {"method": "wet_ink_scan"}}], "line_id")
    assert merged == [{"line_id": "L1", "amount": 100, "authorization": {"method": "wet_ink_scan"}}]


@pytest.mark.parametrize("current", [None, "L1", {"line_id": "L1"}])
def test_merge_keyed_without_a_current_list(current: Any) -> None:
    """Without a current list the updates become the list."""
    assert merge_keyed(current, [{"line_id": "L1"}], "line_id") == [{"line_id": "L1"}]


def test_merge_keyed_same_new_key_twice_merges_into_one_item() -> None:
    """Two updates with the same new key make one item, the later values winning."""
    merged = merge_keyed(
        [], [{"line_id": "L9", "status": "proposed"}, {"line_id": "L9", "amount": 80}], "line_id"
    )
    assert merged == [{"line_id": "L9", "status": "proposed", "amount": 80}]


def test_merge_keyed_does_not_change_its_inputs() -> None:
    """The current items and the updates are copied, not changed."""
    current = [{"line_id": "L1", "status": "authorized"}]
    update = {"line_id": "L1", "status": "done"}
    merged = merge_keyed(current, [update], "line_id")
    merged[0]["status"] = "cancelled"
    assert current == [{"line_id": "L1", "status": "authorized"}]
    assert update == {"line_id": "L1", "status": "done"}


# --- apply_effects -------------------------------------------------------------------------


def _effects(**kwargs: Any) -> Transition:
    return Transition(event="go", source="a", target="b", roles=frozenset({"service_advisor"}), **kwargs)


NOW = datetime(2026, 11, 2, 16, 0, tzinfo=timezone(timedelta(hours=8)))


def test_apply_effects_sets_values_as_plain_data() -> None:
    """``set`` values come back as plain, JSON-ready lists and mappings."""
    transition = _effects(set={"check_in_complete": True, "flags": ["vip"], "settlement": {"lines": [1]}})
    assert apply_effects(transition, {}, NOW) == {
        "check_in_complete": True,
        "flags": ["vip"],
        "settlement": {"lines": [1]},
    }


def test_apply_effects_set_values_are_fresh_copies() -> None:
    """Changing a returned value does not change the transition."""
    transition = _effects(set={"flags": ["vip"]})
    apply_effects(transition, {}, NOW)["flags"].append("x")
    assert apply_effects(transition, {}, NOW) == {"flags": ["vip"]}


@pytest.mark.parametrize(("current", "expected"), [(None, 1), (0, 1), (2, 3), (True, 1), ("2", 1), (1.5, 1)])
def test_apply_effects_increments_counters(current: Any, expected: int) -> None:
    """``increment`` adds one to an integer counter; a missing or non-integer value starts at one."""
    data = {} if current is None else {"rework_count": current}
    assert apply_effects(_effects(increment=("rework_count",)), data, NOW) == {"rework_count": expected}


def test_apply_effects_stamps_utc_time() -> None:
    """``stamp`` fields get now as ISO text in UTC."""
    transition = _effects(stamp=("delivered_at", "closed_at"))
    assert apply_effects(transition, {}, NOW) == {
        "delivered_at": "2026-11-02T08:00:00+00:00",
        "closed_at": "2026-11-02T08:00:00+00:00",
    }


def test_apply_effects_returns_only_the_changes() -> None:
    """The result holds only the transition's own changes, not the rest of the data."""
    assert apply_effects(_effects(), {"note": "kept elsewhere"}, NOW) == {}
    data = {"rework_count": 1}
    apply_effects(_effects(increment=("rework_count",)), data, NOW)
    assert data == {"rework_count": 1}


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=2) | st.integers(), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(value=_JSONISH, depth=st.integers(min_value=1, max_value=MAX_PAYLOAD_DEPTH + 1))
def test_the_quick_payload_walk_passes_only_what_the_full_check_passes(value: Any, depth: int) -> None:
    """_plain says a value is fine only when _json_problem finds no problem in it."""
    if _plain(value, depth):
        assert _json_problem(value, depth, "x") is None


def test_the_quick_payload_walk_passes_deep_and_plain_values() -> None:
    """Plain nested values within the depth limit pass the quick walk; one level deeper does not."""
    nested: Any = "leaf"
    for level in range(MAX_PAYLOAD_DEPTH - 1):
        nested = {"k": nested} if level % 2 else [nested]
    assert _plain(nested, 1)
    assert _json_problem(nested, 1, "x") is None
    assert not _plain([nested], 1)
    assert _json_problem([nested], 1, "x") is not None
