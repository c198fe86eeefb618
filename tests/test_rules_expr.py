"""Tests for guard expressions and their evaluation (``aftersales_flow.rules._expr``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.rules import AllOf, AnyOf, Not, ParamRef, RuleCall, RuleContext, RuleRegistry, evaluate
from aftersales_flow.rules._expr import describe, rule_calls
from aftersales_flow.values import Reason

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
REGISTRY = RuleRegistry()


@REGISTRY.rule("confirmed", description="'{field}' is confirmed")
def _confirmed(ctx: RuleContext, *, field: str) -> str | None:
    return None if ctx.get(field) is True else f"'{field}' is not confirmed"


@REGISTRY.rule("at_least", description="'{field}' is at least {value}")
def _at_least(ctx: RuleContext, *, field: str, value: int) -> str | None:
    got = ctx.get(field)
    return None if isinstance(got, int) and got >= value else f"'{field}' is below {value}"


@REGISTRY.rule("two_problems", description="nothing is wrong twice")
def _two_problems(ctx: RuleContext) -> list[str]:
    return ["first problem", "second problem"]


@REGISTRY.rule("no_problems", description="nothing is wrong")
def _no_problems(ctx: RuleContext) -> list[str]:
    return []


@REGISTRY.rule("broken", description="a rule with a bug")
def _broken(ctx: RuleContext) -> str | None:
    raise RuntimeError("lines is not a list")


def _call(name: str, **args: Any) -> RuleCall:
    spec = REGISTRY.get(name)
    assert spec is not None
    return RuleCall(spec=spec, args=tuple(args.items()))


def _ctx(data: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> RuleContext:
    return RuleContext(
        data=data,
        before={},
        payload={},
        params=params or {},
        now=NOW,
        actor=af.Actor("sa-1", roles={"service_advisor"}),
        instance_id="RO-1",
        flow="repair_order",
        state="in_repair",
        event="x",
    )


WASH = _call("confirmed", field="wash_opt_in")
PAID = _call("confirmed", field="paid")
MILEAGE = _call("at_least", field="mileage_in", value=1000)


# --- rule calls ----------------------------------------------------------------------------


def test_rule_call_that_holds_gives_no_reasons() -> None:
    """A rule returning None gives an empty list."""
    assert evaluate(WASH, _ctx({"wash_opt_in": True})) == []


def test_rule_call_that_fails_gives_its_message() -> None:
    """A failing rule gives one Reason whose code and rule are the rule's name."""
    assert evaluate(WASH, _ctx({})) == [
        Reason(code="confirmed", message="'wash_opt_in' is not confirmed", rule="confirmed")
    ]


def test_rule_returning_several_messages_gives_several_reasons() -> None:
    """A rule returning a list gives one Reason per message, in order."""
    reasons = evaluate(_call("two_problems"), _ctx({}))
    assert [r.message for r in reasons] == ["first problem", "second problem"]
    assert {r.code for r in reasons} == {"two_problems"}


def test_rule_returning_an_empty_list_holds() -> None:
    """An empty list of messages means the rule holds."""
    assert evaluate(_call("no_problems"), _ctx({})) == []


def test_rule_that_raises_fails_closed() -> None:
    """A rule that raises refuses with a 'could not be checked' reason naming the error."""
    facts: dict[str, bool] = {}
    reasons = evaluate(_call("broken"), _ctx({}), facts)
    assert reasons == [
        Reason(
            code="rule_error",
            message="the rule 'broken' could not be checked (RuntimeError: lines is not a list)",
            rule="broken",
        )
    ]
    assert facts == {"broken": False}


def test_not_over_a_rule_that_raises_fails_closed() -> None:
    """``not`` of a rule that could not be checked still refuses: a broken rule never lets an event through.

    Today ``Not`` treats the error as "the item does not hold" and so holds, which lets a
    transition's ``unless`` with a broken rule pass (fail open).
    """
    reasons = evaluate(Not(_call("broken")), _ctx({}))
    assert reasons
    assert "could not be checked" in reasons[0].message


# --- parameter references ------------------------------------------------------------------


def test_param_ref_is_resolved_at_evaluation_time() -> None:
    """A ``{param: name}`` argument takes the value of ctx.params when the guard is evaluated."""
    guard = _call("at_least", field="mileage_in", value=ParamRef("min_mileage"))
    data = {"mileage_in": 5000}
    assert evaluate(guard, _ctx(data, {"min_mileage": 1000})) == []
    reasons = evaluate(guard, _ctx(data, {"min_mileage": 9000}))
    assert [r.message for r in reasons] == ["'mileage_in' is below 9000"]


def test_param_ref_to_an_absent_param_fails_closed() -> None:
    """A parameter missing from ctx.params makes the rule refuse, not crash."""
    guard = _call("at_least", field="mileage_in", value=ParamRef("min_mileage"))
    reasons = evaluate(guard, _ctx({"mileage_in": 5000}))
    assert len(reasons) == 1
    assert reasons[0].message.startswith("the rule 'at_least' could not be checked (KeyError")


def test_resolve_replaces_only_param_refs() -> None:
    """resolve() swaps parameter references for values and keeps literal arguments."""
    call = _call("at_least", field="mileage_in", value=ParamRef("min_mileage"))
    assert call.resolve({"min_mileage": 10}) == {"field": "mileage_in", "value": 10}


# --- all ---------------------------------------------------------------------------------


def test_all_holds_when_every_item_holds() -> None:
    """``all`` of holding items gives no reasons."""
    assert evaluate(AllOf((WASH, PAID)), _ctx({"wash_opt_in": True, "paid": True})) == []


def test_all_collects_every_failing_reason() -> None:
    """``all`` evaluates every item, so the refusal names every missing fact in order."""
    reasons = evaluate(AllOf((WASH, MILEAGE, PAID)), _ctx({"mileage_in": 2000}))
    assert [r.message for r in reasons] == ["'wash_opt_in' is not confirmed", "'paid' is not confirmed"]


def test_empty_all_holds() -> None:
    """``all`` of nothing holds."""
    assert evaluate(AllOf(()), _ctx({})) == []


# --- any ---------------------------------------------------------------------------------


def test_any_holds_when_one_item_holds() -> None:
    """``any`` holds as soon as one alternative holds."""
    assert evaluate(AnyOf((WASH, PAID)), _ctx({"paid": True})) == []


def test_any_stops_at_the_first_item_that_holds() -> None:
    """Alternatives after the first holding one are not evaluated."""
    facts: dict[str, bool] = {}
    evaluate(AnyOf((WASH, PAID, _call("broken"))), _ctx({"paid": True}), facts)
    assert facts == {"confirmed(field='wash_opt_in')": False, "confirmed(field='paid')": True}


def test_any_message_lists_the_alternatives() -> None:
    """A failing ``any`` gives one reason listing each alternative's messages, joined by 'or'."""
    reasons = evaluate(AnyOf((WASH, _call("two_problems"))), _ctx({}))
    assert reasons == [
        Reason(
            code="confirmed",
            message="one of these must hold: 'wash_opt_in' is not confirmed; or first problem, second problem",
            rule="confirmed(field='wash_opt_in') | two_problems",
        )
    ]


# --- not ---------------------------------------------------------------------------------


def test_not_holds_when_its_item_fails() -> None:
    """``not`` holds when the item does not."""
    assert evaluate(Not(WASH), _ctx({})) == []


def test_not_fails_when_its_item_holds() -> None:
    """A failing ``not`` says what must not be the case, from the item's description."""
    reasons = evaluate(Not(WASH), _ctx({"wash_opt_in": True}))
    assert reasons == [
        Reason(
            code="not",
            message="this must not be the case: 'wash_opt_in' is confirmed",
            rule="not(confirmed(field='wash_opt_in'))",
        )
    ]


def test_not_message_resolves_param_refs() -> None:
    """The ``not`` message shows parameter values, not references."""
    guard = Not(_call("at_least", field="mileage_in", value=ParamRef("limit")))
    reasons = evaluate(guard, _ctx({"mileage_in": 50}, {"limit": 10}))
    assert [r.message for r in reasons] == ["this must not be the case: 'mileage_in' is at least 10"]


# --- facts -------------------------------------------------------------------------------


def test_facts_record_each_rule_calls_outcome() -> None:
    """``facts`` maps each evaluated rule call's repr to whether it held."""
    facts: dict[str, bool] = {}
    guard = AllOf((WASH, Not(PAID), MILEAGE))
    evaluate(guard, _ctx({"wash_opt_in": True, "paid": True}), facts)
    assert facts == {
        "confirmed(field='wash_opt_in')": True,
        "confirmed(field='paid')": True,
        "at_least(field='mileage_in', value=1000)": False,
    }


def test_facts_are_optional() -> None:
    """Evaluating without a facts dict gives the same reasons."""
    guard = AllOf((WASH, PAID))
    facts: dict[str, bool] = {}
    assert evaluate(guard, _ctx({}), facts) == evaluate(guard, _ctx({}))


def test_facts_key_shows_param_refs() -> None:
    """A rule call with a parameter reference is recorded under ``params.<name>``."""
    facts: dict[str, bool] = {}
    evaluate(_call("at_least", field="mileage_in", value=ParamRef("limit")), _ctx({}, {"limit": 1}), facts)
    assert facts == {"at_least(field='mileage_in', value=params.limit)": False}


# --- repr, describe, rule_calls ------------------------------------------------------------


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        (_call("no_problems"), "no_problems"),
        (WASH, "confirmed(field='wash_opt_in')"),
        (AllOf((WASH, PAID)), "all(confirmed(field='wash_opt_in'), confirmed(field='paid'))"),
        (AnyOf((WASH, Not(PAID))), "any(confirmed(field='wash_opt_in'), not(confirmed(field='paid')))"),
        (_call("at_least", field="x", value=ParamRef("n")), "at_least(field='x', value=params.n)"),
    ],
)
def test_reprs_read_like_the_yaml(guard: Any, expected: str) -> None:
    """Guards print as compact expressions naming rules and arguments."""
    assert repr(guard) == expected


def test_describe_a_rule_call_fills_its_description() -> None:
    """describe() of a rule call is its description with the arguments (params resolved)."""
    guard = _call("at_least", field="mileage_in", value=ParamRef("limit"))
    assert describe(guard, {"limit": 1000}) == "'mileage_in' is at least 1000"


def test_describe_combines_with_and_or_not() -> None:
    """describe() joins ``all`` with 'and', ``any`` with 'or', and wraps ``not``."""
    assert describe(AllOf((WASH, PAID)), {}) == "'wash_opt_in' is confirmed and 'paid' is confirmed"
    assert describe(AnyOf((WASH, PAID)), {}) == "'wash_opt_in' is confirmed or 'paid' is confirmed"
    assert describe(Not(WASH), {}) == "not ('wash_opt_in' is confirmed)"


def test_describe_keeps_nesting_apart() -> None:
    """Differently nested guards get different descriptions: a nested ``all``/``any`` is bracketed.

    Today both read "'wash_opt_in' is confirmed and 'paid' is confirmed or 'mileage_in' is at
    least 1000", so an ``unless`` or ``not`` message can say something the guard does not.
    """
    mileage = "'mileage_in' is at least 1000"
    one = describe(AllOf((WASH, AnyOf((PAID, MILEAGE)))), {})
    other = describe(AnyOf((AllOf((WASH, PAID)), MILEAGE)), {})
    assert one != other
    assert one == f"'wash_opt_in' is confirmed and ('paid' is confirmed or {mileage})"


def test_rule_calls_lists_every_call_in_order() -> None:
    """rule_calls() walks all/any/not and lists the rule calls left to right."""
    guard = AllOf((WASH, AnyOf((Not(PAID), MILEAGE))))
    assert rule_calls(guard) == [WASH, PAID, MILEAGE]
    assert rule_calls(None) == []


def test_guards_are_frozen_values() -> None:
    """Two guards written alike are equal, and a guard cannot be changed."""
    assert AllOf((WASH, PAID)) == AllOf((_call("confirmed", field="wash_opt_in"), PAID))
    with pytest.raises(AttributeError):
        WASH.args = ()  # type: ignore[misc]
