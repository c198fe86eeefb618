"""Guards as named rules: the registry, combinators, and the built-in rules.

A guard in YAML names a rule (``work_order_signed``), gives one parameters
(``{rule: field_present, field: promised_completion_at}``), or combines rules with
``all`` / ``any`` / ``not``; a transition's ``unless`` is a guard that must not hold.
Integrators add rules with :func:`rule` (default registry) or their own
:class:`RuleRegistry`.
"""

from aftersales_flow.rules import appointment, builtin, callback, complaint, customer_care, dealership
from aftersales_flow.rules._expr import AllOf, AnyOf, Explained, Guard, Not, ParamRef, RuleCall, evaluate
from aftersales_flow.rules._registry import (
    DEFAULT_REGISTRY,
    MISSING,
    RuleContext,
    RuleRegistry,
    RuleSpec,
    get_path,
    rule,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "MISSING",
    "AllOf",
    "AnyOf",
    "Explained",
    "Guard",
    "Not",
    "ParamRef",
    "RuleCall",
    "RuleContext",
    "RuleRegistry",
    "RuleSpec",
    "appointment",
    "builtin",
    "callback",
    "complaint",
    "customer_care",
    "dealership",
    "evaluate",
    "get_path",
    "rule",
]
