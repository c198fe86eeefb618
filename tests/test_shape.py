"""Tests for the shape layer: unknown keys, wrong types, missing keys (``_shape`` and ``_build``)."""

from __future__ import annotations

import pytest

from aftersales_flow import FlowDefinitionError, FlowShapeError, load_flow
from fixture_flows import FLOWS, RULES

SHAPE = FLOWS / "shape"


def shape_error(name: str) -> FlowShapeError:
    with pytest.raises(FlowShapeError) as info:
        load_flow(SHAPE / name, rules=RULES)
    return info.value


def test_document_that_is_not_a_mapping_is_refused():
    """A flow file whose top level is a list is refused at 1:1."""
    err = shape_error("not_a_mapping.yaml")
    assert str(err) == (
        "tests/fixtures/flows/shape/not_a_mapping.yaml:1:1: a flow file must be a YAML mapping with "
        "'flow', 'states', 'transitions'… (got a list)"
    )


def test_document_of_only_null_is_refused():
    """A file holding a bare '---' (a null document) is refused as not a mapping."""
    err = shape_error("null_document.yaml")
    assert str(err) == (
        "tests/fixtures/flows/shape/null_document.yaml:1:1: a flow file must be a YAML mapping with "
        "'flow', 'states', 'transitions'… (got nothing)"
    )


def test_unknown_keys_are_refused_with_did_you_mean():
    """Unknown keys in the flow, a state and a transition are each refused, suggesting the near key."""
    err = shape_error("unknown_keys.yaml")
    file = "tests/fixtures/flows/shape/unknown_keys.yaml"
    assert str(err) == "\n".join(
        [
            f"{file}:8:42: unknown key 'terminall' in state 'opened'; did you mean 'terminal'?; "
            "allowed keys: label, terminal, tags, description, deadlines",
            f"{file}:11:72: unknown key 'gaurd' in transition 'close'; did you mean 'guard'?; allowed keys: "
            "event, from, to, roles, requires, accepts, guard, unless, label, set, increment, stamp, "
            "starts, fires, description",
            f"{file}:12:1: unknown key 'owner' in the flow; allowed keys: flow, version, label, description, "
            "roles, params, fields, start, states, transitions, invariants",
        ]
    )
    assert len(err.errors) == 3
    assert all(type(e) is FlowShapeError for e in err.errors)


def test_wrong_types_are_refused():
    """Values of the wrong type are each refused at the value, saying what was expected and what was got."""
    err = shape_error("wrong_types.yaml")
    file = "tests/fixtures/flows/shape/wrong_types.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:1:7: the flow's 'flow' must be a snake_case name like 'repair_order' (got 'Wrong Types')",
        f"{file}:2:10: 'version' must be a whole number of at least 1 (got text 'one')",
        f"{file}:3:30: the flow label 'zh' must be non-empty text",
        f"{file}:6:19: field 'mileage' has unknown type 'integr'; did you mean 'integer'?; types: string, "
        "integer, number, boolean, datetime, date, list, object, any",
        f"{file}:10:52: state 'opened' 'terminal' must be true or false (got 'no')",
        f"{file}:10:64: state 'opened' 'tags' must be a list of names (got text 'urgent')",
        f"{file}:14:5: transition #2 must be a mapping (got text 'close opened')",
    ]
    assert str(err) == "\n".join(str(e) for e in err.errors)


def test_missing_required_keys_are_refused():
    """Missing required keys of the flow, a start event, a label and a state are each refused."""
    err = shape_error("missing_keys.yaml")
    file = "tests/fixtures/flows/shape/missing_keys.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:1:1: the flow is missing the key 'version' (a whole number, raised whenever the flow "
        "changes)",
        f"{file}:1:1: the flow is missing the key 'transitions' (the list of transitions)",
        f"{file}:5:5: start event 'open' is missing the key 'to' (the target state)",
        f"{file}:7:19: state 'opened' 'label' is missing the key 'zh' (Chinese text)",
        f"{file}:8:11: state 'closed' is missing the key 'label' ({{en: ..., zh: ...}})",
    ]


def test_empty_start_list_is_refused():
    """A flow with 'start: []' is refused: an instance could never be created."""
    err = shape_error("no_start.yaml")
    assert str(err) == (
        "tests/fixtures/flows/shape/no_start.yaml:5:8: the flow needs at least one start event under 'start'"
    )


def test_malformed_guards_are_refused():
    """Combinators mixed with other keys, empty combinators, wrong argument types and non-guards fail."""
    err = shape_error("bad_guards.yaml")
    file = "tests/fixtures/flows/shape/bad_guards.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:19:12: transition 'close' guard: 'all' stands alone in its mapping (with an optional "
        "'message'); move 'any' elsewhere",
        f"{file}:20:19: transition 'close' unless 'any' needs at least one item",
        f"{file}:25:63: transition 'close' guard: rule 'count_where' parameter 'value' must be a whole "
        "number (got text '1')",
        f"{file}:26:64: transition 'close' unless: parameter 'min_lines' is text 'one'; rule 'count_where' "
        "parameter 'value' needs a whole number",
        f"{file}:27:80: transition 'cancel' guard must be a rule name, a mapping with 'rule', or one of "
        "all/any/not (got keys field)",
        f"{file}:28:80: transition 'cancel' guard must be a rule name, a list or a mapping (got int 42)",
    ]


def test_every_guard_form_builds():
    """A rule name, {rule: …, arg: …}, all/any/not, {param: …} arguments and a list (= all) all build."""
    flow = load_flow(SHAPE / "guard_forms.yaml", rules=RULES)
    guards = {t.event: (repr(t.guard), repr(t.unless)) for t in flow.transitions}
    assert guards == {
        "by_name": ("work_order_signed", "None"),
        "with_args": ("field_present(field='note')", "None"),
        "combined": (
            "any(all(work_order_signed, field_true(field='work_order_signed')), "
            "not(count_where(field='lines', op='<', value=params.min_lines)))",
            "all(field_present(field='note'), work_order_signed)",
        ),
    }


def test_errors_carry_file_line_and_column():
    """Each reported problem carries its file, line, column and bare message as attributes."""
    err = shape_error("no_start.yaml")
    assert (err.file, err.line, err.column) == ("tests/fixtures/flows/shape/no_start.yaml", 5, 8)
    assert err.location == "tests/fixtures/flows/shape/no_start.yaml:5:8"
    assert err.detail == "the flow needs at least one start event under 'start'"
    assert isinstance(err, FlowDefinitionError)


def test_empty_from_list_is_refused():
    """A transition with 'from: []' is refused, not silently dropped from the flow."""
    with pytest.raises(FlowShapeError) as info:
        load_flow(SHAPE / "empty_from.yaml", rules=RULES)
    assert str(info.value) == (
        "tests/fixtures/flows/shape/empty_from.yaml:12:27: transition 'reopen' 'from' must name at least "
        "one state"
    )


def test_empty_roles_list_is_refused():
    """A transition or start event with 'roles: []' is refused: nobody could fire it."""
    err = shape_error("empty_roles.yaml")
    file = "tests/fixtures/flows/shape/empty_roles.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:6:38: start event 'open' 'roles' is empty: nobody could fire it; list at least one role",
        f"{file}:11:53: transition 'close' 'roles' is empty: nobody could fire it; list at least one role",
    ]


def test_malformed_declaration_does_not_cascade_into_unknown_names():
    """A role list, field or state written in the wrong shape is reported once, not again at every use."""
    err = shape_error("malformed_declarations.yaml")
    file = "tests/fixtures/flows/shape/malformed_declarations.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:4:8: the flow 'roles' must be a list of names (got text 'service_advisor')",
        f"{file}:6:16: field 'note' has unknown type 'strng'; did you mean 'string'?; types: string, "
        "integer, number, boolean, datetime, date, list, object, any",
        f"{file}:11:11: state 'closed' must be a mapping (got a list)",
    ]
