"""Tests for the meaning layer: unknown names, ambiguous branches and the state graph (``_validate``)."""

from __future__ import annotations

from typing import Literal, TypeVar

import pytest

from aftersales_flow import (
    AmbiguousTransitionError,
    FlowDefinitionError,
    FlowMeaningError,
    FlowShapeError,
    GraphError,
    UnknownFieldError,
    UnknownParameterError,
    UnknownRoleError,
    UnknownRuleError,
    UnknownStateError,
    load_flow,
)
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry
from fixture_flows import FLOWS, RULES

MEANING = FLOWS / "meaning"
E = TypeVar("E", bound=FlowDefinitionError)


def meaning_error(name: str, kind: type[E]) -> E:
    with pytest.raises(kind) as info:
        load_flow(MEANING / name, rules=RULES)
    return info.value


# --- unknown names ----------------------------------------------------------------------


def test_misspelt_target_state_names_place_and_known_states():
    """A transition to a misspelt state fails at file:line:col, suggesting and listing the known states."""
    err = meaning_error("misspelt_state.yaml", UnknownStateError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/misspelt_state.yaml:14:9: transition 'authorize' targets unknown state "
        "'authorised'; did you mean 'authorized'?; known states: authorized, closed, opened"
    )
    # The graph is not checked while names are wrong: 'authorized' is not also called unreachable.
    assert len(err.errors) == 1


def test_unknown_source_state_points_at_the_list_item():
    """An unknown state in a 'from' list is reported at that item, with a suggestion."""
    err = meaning_error("unknown_source.yaml", UnknownStateError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unknown_source.yaml:11:35: transition 'close' comes from unknown state "
        "'openned'; did you mean 'opened'?; known states: closed, opened"
    )


def test_start_event_to_unknown_state_is_refused():
    """A start event targeting an undeclared state is refused; nothing close means no suggestion."""
    err = meaning_error("unknown_start_target.yaml", UnknownStateError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unknown_start_target.yaml:6:23: start event 'open' targets unknown "
        "state 'draft'; known states: closed, opened"
    )


def test_unknown_rule_is_refused_with_the_known_rules():
    """A guard naming an unregistered rule is refused at the name, suggesting and listing the known rules."""
    err = meaning_error("unknown_rule.yaml", UnknownRuleError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unknown_rule.yaml:17:19: transition 'close' guard names unknown rule "
        "'field_ture'; did you mean 'field_true'?; known rules: count_where, field_compare, field_present, "
        "field_true, work_order_signed"
    )


def test_wrong_rule_parameters_are_refused():
    """A misspelt rule parameter and missing required parameters are each refused."""
    err = meaning_error("rule_parameters.yaml", UnknownRuleError)
    file = "tests/fixtures/flows/meaning/rule_parameters.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:18:16: transition 'close' guard: rule 'field_present' needs the parameter 'field'",
        f"{file}:18:31: transition 'close' guard: rule 'field_present' has no parameter 'feild'; did you "
        "mean 'field'?; its parameters: field",
        f"{file}:19:16: transition 'close' guard: rule 'count_where' needs the parameter 'value'",
    ]
    assert all(isinstance(e, UnknownRuleError) for e in err.errors)


def test_unknown_role_is_refused_at_the_role():
    """A transition naming an undeclared role is refused at the role, suggesting the near one."""
    err = meaning_error("unknown_role.yaml", UnknownRoleError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unknown_role.yaml:11:71: transition 'close' names role 'technican', "
        "which the flow does not declare; did you mean 'technician'?; add it to the flow's 'roles' or use "
        "one of: service_advisor, technician"
    )


def test_unknown_parameter_reference_is_refused():
    """A {param: …} argument naming an undeclared parameter is refused at the name."""
    err = meaning_error("unknown_param.yaml", UnknownParameterError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unknown_param.yaml:18:79: transition 'close' guard: rule "
        "'field_compare' parameter 'value' refers to unknown parameter 'max_reworks'; did you mean "
        "'max_rework'?; the flow's params: max_rework"
    )


def test_unknown_and_mistyped_fields_are_refused():
    """Undeclared fields in requires/accepts/set, and increment/stamp of the wrong field type, are refused."""
    err = meaning_error("unknown_field.yaml", UnknownFieldError)
    file = "tests/fixtures/flows/meaning/unknown_field.yaml"
    known = "declare it under 'fields' or use one of: closed_at, complaint, note"
    assert [str(e) for e in err.errors] == [
        f"{file}:19:16: transition 'close' 'requires' names field 'complaints', which the flow does not "
        f"declare; did you mean 'complaint'?; {known}",
        f"{file}:20:15: transition 'close' 'accepts' names field 'mileage', which the flow does not declare; "
        f"{known}",
        f"{file}:21:11: transition 'close' 'set' names field 'closed_by', which the flow does not declare; "
        f"did you mean 'closed_at'?; {known}",
        f"{file}:22:17: transition 'close' increments 'note', which is a string field; declare it as integer",
        f"{file}:23:13: transition 'close' stamps 'complaint' with the time, but it is a string field; "
        "declare it as datetime",
    ]


def test_guard_on_undeclared_field_is_refused():
    """A guard reading a field the flow does not declare (a typo) is refused at load, not refused forever."""
    err = meaning_error("guard_unknown_field.yaml", UnknownFieldError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/guard_unknown_field.yaml:17:38: transition 'close' guard: rule "
        "'field_true' parameter 'field' names field 'work_order_sigend', which the flow does not declare; "
        "did you mean 'work_order_signed'?; declare it under 'fields' or use one of: work_order_signed"
    )


def test_guard_fields_are_checked_by_their_first_part_and_in_other():
    """A dotted path is checked by the field it starts with, and 'other' names a field like 'field'."""
    err = meaning_error("guard_unknown_paths.yaml", UnknownFieldError)
    file = "tests/fixtures/flows/meaning/guard_unknown_paths.yaml"
    known = "declare it under 'fields' or use one of: final_inspection, mileage"
    assert [str(e) for e in err.errors] == [
        f"{file}:20:64: transition 'close' guard: rule 'field_compare' parameter 'other' names field "
        f"'mileage_in', which the flow does not declare; did you mean 'mileage'?; {known}",
        f"{file}:22:34: invariant: rule 'field_present' parameter 'field' names field 'final_inspecton' "
        f"(of 'final_inspecton.result'), which the flow does not declare; did you mean 'final_inspection'?; "
        f"{known}",
    ]


def test_unknown_comparison_operator_is_refused():
    """A guard with an operator no rule understands ('=>') is refused at load, listing the operators."""
    err = meaning_error("bad_operator.yaml", FlowShapeError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/bad_operator.yaml:17:50: transition 'close' guard: rule 'count_where' "
        "parameter 'op' must be one of '<', '<=', '==', '!=', '>=', '>' (got text '=>')"
    )


def test_literal_and_checked_parameters_of_a_registered_rule_are_refused_at_load():
    """A rule's Literal choices and its own argument checks refuse bad arguments when the flow loads."""
    time_compare = DEFAULT_REGISTRY.get("time_compare")
    assert time_compare is not None
    registry = RuleRegistry([*RULES, time_compare])

    def tyre_season(ctx, *, season: Literal["summer", "winter"] | None = None) -> None:
        return None

    registry.register("tyre_season", tyre_season, description="the tyres suit the season")
    with pytest.raises(FlowShapeError) as info:
        load_flow(MEANING / "bad_rule_arguments.yaml", rules=registry)
    file = "tests/fixtures/flows/meaning/bad_rule_arguments.yaml"
    assert [str(e) for e in info.value.errors] == [
        f"{file}:19:78: transition 'close' guard: rule 'time_compare' parameter 'offset': not a duration: "
        "'soon' (write e.g. '30m', '1h', '2d', '1d12h')",
        f"{file}:20:37: transition 'close' guard: rule 'tyre_season' parameter 'season' must be one of "
        "'summer', 'winter', null (got text 'spring')",
    ]


def test_rule_checks_must_name_parameters_of_the_rule():
    """Registering a load-time check for a parameter the rule does not take is a programming error."""
    registry = RuleRegistry()
    with pytest.raises(ValueError, match="checks name parameters it does not take: offset"):
        registry.register("always", lambda ctx: None, description="always", checks={"offset": lambda v: None})


# --- the graph --------------------------------------------------------------------------


def test_unreachable_state_is_refused():
    """A state no start event can lead to is refused at its name."""
    err = meaning_error("unreachable_state.yaml", GraphError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/unreachable_state.yaml:9:3: state 'on_hold' cannot be reached from any "
        "start event; add a transition into it or remove it"
    )


def test_non_terminal_dead_end_is_refused():
    """A reachable state with no way out that is not marked terminal is refused at its name."""
    err = meaning_error("dead_end.yaml", GraphError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/dead_end.yaml:9:3: state 'waiting_parts' is not terminal but has no "
        "way out; add a transition from it or mark it 'terminal: true'"
    )


def test_flow_without_reachable_terminal_is_refused():
    """A flow in which no terminal state can be reached is refused at 'states'."""
    err = meaning_error("no_terminal.yaml", GraphError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/no_terminal.yaml:7:1: no terminal state can be reached; mark the final "
        "states with 'terminal: true'"
    )


def test_trap_loop_is_refused_at_each_trapped_state():
    """States in a loop that can never reach a terminal state are each refused."""
    err = meaning_error("trap_loop.yaml", GraphError)
    file = "tests/fixtures/flows/meaning/trap_loop.yaml"
    assert [str(e) for e in err.errors] == [
        f"{file}:9:3: state 'in_repair' can never lead to a terminal state; add a way out of its loop",
        f"{file}:10:3: state 'quality_check' can never lead to a terminal state; add a way out of its loop",
    ]


def test_transition_out_of_terminal_state_is_refused():
    """A transition leaving a terminal state is refused at its 'from'."""
    err = meaning_error("leaves_terminal.yaml", GraphError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/leaves_terminal.yaml:12:27: transition 'reopen' leaves terminal state "
        "'closed'; a terminal state accepts no event (remove the transition or make the state non-terminal)"
    )


# --- ambiguous branches -----------------------------------------------------------------


def test_unguarded_branch_before_others_is_ambiguous():
    """An unguarded branch that is not the last one of its event hides the ones after it."""
    err = meaning_error("ambiguous_unguarded.yaml", AmbiguousTransitionError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/ambiguous_unguarded.yaml:14:5: event 'finish' has 2 branches from "
        "state 'quality_check', and this one (to 'cancelled') has no guard, so the branches after it could "
        "never be taken; give each branch a guard that tells them apart, or keep the unguarded one last"
    )


def test_branches_with_the_same_guard_are_ambiguous():
    """Two branches of one event from one state with the same guard are refused at the second."""
    err = meaning_error("ambiguous_same_guard.yaml", AmbiguousTransitionError)
    assert str(err) == (
        "tests/fixtures/flows/meaning/ambiguous_same_guard.yaml:15:5: event 'finish' has two branches from "
        "state 'quality_check' with the same guard (to 'closed' and to 'cancelled'); give each branch a "
        "guard that tells them apart"
    )


def test_guarded_branches_with_unguarded_fallback_last_load():
    """Guarded branches followed by one unguarded fallback are fine, and keep their order."""
    flow = load_flow(MEANING / "branches_ok.yaml", rules=RULES)
    assert [t.target for t in flow.branches("quality_check", "finish")] == ["closed", "in_repair"]


def test_meaning_errors_are_definition_errors():
    """Every meaning error is a FlowMeaningError and so a FlowDefinitionError."""
    for kind in (
        UnknownStateError,
        UnknownRuleError,
        UnknownRoleError,
        UnknownParameterError,
        UnknownFieldError,
        GraphError,
        AmbiguousTransitionError,
    ):
        assert issubclass(kind, FlowMeaningError)
        assert issubclass(kind, FlowDefinitionError)
