"""Tests for brand overlays merged into their base flow (``_overlay`` and the loader's overlay handling)."""

from __future__ import annotations

from pathlib import Path

import pytest

import aftersales_flow as af
from aftersales_flow import (
    FlowDefinitionError,
    FlowShapeError,
    OverlayError,
    UnknownParameterError,
    UnknownRoleError,
    UnknownRuleError,
    UnknownStateError,
    load_flow,
)
from aftersales_flow._overlay import merge_overlay
from aftersales_flow._problems import Problems
from aftersales_flow._shape import ShapeChecker
from aftersales_flow._yaml import parse_yaml
from aftersales_flow.model import thaw
from fixture_flows import FLOWS, RULES

BASE = FLOWS / "repair_order.yaml"
ACME = FLOWS / "brands" / "acme" / "repair_order.yaml"
BAOYA = FLOWS / "brands" / "baoya" / "repair_order.yaml"
OVERLAY = FLOWS / "overlay"


def edges(flow) -> list[tuple[str, str, str]]:
    return sorted((t.event, t.source or "", t.target) for t in flow.transitions)


def overlay_error(name: str, kind: type[FlowDefinitionError] = FlowDefinitionError) -> FlowDefinitionError:
    with pytest.raises(kind) as info:
        load_flow(OVERLAY / name, rules=RULES)
    return info.value


# --- merging ----------------------------------------------------------------------------


def test_params_change_and_new_params_add():
    """'params' changes a base parameter and 'new_params' adds one."""
    flow = load_flow(ACME, rules=RULES)
    assert dict(flow.params) == {"max_rework": 3, "parts_wait_days": 5}
    assert dict(load_flow(BASE, rules=RULES).params) == {"max_rework": 2}


def test_roles_add_and_remove():
    """'roles' adds and removes roles of the base flow."""
    flow = load_flow(ACME, rules=RULES)
    assert flow.roles == {"service_advisor", "technician", "parts_clerk"}


def test_fields_add():
    """'fields: add' declares a new data field next to the base flow's fields."""
    flow = load_flow(ACME, rules=RULES)
    assert sorted(flow.fields) == [
        "closed_at",
        "complaint",
        "parts_ordered",
        "rework_count",
        "work_order_signed",
    ]
    assert flow.fields["parts_ordered"].type == "boolean"


def test_states_add_and_change():
    """'states: add' adds a state; 'states: change' replaces only the keys it gives."""
    flow = load_flow(ACME, rules=RULES)
    assert "waiting_parts" in flow.states
    assert flow.states["waiting_parts"].label.en == "Waiting for parts"
    in_repair = flow.states["in_repair"]
    assert (in_repair.label.en, in_repair.label.zh, in_repair.terminal) == ("Repairing", "修理中", False)
    assert flow.states["opened"] == load_flow(BASE, rules=RULES).states["opened"]


def test_state_removal_takes_its_transitions_with_it():
    """Removing a state removes every transition into it, from every source."""
    flow = load_flow(BAOYA, rules=RULES)
    assert "cancelled" not in flow.states
    assert "cancel" not in flow.events


def test_state_removal_trims_it_from_multi_source_transitions():
    """Removing a state drops transitions from and to it, and trims it from 'from' lists naming others."""
    flow = load_flow(OVERLAY / "remove_state.yaml", rules=RULES)
    assert "authorized" not in flow.states
    assert edges(flow) == [
        ("cancel", "opened", "cancelled"),
        ("finish_repair", "in_repair", "quality_check"),
        ("qc_failed", "quality_check", "in_repair"),
        ("qc_passed", "quality_check", "closed"),
        ("start_repair", "opened", "in_repair"),
    ]


def test_transition_change_without_from_changes_every_branch():
    """A 'change' selecting only an event changes that event's transition; other keys stay."""
    flow = load_flow(ACME, rules=RULES)
    (qc_failed,) = flow.branches("quality_check", "qc_failed")
    assert qc_failed.roles == {"technician"}
    assert qc_failed.increment == ("rework_count",)
    assert repr(qc_failed.guard) == "field_compare(field='rework_count', op='<', value=params.max_rework)"


def test_transition_change_with_from_changes_one_source_only():
    """A 'change' with 'from' changes only that source of a multi-source transition."""
    flow = load_flow(ACME, rules=RULES)
    (from_authorized,) = flow.branches("authorized", "cancel")
    (from_opened,) = flow.branches("opened", "cancel")
    assert from_authorized.roles == {"parts_clerk"}
    assert from_opened.roles == {"service_advisor"}


def test_transition_change_adds_keys():
    """A 'change' may add a key the base transition did not have."""
    flow = load_flow(BAOYA, rules=RULES)
    (start_repair,) = flow.branches("authorized", "start_repair")
    assert start_repair.requires == ("work_order_signed",)


def test_transition_remove_with_from_removes_one_source_only():
    """A 'remove' with 'from' removes only that source of a multi-source transition."""
    flow = load_flow(OVERLAY / "remove_one_source.yaml", rules=RULES)
    assert [t.source for t in flow.transitions if t.event == "cancel"] == ["authorized"]


def test_transitions_add_and_point_into_the_overlay():
    """Added transitions are in the flow, and their place is in the overlay file."""
    flow = load_flow(ACME, rules=RULES)
    (order_parts,) = flow.branches("in_repair", "order_parts")
    assert order_parts.target == "waiting_parts"
    assert dict(order_parts.set) == {"parts_ordered": True}
    assert order_parts.where == "tests/fixtures/flows/brands/acme/repair_order.yaml:26:7"
    (authorize,) = flow.branches("opened", "authorize")
    assert authorize.where == "tests/fixtures/flows/repair_order.yaml:23:5"


def test_invariants_add():
    """'invariants: add' adds guards checked at every transition."""
    flow = load_flow(ACME, rules=RULES)
    assert [repr(g) for g in flow.invariants] == ["field_present(field='complaint')"]


def test_overlay_flow_records_brand_version_and_both_sources():
    """The merged flow carries the brand, the overlay's version and both files as its source."""
    flow = load_flow(ACME, rules=RULES)
    base = load_flow(BASE, rules=RULES)
    assert (flow.name, flow.brand, flow.version) == ("repair_order", "acme", 2)
    assert (
        flow.source
        == "tests/fixtures/flows/repair_order.yaml + tests/fixtures/flows/brands/acme/repair_order.yaml"
    )
    assert flow.definition["brand"] == "acme"
    assert flow.content_hash != base.content_hash


def test_merging_leaves_the_base_document_unchanged():
    """Merging an overlay builds a new document; the base document is not modified."""
    base = parse_yaml(BASE.read_bytes(), str(BASE))
    before = thaw(base)
    overlay = parse_yaml(ACME.read_bytes(), str(ACME))
    problems = Problems()
    merged = merge_overlay(base, overlay, problems, lambda: ShapeChecker(problems, RULES, {"max_rework": 2}))
    assert not problems
    assert thaw(base) == before
    assert thaw(merged) != before


# --- errors -----------------------------------------------------------------------------


def test_names_the_base_does_not_have_are_refused_in_the_overlay():
    """Changing or removing names the base lacks, or re-adding ones it has, is refused in the overlay."""
    err = overlay_error("bad_names.yaml")
    assert type(err) is FlowDefinitionError  # problems of different kinds: raised as the common class
    file = "tests/fixtures/flows/overlay/bad_names.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:4:3: the overlay changes parameter 'max_reworks', which the base flow does not have; "
        "did you mean 'max_rework'?; base params: max_rework (declare a new one under 'new_params')",
        f"{file}:6:3: new parameter 'max_rework' already exists in the base flow; change it under 'params'",
        f"{file}:8:12: cannot remove role 'cashier': the base flow has no such role; it has: "
        "service_advisor, technician, workshop_manager",
        f"{file}:10:12: cannot remove field 'complaints': the base flow has no such field; "
        "did you mean 'complaint'?; it has: closed_at, complaint, rework_count, work_order_signed",
        f"{file}:13:5: cannot change state 'in_repairs': the base flow has no such state; "
        "did you mean 'in_repair'?; it has: authorized, cancelled, closed, in_repair, opened, quality_check",
        f"{file}:14:12: cannot remove state 'on_hold': the base flow has no such state; it has: "
        "authorized, cancelled, closed, in_repair, opened, quality_check",
        f"{file}:16:5: cannot add state 'closed': the base flow already has it; use 'change' to alter it",
        f"{file}:19:7: no transition 'qc_fail' in the base flow; did you mean 'qc_failed'?; its events: "
        "authorize, cancel, finish_repair, qc_failed, qc_passed, start_repair",
    ]
    assert [type(e) for e in err.errors] == [UnknownParameterError] + [OverlayError] * 7


def test_meaning_errors_in_added_parts_point_into_the_overlay():
    """A misspelt state or role in an added transition is reported at its place in the overlay file."""
    err = overlay_error("bad_target.yaml")
    file = "tests/fixtures/flows/overlay/bad_target.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:8:49: transition 'order_parts' targets unknown state 'waiting_part'; did you mean "
        "'waiting_parts'?; known states: authorized, cancelled, closed, in_repair, opened, quality_check, "
        "waiting_parts",
        f"{file}:9:74: transition 'parts_arrived' names role 'technican', which the flow does not declare; "
        "did you mean 'technician'?; add it to the flow's 'roles' or use one of: service_advisor, "
        "technician, workshop_manager",
    ]
    assert [type(e) for e in err.errors] == [UnknownStateError, UnknownRoleError]


def test_unknown_overlay_keys_are_refused_with_did_you_mean():
    """Unknown keys at the top of an overlay, in a section and in a selector are refused with suggestions."""
    err = overlay_error("unknown_keys.yaml", FlowShapeError)
    file = "tests/fixtures/flows/overlay/unknown_keys.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:3:1: unknown key 'stats' in the overlay; did you mean 'states'?; allowed keys: extends, "
        "brand, version, label, description, params, new_params, roles, fields, states, transitions, "
        "invariants",
        f"{file}:8:23: unknown key 'form' in overlay transition change; did you mean 'from'?; allowed keys: "
        "event, from, to, roles, requires, accepts, guard, unless, label, set, increment, stamp, starts, fires, description, add_guard, add_requires, add_accepts, add_roles",
        f"{file}:9:3: unknown key 'rename' in overlay 'transitions'; allowed keys: add, change, remove",
    ]


def test_unknown_rule_in_added_invariant_points_into_the_overlay():
    """An added invariant naming an unknown rule is reported in the overlay file."""
    err = overlay_error("invariant_unknown_rule.yaml", UnknownRuleError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/invariant_unknown_rule.yaml:5:14: invariant names unknown rule "
        "'field_presnt'; did you mean 'field_present'?; known rules: count_where, field_compare, "
        "field_present, field_true, work_order_signed"
    )


def test_missing_base_flow_is_refused_at_extends():
    """An overlay whose base flow file cannot be found is refused at 'extends'."""
    err = overlay_error("missing_base.yaml", OverlayError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/missing_base.yaml:1:10: base flow 'work_order' not found next to the "
        "overlay or above it; put work_order.yaml in the flows folder"
    )


def test_missing_brand_is_refused():
    """An overlay without 'brand' is refused once, as a missing key."""
    err = overlay_error("missing_brand.yaml", FlowShapeError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/missing_brand.yaml:1:1: the overlay is missing the key 'brand' "
        "(the brand this overlay is for)"
    )


def test_selector_matching_no_source_does_not_suggest_the_same_event():
    """Selecting an event from a state it does not leave says so, instead of suggesting the same event."""
    err = overlay_error("wrong_source.yaml", OverlayError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/wrong_source.yaml:5:7: no transition 'cancel' from 'in_repair' in the "
        "base flow; 'cancel' goes from authorized, opened to cancelled"
    )


def test_removing_a_role_still_in_use_points_into_the_overlay():
    """Removing the only role of base transitions is reported at the overlay's removal, naming each one."""
    err = overlay_error("removed_role_in_use.yaml", OverlayError)
    file = "tests/fixtures/flows/overlay/removed_role_in_use.yaml"
    fix = "give it another role under 'transitions: change', or remove the transition under 'transitions: remove'"
    assert [str(e) for e in err.errors] == [
        f"{file}:4:12: cannot remove role 'workshop_manager': transition 'qc_failed' "
        f"(tests/fixtures/flows/repair_order.yaml:31:5) has no other role, so nobody could fire it; {fix}",
        f"{file}:4:12: cannot remove role 'workshop_manager': transition 'qc_passed' "
        f"(tests/fixtures/flows/repair_order.yaml:37:5) has no other role, so nobody could fire it; {fix}",
    ]


def test_removing_a_role_drops_it_from_base_transitions():
    """A removed role disappears from every base transition naming it; the transitions keep their other roles."""
    flow = load_flow(OVERLAY / "role_cascade" / "brands" / "acme" / "appointment.yaml", rules=RULES)
    assert flow.roles == {"service_advisor"}
    assert {t.event: t.roles for t in (*flow.starts, *flow.transitions)} == {
        "book": {"service_advisor"},
        "arrive": {"service_advisor"},
    }


def test_removed_role_given_back_by_a_change_is_unknown_in_the_overlay():
    """A 'change' naming a role the overlay removes is an unknown role at the change, not silently dropped."""
    err = overlay_error("removed_role_changed_in.yaml", UnknownRoleError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/removed_role_changed_in.yaml:7:46: transition 'qc_failed' names role "
        "'workshop_manager', which the flow does not declare; add it to the flow's 'roles' or use one of: "
        "service_advisor, technician"
    )


def test_changing_a_parameter_to_another_type_is_refused():
    """An overlay setting a numeric parameter to text is refused at the overlay's line."""
    err = overlay_error("param_wrong_type.yaml", OverlayError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/param_wrong_type.yaml:4:15: parameter 'max_rework' is a number in the "
        "base flow (2); the overlay must give a number too (got text 'three')"
    )


def test_changing_a_whole_number_parameter_to_a_decimal_is_fine():
    """A whole-number parameter may become a decimal one: both are numbers."""
    flow = load_flow(OVERLAY / "param_decimal.yaml", rules=RULES)
    assert flow.params["max_rework"] == 2.5


def test_extends_that_is_not_a_name_is_refused_as_such():
    """'extends' given a list is refused as a wrong type, not looked up as a file named "['repair_order']"."""
    err = overlay_error("extends_list.yaml", OverlayError)
    assert str(err) == (
        "tests/fixtures/flows/overlay/extends_list.yaml:1:10: 'extends' must name the base flow, a snake_case "
        "name like 'repair_order' (got a list)"
    )


def test_state_removal_over_a_malformed_base_reports_not_crashes():
    """Removing a state from a base whose 'to' is a list reports the base's shape error, not a crash."""
    with pytest.raises(FlowShapeError) as info:
        load_flow(OVERLAY / "broken_base" / "brands" / "acme" / "repair_order.yaml", rules=RULES)
    assert (info.value.file, info.value.line) == (
        "tests/fixtures/flows/overlay/broken_base/repair_order.yaml",
        12,
    )


def test_role_removal_over_a_malformed_base_reports_not_crashes():
    """Removing a role from a base whose roles hold a number reports the problems instead of crashing."""
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(OVERLAY / "broken_base" / "brands" / "acme" / "appointment.yaml", rules=RULES)
    assert str(info.value) == (
        "tests/fixtures/flows/overlay/broken_base/brands/acme/appointment.yaml:4:12: cannot remove role "
        "'cashier': the base flow has no such role; it has: 7, service_advisor"
    )


def test_bad_parameter_value_set_by_an_overlay_points_into_the_overlay(tmp_path: Path) -> None:
    """A brand's parameter value that a guard cannot use is reported at the overlay's line, not the base guard."""
    import shutil

    for flow in Path("flows").glob("*.yaml"):  # every base flow: the appointment links to the others
        shutil.copy(flow, tmp_path / flow.name)
    brand = tmp_path / "brands" / "zz"
    brand.mkdir(parents=True)
    (brand / "appointment.yaml").write_text(
        "extends: appointment\nbrand: zz\nparams:\n  no_show_grace: 30 minutes\n", encoding="utf-8"
    )
    with pytest.raises(FlowDefinitionError) as caught:
        af.load_flows(tmp_path, brand="zz")
    assert str(caught.value).startswith(f"{brand / 'appointment.yaml'}:4:18: ")
    assert "not a duration: '30 minutes'" in str(caught.value)
