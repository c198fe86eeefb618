"""The registry of named rules, and the context a rule sees."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs

from aftersales_flow.values import Actor


class _Missing:
    """The absence of a value: falsy, so ``if ctx.get("x")`` reads naturally."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Returned by :func:`get_path` when a field is absent (falsy; compare with ``is``)."""


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` in ``data`` (``final_inspection.result``), or MISSING."""
    if "." not in path:
        return data.get(path, MISSING)
    value: Any = data
    for part in path.split("."):
        if (type(value) is dict or isinstance(value, Mapping)) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


@attrs.frozen(kw_only=True)
class RuleContext:
    """What a rule sees when it is evaluated.

    ``data`` is the instance's data as it would be if the event were accepted (the current
    data with the payload merged in); ``before`` is the data as stored now.
    """

    data: Mapping[str, Any]
    before: Mapping[str, Any]
    payload: Mapping[str, Any]
    params: Mapping[str, Any]
    now: datetime
    actor: Actor
    instance_id: str
    flow: str
    state: str | None
    event: str
    target: str | None = None

    def get(self, path: str) -> Any:
        """The value at ``path`` in :attr:`data`, or :data:`MISSING`."""
        return get_path(self.data, path)

    def with_data(self, data: Mapping[str, Any]) -> RuleContext:
        """The same context seeing ``data`` (``attrs.evolve(self, data=data)``, for less)."""
        return RuleContext(
            data=data,
            before=self.before,
            payload=self.payload,
            params=self.params,
            now=self.now,
            actor=self.actor,
            instance_id=self.instance_id,
            flow=self.flow,
            state=self.state,
            event=self.event,
            target=self.target,
        )


RuleResult = None | str | Iterable[str]
"""``None`` when the rule holds; else one message, or several, saying what is wrong."""

RuleFunction = Callable[..., RuleResult]

ArgumentCheck = Callable[[Any], str | None]
"""Checks one argument when a flow is loaded: ``None`` when it is usable, else what is wrong."""


@attrs.frozen(kw_only=True)
class RuleSpec:
    """A registered rule: its name, function, description and parameters.

    ``types`` are the types each parameter accepts, ``choices`` the only values a parameter
    annotated ``Literal[...]`` accepts, and ``checks`` the rule's own load-time checks of an
    argument (see :meth:`RuleRegistry.register`).
    """

    name: str
    function: RuleFunction = attrs.field(eq=False, repr=False)
    description: str
    required: frozenset[str]
    optional: frozenset[str]
    types: Mapping[str, tuple[type, ...]] = attrs.field(eq=False, repr=False)
    choices: Mapping[str, tuple[Any, ...]] = attrs.field(factory=dict, eq=False, repr=False)
    checks: Mapping[str, ArgumentCheck] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def parameters(self) -> frozenset[str]:
        """Every parameter the rule takes."""
        return self.required | self.optional

    def describe(self, args: Mapping[str, Any]) -> str:
        """The description with the arguments (or the defaults of those not given) filled in."""
        try:
            return self.description.format_map(_Defaulting({**_defaults(self.function), **args}))
        except (ValueError, IndexError, AttributeError):
            return self.description


def _defaults(function: RuleFunction) -> dict[str, Any]:
    """The keyword parameters of a rule function that have a default, with it."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values a ``Literal[...]`` annotation (optionally ``| None``) allows, else None."""
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)
    if origin is not Union and origin is not types.UnionType:
        return None
    found: list[Any] = []
    for arg in get_args(annotation):
        inner = (None,) if arg is type(None) else _choices(arg)
        if inner is None:
            return None
        found.extend(inner)
    return tuple(found)


def _accepted_types(annotation: Any) -> tuple[type, ...]:
    origin = get_origin(annotation) or annotation
    if origin is Literal:
        return tuple(dict.fromkeys(type(choice) for choice in get_args(annotation)))
    if origin is Union or origin is types.UnionType:
        found: tuple[type, ...] = ()
        for arg in get_args(annotation):
            found += _accepted_types(arg)
        return found
    if origin is float:
        return (int, float)
    if origin in (list, tuple) or (
        isinstance(origin, type) and issubclass(origin, Iterable) and origin is not str
    ):
        if isinstance(origin, type) and issubclass(origin, Mapping):
            return (dict,)
        return (list,)
    if origin is type(None):
        return (type(None),)
    if origin in (str, int, bool, dict):
        return (origin,)
    return (object,)


class RuleRegistry:
    """Named rules that guards refer to from YAML.

    >>> registry = RuleRegistry()
    >>> @registry.rule("has_plate", description="the vehicle's plate number is recorded")
    ... def has_plate(ctx: RuleContext) -> str | None:
    ...     return None if ctx.get("vehicle.plate") else "the plate number is not recorded"
    """

    def __init__(self, rules: Iterable[RuleSpec] = ()) -> None:
        self._rules: dict[str, RuleSpec] = {spec.name: spec for spec in rules}

    def rule(
        self, name: str, *, description: str, checks: Mapping[str, ArgumentCheck] | None = None
    ) -> Callable[[RuleFunction], RuleFunction]:
        """Register the decorated function under ``name``.

        The function takes the :class:`RuleContext` first and its parameters as keyword-only
        arguments; it returns ``None`` when the rule holds, else a message (or several)
        saying in plain words what is missing.
        """

        def decorator(function: RuleFunction) -> RuleFunction:
            self.register(name, function, description=description, checks=checks)
            return function

        return decorator

    def register(
        self,
        name: str,
        function: RuleFunction,
        *,
        description: str,
        checks: Mapping[str, ArgumentCheck] | None = None,
    ) -> RuleSpec:
        """Register ``function`` under ``name`` and return its spec.

        Flows are checked against the parameters' annotations when they load: the type
        (``int``, ``str``, ``list[str]``…) and, for ``Literal[...]``, the allowed values.
        ``checks`` maps a parameter to a function that checks its argument further at load
        time, returning ``None`` when it is usable or a message saying what is wrong.
        Parameters named ``field`` and ``other`` name data fields: a flow whose guard gives
        them a field it does not declare (checked by a dotted path's first part) is refused.
        """
        if not name.isidentifier() or name != name.lower():
            raise ValueError(f"rule names are snake_case identifiers (got {name!r})")
        if name in self._rules:
            raise ValueError(f"a rule named {name!r} is already registered")
        signature = inspect.signature(function)
        params = list(signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise ValueError(f"rule {name!r}: the first parameter must take the RuleContext")
        required: set[str] = set()
        optional: set[str] = set()
        try:
            hints = get_type_hints(function)
        except Exception:  # noqa: BLE001 - unresolvable hints only lose type checking of arguments
            hints = {}
        types: dict[str, tuple[type, ...]] = {}
        choices: dict[str, tuple[Any, ...]] = {}
        for param in params[1:]:
            if param.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise ValueError(f"rule {name!r}: parameter {param.name!r} must be keyword-only")
            (required if param.default is inspect.Parameter.empty else optional).add(param.name)
            annotation = hints.get(param.name, object)
            types[param.name] = _accepted_types(annotation)
            if (allowed := _choices(annotation)) is not None:
                choices[param.name] = allowed
        unknown = sorted(set(checks or {}) - required - optional)
        if unknown:
            raise ValueError(f"rule {name!r}: checks name parameters it does not take: {', '.join(unknown)}")
        spec = RuleSpec(
            name=name,
            function=function,
            description=description,
            required=frozenset(required),
            optional=frozenset(optional),
            types=types,
            choices=choices,
            checks=dict(checks or {}),
        )
        self._rules[name] = spec
        return spec

    def get(self, name: str) -> RuleSpec | None:
        """The rule registered under ``name``, or ``None``."""
        return self._rules.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._rules)

    def copy(self) -> RuleRegistry:
        """A new registry with the same rules, to extend without touching this one."""
        return RuleRegistry(self._rules.values())

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    def __iter__(self) -> Iterator[RuleSpec]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)


DEFAULT_REGISTRY = RuleRegistry()
"""The registry flows use unless told otherwise: generic and dealership rules."""


def rule(
    name: str, *, description: str, checks: Mapping[str, ArgumentCheck] | None = None
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule in the default registry (decorator); see :meth:`RuleRegistry.register`."""
    return DEFAULT_REGISTRY.rule(name, description=description, checks=checks)
