"""Tests for the generic rules usable in any flow (``aftersales_flow.rules.builtin``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, MISSING, RuleContext, evaluate
from aftersales_flow.rules._expr import RuleCall
from aftersales_flow.rules.builtin import (
    OPERATORS,
    actor_has_role,
    all_items,
    count_where,
    field_compare,
    field_equals,
    field_in,
    field_present,
    field_true,
    is_blank,
    items_where,
    payload_has,
    time_compare,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SA = af.Actor("sa-1", roles={"service_advisor"})


def _ctx(
    data: Mapping[str, Any] | None = None,
    *,
    payload: Mapping[str, Any] | None = None,
    actor: af.Actor = SA,
) -> RuleContext:
    return RuleContext(
        data=data or {},
        before={},
        payload=payload or {},
        params={},
        now=NOW,
        actor=actor,
        instance_id="RO-1",
        flow="repair_order",
        state="in_repair",
        event="x",
    )


LINES = [
    {"id": "L1", "line_id": "L1", "status": "done", "pay_type": "customer", "kind": "labour"},
    {"id": "L2", "line_id": "L2", "status": "proposed", "pay_type": "customer", "kind": "part"},
    {"id": "L3", "line_id": "L3", "status": "authorized", "pay_type": "warranty", "kind": "part"},
    {
        "line_id": "L4",
        "status": "proposed",
        "pay_type": "goodwill",
        "authorization": {"signer_role": "customer"},
    },
]


# --- is_blank ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [MISSING, None, "", [], {}])
def test_is_blank_for_absent_and_empty_values(value: Any) -> None:
    """Absent, None, empty text, an empty list and an empty mapping are blank."""
    assert is_blank(value)


@pytest.mark.parametrize("value", [0, False, " ", ["x"], {"a": 1}, 0.0])
def test_is_blank_false_for_recorded_values(value: Any) -> None:
    """Zero, False and non-empty values are recorded, not blank."""
    assert not is_blank(value)


# --- field_present -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-11-02T17:00:00Z", 0, False, ["seat_cover"]])
def test_field_present_holds_for_a_value(value: Any) -> None:
    """Any non-empty value, zero and False included, counts as recorded."""
    assert field_present(_ctx({"promised_completion_at": value}), field="promised_completion_at") is None


@pytest.mark.parametrize("data", [{}, {"cancel_reason": None}, {"cancel_reason": ""}, {"cancel_reason": []}])
def test_field_present_fails_for_absent_or_empty(data: dict[str, Any]) -> None:
    """An absent, null or empty field is not recorded."""
    assert field_present(_ctx(data), field="cancel_reason") == "'cancel_reason' is not recorded"


def test_field_present_follows_dotted_paths() -> None:
    """A dotted field reads inside a mapping."""
    ctx = _ctx({"payment": {"amount": 100}})
    assert field_present(ctx, field="payment.amount") is None
    assert field_present(ctx, field="payment.paid_at") == "'payment.paid_at' is not recorded"


# --- field_true ----------------------------------------------------------------------------


def test_field_true_holds_for_true() -> None:
    """Exactly True holds."""
    assert field_true(_ctx({"self_check_done": True}), field="self_check_done") is None


@pytest.mark.parametrize("data", [{}, {"self_check_done": None}])
def test_field_true_fails_when_not_recorded(data: dict[str, Any]) -> None:
    """An absent or null field is 'not confirmed (not recorded)'."""
    assert (
        field_true(_ctx(data), field="self_check_done") == "'self_check_done' is not confirmed (not recorded)"
    )


@pytest.mark.parametrize(("value", "shown"), [(False, "False"), ("yes", "'yes'"), (1, "1")])
def test_field_true_fails_for_other_values(value: Any, shown: str) -> None:
    """Only True confirms: False, 'yes' and 1 do not, and the message shows the value."""
    assert (
        field_true(_ctx({"self_check_done": value}), field="self_check_done")
        == f"'self_check_done' is not confirmed (it is {shown})"
    )


# --- field_equals --------------------------------------------------------------------------


def test_field_equals_holds_for_the_value() -> None:
    """The field equal to ``value`` holds, at a dotted path too."""
    ctx = _ctx({"final_inspection": {"result": "pass"}})
    assert field_equals(ctx, field="final_inspection.result", value="pass") is None


def test_field_equals_fails_for_another_value() -> None:
    """A different value is named in the message."""
    ctx = _ctx({"final_inspection": {"result": "fail"}})
    assert (
        field_equals(ctx, field="final_inspection.result", value="pass")
        == "'final_inspection.result' must be 'pass' (it is 'fail')"
    )


def test_field_equals_fails_when_not_recorded() -> None:
    """An absent field fails, even against None."""
    assert field_equals(_ctx(), field="oem_decision", value="approved") == (
        "'oem_decision' must be 'approved' (it is not recorded)"
    )
    assert field_equals(_ctx(), field="oem_decision", value=None) == (
        "'oem_decision' must be None (it is not recorded)"
    )


def test_field_equals_null_matches_none() -> None:
    """A field recorded as null equals None."""
    assert field_equals(_ctx({"deposit_amount": None}), field="deposit_amount", value=None) is None


# --- field_in ------------------------------------------------------------------------------


def test_field_in_holds_for_a_listed_value() -> None:
    """A value among ``values`` holds."""
    ctx = _ctx({"oem_decision": "partial"})
    assert field_in(ctx, field="oem_decision", values=["approved", "rejected", "partial"]) is None


def test_field_in_fails_for_an_unlisted_value() -> None:
    """A value not among ``values`` fails, listing the allowed ones."""
    ctx = _ctx({"warranty_status": "pending_oem"})
    assert field_in(ctx, field="warranty_status", values=["covered", "not_covered"]) == (
        "'warranty_status' must be one of 'covered', 'not_covered' (it is 'pending_oem')"
    )


def test_field_in_fails_when_not_recorded() -> None:
    """An absent field fails, even when None is listed."""
    assert field_in(_ctx(), field="oem_decision", values=["approved", None]) == (
        "'oem_decision' must be one of 'approved', None (it is not recorded)"
    )


# --- field_compare -------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "value"), [("<", 2), ("<=", 1), ("==", 1), ("!=", 0), (">=", 1), (">", 0)])
def test_field_compare_each_operator_holds(op: str, value: int) -> None:
    """Each of the six operators compares the field with ``value``."""
    assert field_compare(_ctx({"rework_count": 1}), field="rework_count", op=op, value=value) is None


@pytest.mark.parametrize(
    ("op", "value", "words"),
    [
        ("<", 1, "less than 1"),
        ("<=", 0, "at most 0"),
        ("==", 2, "equal to 2"),
        ("!=", 1, "different from 1"),
        (">=", 2, "at least 2"),
        (">", 1, "more than 1"),
    ],
)
def test_field_compare_fails_in_words(op: str, value: int, words: str) -> None:
    """A failed comparison is written out in words with the current value."""
    assert (
        field_compare(_ctx({"rework_count": 1}), field="rework_count", op=op, value=value)
        == f"'rework_count' must be {words} (it is 1)"
    )


def test_field_compare_with_other_field() -> None:
    """``other`` compares with another field and names it with its value."""
    ctx = _ctx({"mileage_out": 52_010, "mileage_in": 52_000})
    assert field_compare(ctx, field="mileage_out", op=">=", other="mileage_in") is None
    assert field_compare(ctx, field="mileage_in", op=">", other="mileage_out") == (
        "'mileage_in' must be more than 'mileage_out' (52010) (it is 52000)"
    )


def test_field_compare_field_not_recorded() -> None:
    """An absent field fails as not recorded."""
    assert field_compare(_ctx(), field="mileage_in", op=">=", value=0) == "'mileage_in' is not recorded"


def test_field_compare_other_not_recorded() -> None:
    """An absent ``other`` field fails, naming that field."""
    ctx = _ctx({"mileage_out": 52_010})
    assert field_compare(ctx, field="mileage_out", op=">=", other="mileage_in") == (
        "'mileage_in' is not recorded"
    )


def test_field_compare_type_mismatch_fails_instead_of_raising() -> None:
    """Comparing text with a number does not hold (and does not raise)."""
    assert field_compare(_ctx({"mileage_in": "lots"}), field="mileage_in", op=">=", value=1000) == (
        "'mileage_in' must be at least 1000 (it is 'lots')"
    )


def test_field_compare_type_mismatch_with_not_equal() -> None:
    """Equality operators compare across types normally."""
    assert field_compare(_ctx({"mileage_in": "lots"}), field="mileage_in", op="!=", value=1000) is None


def test_field_compare_unknown_operator_raises() -> None:
    """An unknown operator raises, naming the valid ones; evaluated in a guard, it fails closed."""
    with pytest.raises(ValueError, match="unknown comparison '=>'; use one of <, <=, ==, !=, >=, >"):
        field_compare(_ctx({"rework_count": 1}), field="rework_count", op="=>", value=1)
    spec = DEFAULT_REGISTRY.get("field_compare")
    assert spec is not None
    call = RuleCall(spec=spec, args=(("field", "rework_count"), ("op", "=>"), ("value", 1)))
    reasons = evaluate(call, _ctx({"rework_count": 1}))
    assert [r.message for r in reasons] == [
        "the rule 'field_compare' could not be checked "
        "(ValueError: unknown comparison '=>'; use one of <, <=, ==, !=, >=, >)"
    ]


def test_operators_are_the_six_comparisons() -> None:
    """The comparison operators rules accept are exactly the six of Python."""
    assert set(OPERATORS) == {"<", "<=", "==", "!=", ">=", ">"}


# --- count_where / items_where -------------------------------------------------------------


def test_count_where_counts_matching_items() -> None:
    """Items matching every ``where`` entry are counted."""
    ctx = _ctx({"lines": LINES})
    assert count_where(ctx, field="lines", op="==", value=2, where={"status": "proposed"}) is None
    assert (
        count_where(
            ctx, field="lines", op="==", value=1, where={"status": "proposed", "pay_type": "customer"}
        )
        is None
    )


def test_count_where_list_in_where_means_one_of() -> None:
    """A list in ``where`` matches any of its values."""
    ctx = _ctx({"lines": LINES})
    assert count_where(ctx, field="lines", op="==", value=2, where={"status": ["done", "authorized"]}) is None


def test_count_where_matches_dotted_keys() -> None:
    """A dotted ``where`` key reads inside each item."""
    ctx = _ctx({"lines": LINES})
    assert (
        count_where(ctx, field="lines", op=">=", value=1, where={"authorization.signer_role": "customer"})
        is None
    )


def test_count_where_without_where_counts_every_item() -> None:
    """Without ``where`` every item counts."""
    assert count_where(_ctx({"lines": LINES}), field="lines", op="==", value=4) is None


def test_count_where_fails_with_the_count() -> None:
    """A failed count says the filter, the bound and the actual count."""
    ctx = _ctx({"lines": LINES})
    assert count_where(ctx, field="lines", op="==", value=0, where={"status": "proposed"}) == (
        "the number of 'lines' entries with status = 'proposed' must be equal to 0 (it is 2)"
    )
    assert count_where(ctx, field="lines", op="<", value=1, where={"status": ["done", "authorized"]}) == (
        "the number of 'lines' entries with status in ['done', 'authorized'] must be less than 1 (it is 2)"
    )


def test_count_where_without_where_fails_without_filter_words() -> None:
    """Without ``where`` the message names only the field."""
    assert count_where(_ctx(), field="backorders", op=">=", value=1) == (
        "the number of 'backorders' entries must be at least 1 (it is 0)"
    )


@pytest.mark.parametrize("value", [None, "L1", {"line_id": "L1"}])
def test_count_where_counts_zero_when_not_a_list(value: Any) -> None:
    """A field that is absent or not a list has no items."""
    assert count_where(_ctx({"lines": value}), field="lines", op="==", value=0) is None


def test_items_where_skips_items_that_are_not_mappings() -> None:
    """Non-mapping items never match a filter; without a filter every item counts, text included."""
    ctx = _ctx({"lines": ["L1", {"status": "done"}, None]})
    assert items_where(ctx, "lines", {"status": "done"}) == [{"status": "done"}]
    assert items_where(ctx, "lines", None) == ["L1", {"status": "done"}, None]


# --- all_items -----------------------------------------------------------------------------


def test_all_items_holds_when_matching_items_comply() -> None:
    """Every item matching ``where`` also matching ``require`` holds."""
    ctx = _ctx({"lines": LINES})
    assert all_items(ctx, field="lines", where={"kind": "labour"}, require={"status": "done"}) == []


def test_all_items_holds_vacuously_without_matches() -> None:
    """No matching item means nothing to check."""
    ctx = _ctx({"lines": LINES})
    assert all_items(ctx, field="lines", where={"kind": "sublet"}, require={"status": "done"}) == []


def test_all_items_names_each_item_that_does_not_comply() -> None:
    """Each non-complying item is named by ``key`` (default 'id'), '?' when it has none."""
    ctx = _ctx({"lines": LINES})
    assert all_items(ctx, field="lines", require={"status": ["done", "authorized"]}) == [
        "'lines' entry 'L2' must have status in ['done', 'authorized']",
        "'lines' entry '?' must have status in ['done', 'authorized']",
    ]


def test_all_items_key_names_items() -> None:
    """``key`` picks the field that names an item in messages."""
    ctx = _ctx({"lines": LINES})
    assert all_items(
        ctx, field="lines", where={"kind": "part"}, require={"status": "done"}, key="line_id"
    ) == ["'lines' entry 'L2' must have status = 'done'", "'lines' entry 'L3' must have status = 'done'"]


# --- time_compare --------------------------------------------------------------------------


def test_time_compare_against_now() -> None:
    """Without an offset the field is compared with the clock's now."""
    ctx = _ctx({"paid_at": "2026-11-02T07:59:00Z"})
    assert time_compare(ctx, field="paid_at", op="<=") is None
    assert time_compare(ctx, field="paid_at", op=">") == (
        "'paid_at' (2026-11-02T07:59:00+00:00) must be more than 2026-11-02T08:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("offset", "op"), [("2h", ">="), ("1d", "<"), ("-1d", ">"), ("1h30m", ">"), ("2h1s", "<")]
)
def test_time_compare_with_offsets(offset: str, op: str) -> None:
    """The bound is now plus the offset; negative offsets reach back."""
    ctx = _ctx({"promised_completion_at": "2026-11-02T10:00:00Z"})
    assert time_compare(ctx, field="promised_completion_at", op=op, offset=offset) is None


def test_time_compare_fails_with_both_times() -> None:
    """A failed comparison shows the recorded time and the bound."""
    ctx = _ctx({"promised_completion_at": "2026-11-02T09:00:00Z"})
    assert time_compare(ctx, field="promised_completion_at", op=">=", offset="2h") == (
        "'promised_completion_at' (2026-11-02T09:00:00+00:00) must be at least 2026-11-02T10:00:00+00:00"
    )


def test_time_compare_understands_time_zones() -> None:
    """A time recorded in +08:00 is compared as the same moment in UTC."""
    ctx = _ctx({"promised_completion_at": "2026-11-02T17:00:00+08:00"})
    assert time_compare(ctx, field="promised_completion_at", op=">=", offset="1h") is None
    assert time_compare(ctx, field="promised_completion_at", op="==", offset="1h") is None


@pytest.mark.parametrize("value", [None, ""])
def test_time_compare_not_recorded(value: Any) -> None:
    """An absent or empty field is not recorded."""
    assert time_compare(_ctx({"paid_at": value}), field="paid_at", op="<=") == "'paid_at' is not recorded"
    assert time_compare(_ctx(), field="paid_at", op="<=") == "'paid_at' is not recorded"


def test_time_compare_bad_timestamp() -> None:
    """Text that is not a time fails with the parser's explanation."""
    assert time_compare(_ctx({"paid_at": "soon"}), field="paid_at", op="<=") == (
        "'paid_at' is not a valid time: Invalid isoformat string: 'soon'"
    )


def test_time_compare_timestamp_without_zone() -> None:
    """A time without a time zone fails, saying how to add one."""
    assert time_compare(_ctx({"paid_at": "2026-11-02T07:00:00"}), field="paid_at", op="<=") == (
        "'paid_at' is not a valid time: timestamp '2026-11-02T07:00:00' has no time zone; "
        "add one, e.g. '+08:00' or 'Z'"
    )


def test_time_compare_number_is_not_a_time() -> None:
    """A number is not a timestamp."""
    assert time_compare(_ctx({"paid_at": 1_700_000_000}), field="paid_at", op="<=") == (
        "'paid_at' is not a valid time: not a timestamp: 1700000000"
    )


def test_time_compare_bad_offset_raises() -> None:
    """An offset that is not a duration raises (a guard then fails closed)."""
    with pytest.raises(ValueError, match="not a duration"):
        time_compare(_ctx({"paid_at": "2026-11-02T07:00:00Z"}), field="paid_at", op="<=", offset="soon")


# --- actor_has_role / payload_has ----------------------------------------------------------


def test_actor_has_role_holds_for_a_held_role() -> None:
    """The acting person's roles are checked."""
    foreman = af.Actor("f-1", roles={"foreman", "technician"})
    assert actor_has_role(_ctx(actor=foreman), role="foreman") is None


def test_actor_has_role_fails_for_a_missing_role() -> None:
    """A person without the role is refused, naming the role."""
    assert actor_has_role(_ctx(), role="service_manager") == (
        "this needs a person with the role 'service_manager'"
    )


def test_payload_has_holds_when_this_event_records_the_field() -> None:
    """The event's own payload must carry the field, dotted paths included."""
    ctx = _ctx(payload={"road_test": {"result": "pass"}})
    assert payload_has(ctx, field="road_test") is None
    assert payload_has(ctx, field="road_test.result") is None


def test_payload_has_ignores_earlier_data() -> None:
    """A value only in the instance's data does not count: this event must record it."""
    ctx = _ctx({"customer_notified": True}, payload={"note": "called"})
    assert payload_has(ctx, field="customer_notified") == "this event must record 'customer_notified'"


@pytest.mark.parametrize("value", [None, "", []])
def test_payload_has_fails_for_an_empty_value(value: Any) -> None:
    """An empty value in the payload does not count as recorded."""
    ctx = _ctx(payload={"rejection_reason": value})
    assert payload_has(ctx, field="rejection_reason") == "this event must record 'rejection_reason'"
