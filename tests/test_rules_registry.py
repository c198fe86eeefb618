"""Tests for the rule registry and the rule context (``aftersales_flow.rules._registry``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import aftersales_flow as af
from aftersales_flow.rules import (
    DEFAULT_REGISTRY,
    MISSING,
    RuleContext,
    RuleRegistry,
    RuleSpec,
    builtin,
    dealership,
    get_path,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _ctx(data: dict[str, Any]) -> RuleContext:
    return RuleContext(
        data=data,
        before={},
        payload={},
        params={},
        now=NOW,
        actor=af.Actor("sa-1", roles={"service_advisor"}),
        instance_id="RO-1",
        flow="repair_order",
        state="in_repair",
        event="x",
    )


def _holds(ctx: RuleContext) -> None:
    return None


@pytest.fixture
def registry() -> RuleRegistry:
    return RuleRegistry()


@pytest.fixture
def clean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register in the default registry; its rules are gone afterwards."""
    monkeypatch.setattr(DEFAULT_REGISTRY, "_rules", dict(DEFAULT_REGISTRY._rules))


# --- get_path and RuleContext.get ----------------------------------------------------------


def test_get_path_reads_a_top_level_key() -> None:
    """A plain name reads the key of that name."""
    assert get_path({"ro_id": "RO-1"}, "ro_id") == "RO-1"


def test_get_path_follows_dotted_paths() -> None:
    """A dotted path walks nested mappings."""
    data = {"final_inspection": {"result": "pass", "by": {"id": "qc-1"}}}
    assert get_path(data, "final_inspection.result") == "pass"
    assert get_path(data, "final_inspection.by.id") == "qc-1"


@pytest.mark.parametrize(
    "path",
    ["absent", "vehicle.plate", "final_inspection.result.code", "lines.0", "final_inspection.absent"],
)
def test_get_path_gives_missing_for_absent_fields(path: str) -> None:
    """An absent key, or a path through a non-mapping, gives MISSING."""
    data = {"vehicle": None, "final_inspection": {"result": "pass"}, "lines": [{"line_id": "L1"}]}
    assert get_path(data, path) is MISSING


def test_get_path_tells_none_from_missing() -> None:
    """A field recorded as null is None, not MISSING."""
    assert get_path({"note": None}, "note") is None
    assert get_path({"a": {"note": None}}, "a.note") is None


def test_context_get_reads_the_prospective_data() -> None:
    """RuleContext.get reads ``data`` (with the payload merged), not ``before``."""
    ctx = RuleContext(
        data={"road_test": {"result": "pass"}},
        before={"road_test": {"result": "fail"}},
        payload={},
        params={},
        now=NOW,
        actor=af.Actor("sa-1"),
        instance_id="RO-1",
        flow="repair_order",
        state="final_inspection",
        event="qc_passed",
    )
    assert ctx.get("road_test.result") == "pass"
    assert ctx.get("absent") is MISSING
    assert ctx.target is None


def test_missing_is_falsy_so_the_documented_example_rule_works() -> None:
    """MISSING is falsy, so the RuleRegistry docstring's ``None if ctx.get(...) else msg`` rule fails closed.

    The class docstring's example ``has_plate`` tests the value's truth; with a truthy MISSING
    an absent plate would pass the rule.
    """
    assert not MISSING
    assert not _ctx({}).get("vehicle.plate")


# --- register and rule ---------------------------------------------------------------------


def test_rule_decorator_registers_and_returns_the_function(registry: RuleRegistry) -> None:
    """The decorator registers the function under the name and hands the function back unchanged."""

    def has_plate(ctx: RuleContext) -> str | None:
        return None if ctx.get("vehicle.plate") is not MISSING else "the plate number is not recorded"

    decorated = registry.rule("has_plate", description="the plate number is recorded")(has_plate)
    assert decorated is has_plate
    spec = registry.get("has_plate")
    assert spec is not None
    assert spec.function is has_plate
    assert spec.description == "the plate number is recorded"
    assert spec.function(_ctx({"vehicle": {"plate": "京A12345"}})) is None
    assert spec.function(_ctx({})) == "the plate number is not recorded"


def test_register_returns_the_spec(registry: RuleRegistry) -> None:
    """register() returns the RuleSpec it stored."""
    spec = registry.register("always", _holds, description="always holds")
    assert isinstance(spec, RuleSpec)
    assert registry.get("always") is spec
    assert spec.name == "always"
    assert spec.required == frozenset()
    assert spec.optional == frozenset()


@pytest.mark.parametrize("name", ["has_plate", "x", "rule2", "_private"])
def test_register_accepts_lowercase_identifiers(registry: RuleRegistry, name: str) -> None:
    """Lowercase Python identifiers are valid rule names."""
    registry.register(name, _holds, description="d")
    assert name in registry


@pytest.mark.parametrize("name", ["HasPlate", "has_Plate", "has-plate", "has plate", "2fast", "", "a.b"])
def test_register_rejects_names_that_are_not_snake_case(registry: RuleRegistry, name: str) -> None:
    """A name with capitals, dashes, spaces, dots or a leading digit is refused, quoting it."""
    with pytest.raises(ValueError, match="rule names are snake_case identifiers") as caught:
        registry.register(name, _holds, description="d")
    assert repr(name) in str(caught.value)
    assert name not in registry


def test_register_rejects_a_name_twice(registry: RuleRegistry) -> None:
    """Registering the same name again is refused and keeps the first rule."""
    first = registry.register("always", _holds, description="first")
    with pytest.raises(ValueError, match="a rule named 'always' is already registered"):
        registry.register("always", _holds, description="second")
    assert registry.get("always") is first


def test_register_needs_a_context_parameter(registry: RuleRegistry) -> None:
    """A function without a positional first parameter for the context is refused."""

    def no_params() -> None:
        return None

    def keyword_first(*, ctx: RuleContext) -> None:
        return None

    for function in (no_params, keyword_first):
        with pytest.raises(ValueError, match="rule 'bad': the first parameter must take the RuleContext"):
            registry.register("bad", function, description="d")
    assert "bad" not in registry


def test_register_needs_keyword_only_parameters(registry: RuleRegistry) -> None:
    """Rule parameters after the context must be keyword-only; the message names the parameter."""

    def positional(ctx: RuleContext, field: str) -> None:
        return None

    def var_keyword(ctx: RuleContext, **options: Any) -> None:
        return None

    with pytest.raises(ValueError, match="rule 'bad': parameter 'field' must be keyword-only"):
        registry.register("bad", positional, description="d")
    with pytest.raises(ValueError, match="parameter 'options' must be keyword-only"):
        registry.register("bad", var_keyword, description="d")
    assert "bad" not in registry


def test_parameters_without_default_are_required(registry: RuleRegistry) -> None:
    """Keyword-only parameters without a default are required, those with one optional."""

    def check(
        ctx: RuleContext, *, field: str, op: str, value: int = 0, where: dict[str, Any] | None = None
    ) -> None:
        return None

    spec = registry.register("check", check, description="d")
    assert spec.required == frozenset({"field", "op"})
    assert spec.optional == frozenset({"value", "where"})
    assert spec.parameters == frozenset({"field", "op", "value", "where"})


def test_types_come_from_annotations(registry: RuleRegistry) -> None:
    """Each parameter's accepted types are read from its annotation."""

    def check(
        ctx: RuleContext,
        *,
        text: str,
        count: int,
        flag: bool,
        amount: float,
        names: list[str] | None = None,
        where: dict[str, Any] | None = None,
        anything: Any = None,
        pair: tuple[int, int] = (0, 0),
        maybe: str | int | None = None,
    ) -> None:
        return None

    spec = registry.register("check", check, description="d")
    assert spec.types["text"] == (str,)
    assert spec.types["count"] == (int,)
    assert spec.types["flag"] == (bool,)
    assert spec.types["names"] == (list, type(None))
    assert spec.types["where"] == (dict, type(None))
    assert spec.types["anything"] == (object,)
    assert spec.types["pair"] == (list,)
    assert spec.types["maybe"] == (str, int, type(None))


def test_float_parameters_accept_int(registry: RuleRegistry) -> None:
    """A ``float`` parameter accepts whole numbers too, as YAML writes ``threshold: 0``."""

    def check(ctx: RuleContext, *, threshold: float = 0) -> None:
        return None

    assert registry.register("check", check, description="d").types["threshold"] == (int, float)


def test_unannotated_parameters_accept_anything(registry: RuleRegistry) -> None:
    """A parameter without an annotation accepts any value."""

    def check(ctx, *, field):  # type: ignore[no-untyped-def]
        return None

    assert registry.register("check", check, description="d").types["field"] == (object,)


def test_unresolvable_annotations_accept_anything(registry: RuleRegistry) -> None:
    """Annotations that cannot be resolved do not block registration; the parameter takes any value."""

    def check(ctx: RuleContext, *, field: NoSuchType) -> None:  # type: ignore[name-defined] # noqa: F821
        return None

    spec = registry.register("check", check, description="d")
    assert spec.types["field"] == (object,)
    assert spec.required == frozenset({"field"})


# --- get, names, copy, container protocol --------------------------------------------------


def test_get_unknown_name_is_none(registry: RuleRegistry) -> None:
    """get() of an unregistered name is None."""
    assert registry.get("nothing") is None


def test_names_are_sorted(registry: RuleRegistry) -> None:
    """names() lists every registered name in alphabetical order."""
    for name in ("warranty_decided", "authorized", "kit_installed"):
        registry.register(name, _holds, description="d")
    assert registry.names() == ["authorized", "kit_installed", "warranty_decided"]


def test_registry_is_a_container_of_specs(registry: RuleRegistry) -> None:
    """A registry supports ``in``, ``len`` and iterating over its specs."""
    spec = registry.register("always", _holds, description="d")
    assert "always" in registry
    assert "never" not in registry
    assert 42 not in registry
    assert len(registry) == 1
    assert list(registry) == [spec]


def test_registry_built_from_specs() -> None:
    """A registry can start from existing specs."""
    spec = RuleRegistry().register("always", _holds, description="d")
    assert RuleRegistry([spec]).get("always") is spec


def test_copy_is_independent(registry: RuleRegistry) -> None:
    """Rules added to a copy do not appear in the original, and vice versa."""
    registry.register("always", _holds, description="d")
    copied = registry.copy()
    copied.register("only_in_copy", _holds, description="d")
    registry.register("only_in_original", _holds, description="d")
    assert copied.names() == ["always", "only_in_copy"]
    assert registry.names() == ["always", "only_in_original"]
    assert copied.get("always") is registry.get("always")


# --- RuleSpec.describe ---------------------------------------------------------------------


def test_describe_fills_in_arguments(registry: RuleRegistry) -> None:
    """The description's ``{name}`` placeholders are filled with the arguments."""
    spec = registry.register("check", _holds, description="'{field}' is {value!r}")
    assert spec.describe({"field": "wash_opt_in", "value": True}) == "'wash_opt_in' is True"


def test_describe_leaves_unknown_placeholders(registry: RuleRegistry) -> None:
    """Placeholders without an argument stay as written."""
    spec = registry.register("check", _holds, description="'{field}' {op} {value}")
    assert spec.describe({"field": "mileage_in"}) == "'mileage_in' {op} {value}"


def test_describe_falls_back_on_a_broken_description(registry: RuleRegistry) -> None:
    """A description that cannot be formatted is returned as written."""
    spec = registry.register("check", _holds, description="'{field' is open")
    assert spec.describe({"field": "x"}) == "'{field' is open"


# --- the default registry ------------------------------------------------------------------


def test_default_registry_holds_the_builtin_and_dealership_rules() -> None:
    """The generic and dealership rules are registered under their function names."""
    for name in ("field_present", "count_where", "time_compare", "payload_has"):
        spec = DEFAULT_REGISTRY.get(name)
        assert spec is not None
        assert spec.function is getattr(builtin, name)
    for name in ("signed", "no_unauthorized_work", "declines_signed", "settlement_within_authorization"):
        spec = DEFAULT_REGISTRY.get(name)
        assert spec is not None
        assert spec.function is getattr(dealership, name)


def test_default_registry_introspects_the_shipped_rules() -> None:
    """The shipped rules' parameters and types are read from their signatures."""
    compare = DEFAULT_REGISTRY.get("field_compare")
    assert compare is not None
    assert compare.required == frozenset({"field", "op"})
    assert compare.optional == frozenset({"value", "other"})
    assert compare.types["other"] == (str, type(None))
    signed = DEFAULT_REGISTRY.get("signed")
    assert signed is not None
    assert signed.types["methods"] == (list, type(None))
    settlement = DEFAULT_REGISTRY.get("settlement_within_authorization")
    assert settlement is not None
    assert settlement.types["threshold"] == (int, float)


@pytest.mark.usefixtures("clean_default")
def test_af_rule_registers_in_the_default_registry() -> None:
    """``af.rule`` registers a rule that flows loaded with the default registry can name."""

    @af.rule("loaner_returned", description="the loaner car is returned")
    def loaner_returned(ctx: RuleContext, *, field: str = "loaner.returned_at") -> str | None:
        return None if ctx.get(field) is not MISSING else "the loaner car is not returned"

    spec = DEFAULT_REGISTRY.get("loaner_returned")
    assert spec is not None
    assert spec.function is loaner_returned
    assert spec.optional == frozenset({"field"})
    assert loaner_returned(_ctx({})) == "the loaner car is not returned"


@pytest.mark.usefixtures("clean_default")
def test_af_rule_refuses_shadowing_a_shipped_rule() -> None:
    """A user rule cannot replace a shipped rule of the same name."""
    with pytest.raises(ValueError, match="a rule named 'signed' is already registered"):
        af.rule("signed", description="d")(_holds)
    spec = DEFAULT_REGISTRY.get("signed")
    assert spec is not None
    assert spec.function is dealership.signed


def test_a_description_names_the_default_of_an_argument_not_given() -> None:
    """A rule's description fills in a parameter's default when the flow leaves the argument out."""
    from aftersales_flow.rules import DEFAULT_REGISTRY

    spec = DEFAULT_REGISTRY.get("signed")
    assert spec.describe({"field": "work_order_signature"}) == (
        "'work_order_signature' is signed by the customer"
    )
    assert spec.describe({"field": "qc_sign_off", "signer_role": "qc_inspector"}) == (
        "'qc_sign_off' is signed by the qc_inspector"
    )


def test_with_data_is_evolve_with_other_data() -> None:
    """RuleContext.with_data(d) equals attrs.evolve(ctx, data=d), every other field kept."""
    ctx = RuleContext(
        data={"a": 1},
        before={"a": 0},
        payload={"a": 1},
        params={"p": 2},
        now=datetime(2024, 5, 1, tzinfo=UTC),
        actor=af.Actor("sa-1", roles={"service_advisor"}),
        instance_id="RO-1",
        flow="repair_order",
        state="a",
        event="go",
        target="b",
    )
    assert ctx.with_data({"b": 2}) == attrs.evolve(ctx, data={"b": 2})
