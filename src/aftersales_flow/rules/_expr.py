"""Guard expressions: rule calls combined with all / any / not, and their evaluation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from aftersales_flow._frozen import thaw
from aftersales_flow.rules._registry import RuleContext, RuleSpec
from aftersales_flow.values import Reason


@attrs.frozen
class ParamRef:
    """An argument that takes the value of one of the flow's parameters (``{param: name}``)."""

    name: str

    def __repr__(self) -> str:
        return f"params.{self.name}"


@attrs.frozen(kw_only=True)
class RuleCall:
    """A named rule with its arguments, as written in a guard."""

    spec: RuleSpec
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.spec.name

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments with parameter references replaced by the parameters' values."""
        # Flow parameters are frozen (tuples, mapping proxies); rules get plain lists and dicts.
        return {k: thaw(params[v.name]) if isinstance(v, ParamRef) else v for k, v in self.args}

    def __repr__(self) -> str:
        if not self.args:
            return self.name
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"{self.name}({inner})"


@attrs.frozen
class AllOf:
    """Holds when every item holds."""

    items: tuple[Guard, ...]

    def __repr__(self) -> str:
        return "all(" + ", ".join(map(repr, self.items)) + ")"


@attrs.frozen
class AnyOf:
    """Holds when at least one item holds."""

    items: tuple[Guard, ...]

    def __repr__(self) -> str:
        return "any(" + ", ".join(map(repr, self.items)) + ")"


@attrs.frozen
class Not:
    """Holds when its item does not."""

    item: Guard

    def __repr__(self) -> str:
        return f"not({self.item!r})"


@attrs.frozen
class Explained:
    """A guard with the flow author's own words for its failure (``message:`` in YAML)."""

    item: Guard
    message: str

    def __repr__(self) -> str:
        return repr(self.item)


Guard = RuleCall | AllOf | AnyOf | Not | Explained


def rule_calls(guard: Guard | None) -> list[RuleCall]:
    """Every rule call inside ``guard``, in order."""
    if guard is None:
        return []
    if isinstance(guard, RuleCall):
        return [guard]
    if isinstance(guard, Not | Explained):
        return rule_calls(guard.item)
    return [call for item in guard.items for call in rule_calls(item)]


def describe(guard: Guard, params: Mapping[str, Any]) -> str:
    """A plain-words description of what ``guard`` demands."""
    if isinstance(guard, RuleCall):
        return guard.spec.describe(guard.resolve(params))
    if isinstance(guard, Explained):
        return guard.message
    if isinstance(guard, Not):
        return f"not ({describe(guard.item, params)})"
    joiner = " and " if isinstance(guard, AllOf) else " or "
    parts = []
    for item in guard.items:
        text = describe(item, params)
        parts.append(f"({text})" if isinstance(item, AllOf | AnyOf) else text)
    return joiner.join(parts)


RULE_ERROR = "rule_error"
"""The code of a reason saying a rule could not be checked (it raised)."""


def rule_errors(reasons: list[Reason]) -> list[Reason]:
    """The reasons that say a rule could not be checked; they refuse under ``not`` too."""
    return [reason for reason in reasons if reason.code == RULE_ERROR]


def _call(call: RuleCall, ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
    try:
        result = call.spec.function(ctx, **call.resolve(ctx.params))
    except Exception as exc:  # noqa: BLE001 - a broken rule refuses (fails closed) and says why
        if facts is not None:
            facts[repr(call)] = False
        message = f"the rule '{call.name}' could not be checked ({type(exc).__name__}: {exc})"
        return [Reason(code=RULE_ERROR, message=message, rule=call.name)]
    if result is None:
        messages: list[str] = []
    elif isinstance(result, str):
        messages = [result]
    else:
        messages = list(result)
    if facts is not None:
        facts[repr(call)] = not messages
    return [Reason(code=call.name, message=m, rule=call.name) for m in messages]


def evaluate(guard: Guard, ctx: RuleContext, facts: dict[str, bool] | None = None) -> list[Reason]:
    """Every reason ``guard`` fails for in ``ctx``; an empty list when it holds.

    ``all`` evaluates each item, so a refusal names every missing fact; ``facts`` (when
    given) collects each rule call's outcome for the audit record.
    """
    if isinstance(guard, RuleCall):
        return _call(guard, ctx, facts)
    if isinstance(guard, AllOf):
        reasons: list[Reason] = []
        for item in guard.items:
            reasons.extend(evaluate(item, ctx, facts))
        return reasons
    if isinstance(guard, AnyOf):
        failures: list[list[Reason]] = []
        for item in guard.items:
            found = evaluate(item, ctx, facts)
            if not found:
                return []
            failures.append(found)
        message = "one of these must hold: " + "; or ".join(
            ", ".join(r.message for r in found) for found in failures
        )
        # The first alternative names the usual way to satisfy it (e.g. call_time_allowed).
        return [
            Reason(code=failures[0][0].code, message=message, rule=" | ".join(repr(i) for i in guard.items))
        ]
    inner = evaluate(guard.item, ctx, facts)
    errors = rule_errors(inner)
    if isinstance(guard, Explained):
        if not inner:
            return []
        code = inner[0].code if len({r.code for r in inner}) == 1 else "explained"
        return [Reason(code=code, message=guard.message, rule=repr(guard.item)), *errors]
    if errors:  # a rule that could not be checked must not turn into "does not hold"
        return errors
    if inner:
        return []
    what = describe(guard.item, ctx.params)
    return [Reason(code="not", message=f"this must not be the case: {what}", rule=repr(guard))]


Check = Callable[[RuleContext, "dict[str, bool] | None"], list[Reason]]
"""A compiled guard: ``check(ctx, facts)`` gives exactly what ``evaluate(guard, ctx, facts)`` gives."""


def compile_guard(guard: Guard) -> Check:
    """``guard`` as a function of the context, with what :func:`evaluate` recomputes worked out once.

    Each rule call's ``repr`` (its key in the audit record's ``guards``) and its arguments,
    when they name no parameter, are fixed here; the reasons are those :func:`evaluate`
    gives, word for word.
    """
    if isinstance(guard, RuleCall):
        return _compile_call(guard)
    if isinstance(guard, AllOf):
        return _compile_all(tuple(compile_guard(item) for item in guard.items))
    if isinstance(guard, AnyOf):
        return _compile_any(guard, tuple(compile_guard(item) for item in guard.items))

    def check(ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
        return evaluate(guard, ctx, facts)

    return check


def _compile_call(call: RuleCall) -> Check:
    key = repr(call)
    name = call.name
    function = call.spec.function
    fixed = None if any(isinstance(value, ParamRef) for _, value in call.args) else dict(call.args)

    def check(ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
        try:
            result = function(ctx, **(fixed if fixed is not None else call.resolve(ctx.params)))
        except Exception as exc:  # noqa: BLE001 - a broken rule refuses (fails closed) and says why
            if facts is not None:
                facts[key] = False
            message = f"the rule '{name}' could not be checked ({type(exc).__name__}: {exc})"
            return [Reason(code=RULE_ERROR, message=message, rule=name)]
        if result is None:
            if facts is not None:
                facts[key] = True
            return []
        messages = [result] if isinstance(result, str) else list(result)
        if facts is not None:
            facts[key] = not messages
        return [Reason(code=name, message=m, rule=name) for m in messages]

    return check


def _compile_all(items: tuple[Check, ...]) -> Check:
    def check(ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
        reasons: list[Reason] = []
        for item in items:
            reasons.extend(item(ctx, facts))
        return reasons

    return check


def _compile_any(guard: AnyOf, items: tuple[Check, ...]) -> Check:
    rule = " | ".join(repr(i) for i in guard.items)

    def check(ctx: RuleContext, facts: dict[str, bool] | None) -> list[Reason]:
        failures: list[list[Reason]] = []
        for item in items:
            found = item(ctx, facts)
            if not found:
                return []
            failures.append(found)
        message = "one of these must hold: " + "; or ".join(
            ", ".join(r.message for r in found) for found in failures
        )
        return [Reason(code=failures[0][0].code, message=message, rule=rule)]

    return check
