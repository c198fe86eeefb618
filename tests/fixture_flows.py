"""What the loader tests share: the fixtures folder and a fixed set of rules."""

from __future__ import annotations

from pathlib import Path

from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry

FLOWS = Path("tests/fixtures/flows")
"""The broken and valid fixture flows, relative to the repository root (messages name them so)."""


def fixed_rules() -> RuleRegistry:
    """A fixed set of rules, so that messages do not change when rules are added to the library."""
    names = ("count_where", "field_compare", "field_present", "field_true")
    registry = RuleRegistry(spec for name in names if (spec := DEFAULT_REGISTRY.get(name)) is not None)
    registry.register("work_order_signed", lambda ctx: None, description="the customer signed the work order")
    return registry


RULES = fixed_rules()
