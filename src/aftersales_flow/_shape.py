"""Shape layer: check keys and types of a parsed flow document and build the model pieces.

Malformed pieces are reported and skipped, so that the meaning layer can still run on the
rest and a file's problems are all reported together.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from aftersales_flow._deadlines import build_deadlines
from aftersales_flow._problems import Problems, listing, suggest
from aftersales_flow._yaml import Mark, MarkedDict, MarkedList, mark_of
from aftersales_flow.errors import FlowShapeError, UnknownFieldError, UnknownParameterError, UnknownRuleError
from aftersales_flow.model import FIELD_TYPES, FieldSpec, thaw
from aftersales_flow.rules._expr import AllOf, AnyOf, Explained, Guard, Not, ParamRef, RuleCall
from aftersales_flow.rules._registry import RuleRegistry, RuleSpec
from aftersales_flow.states.state import Label, State

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

FLOW_KEYS = {
    "flow": "the flow's name (snake_case)",
    "version": "a whole number, raised whenever the flow changes",
    "label": "{en: ..., zh: ...}",
    "description": "text",
    "roles": "the list of roles that act in this flow",
    "params": "a mapping of parameter names to values",
    "fields": "a mapping of data field names to their types",
    "start": "the list of events that create an instance",
    "states": "a mapping of state names to their definitions",
    "transitions": "the list of transitions",
    "invariants": "a list of guards checked at every transition",
}
REQUIRED_FLOW_KEYS = ("flow", "version", "label", "roles", "start", "states", "transitions")
TRANSITION_KEYS = {
    "event": "the event's name",
    "from": "a state or a list of states",
    "to": "the target state",
    "roles": "roles allowed to fire the event",
    "requires": "payload fields that must be given",
    "accepts": "payload fields that may be given",
    "guard": "a rule, or all/any/not of rules, that must hold",
    "unless": "a rule, or all/any/not of rules, that must not hold",
    "label": "{en: ..., zh: ...}",
    "set": "fields set to fixed values when the event is accepted",
    "increment": "integer fields raised by one when the event is accepted",
    "stamp": "fields set to the event's time when the event is accepted",
    "starts": "instances of other flows this event starts (see links)",
    "fires": "events this event fires on linked instances (see links)",
    "description": "text",
}
STATE_KEYS = {
    "label": "{en: ..., zh: ...}",
    "terminal": "true for a state that accepts no event",
    "tags": "a list of words",
    "description": "text",
    "deadlines": "a list of deadlines: when each falls due and what happens then",
}
FIELD_KEYS = {
    "type": f"one of {', '.join(FIELD_TYPES)}",
    "key": "for a list of mappings, the item key used to merge items",
    "values": "the allowed values",
    "description": "text",
}
GUARD_COMBINATORS = ("all", "any", "not")
FIELD_PARAMETERS = ("field", "other")
"""Rule parameters that name a data field of the flow (a dotted path's first part is the field)."""
_EXAMPLES = {"flow": "repair_order", "to": "in_repair"}


class ShapeChecker:
    """Checks shapes and builds pieces, reporting into one :class:`Problems`.

    ``fields`` are the data fields the flow declares, which guards may read; ``None`` when
    the declaration is too malformed to tell, and then guards' fields are not checked.
    """

    def __init__(
        self,
        problems: Problems,
        registry: RuleRegistry,
        params: Mapping[str, Any],
        fields: Collection[str] | None = None,
    ) -> None:
        self.problems = problems
        self.registry = registry
        self.params = params
        self.fields = fields
        self.param_marks: Mapping[str, Mark] = {}
        self.deadline_marks: dict[tuple[str, str], Mark] = {}
        """Where each parameter's value was written (the overlay's line when a brand set it)."""

    # --- primitives -----------------------------------------------------------------

    def shape(self, message: str, mark: Mark) -> None:
        """Report a shape problem."""
        self.problems.add(FlowShapeError, message, mark)

    def mapping(self, value: Any, what: str, mark: Mark) -> MarkedDict | None:
        """``value`` if it is a mapping, else report and return None."""
        if isinstance(value, MarkedDict):
            return value
        self.shape(f"{what} must be a mapping (got {_kind(value)})", mark_of(value, mark))
        return None

    def sequence(self, value: Any, what: str, mark: Mark) -> MarkedList | None:
        """``value`` if it is a list, else report and return None."""
        if isinstance(value, MarkedList):
            return value
        self.shape(f"{what} must be a list (got {_kind(value)})", mark_of(value, mark))
        return None

    def keys(
        self, doc: MarkedDict, allowed: Mapping[str, str], what: str, required: tuple[str, ...] = ()
    ) -> None:
        """Report unknown and missing keys of ``doc``."""
        for key in doc:
            if key not in allowed:
                self.shape(
                    f"unknown key {key!r} in {what}{suggest(key, allowed)}; allowed keys: "
                    f"{', '.join(allowed)}",
                    doc.key_mark(key),
                )
        for key in required:
            if key not in doc:
                self.shape(f"{what} is missing the key {key!r} ({allowed[key]})", doc.mark)

    def name(self, doc: MarkedDict, key: str, what: str) -> str | None:
        """A snake_case name under ``key``."""
        value = doc.get(key)
        if isinstance(value, str) and NAME.match(value):
            return value
        if key in doc:
            self.shape(
                f"{what} '{key}' must be a snake_case name like {_EXAMPLES.get(key, 'sign_work_order')!r} "
                f"(got {value!r})",
                doc.mark_of(key),
            )
        return None

    def text(self, doc: MarkedDict, key: str, what: str, default: str = "") -> str:
        """A string under ``key`` (or ``default``)."""
        value = doc.get(key, default)
        if isinstance(value, str):
            return value
        self.shape(f"{what} '{key}' must be text (got {_kind(value)})", doc.mark_of(key))
        return default

    def flag(self, doc: MarkedDict, key: str, what: str) -> bool:
        """A boolean under ``key`` (false when absent)."""
        value = doc.get(key, False)
        if isinstance(value, bool):
            return value
        self.shape(f"{what} '{key}' must be true or false (got {value!r})", doc.mark_of(key))
        return False

    def names(self, doc: MarkedDict, key: str, what: str, *, single_ok: bool = False) -> tuple[str, ...]:
        """A list of snake_case names under ``key`` (a single name too when ``single_ok``)."""
        if key not in doc:
            return ()
        value = doc[key]
        if single_ok and isinstance(value, str):
            value_list: list[Any] = [value]
            marks = [doc.mark_of(key)]
        elif isinstance(value, MarkedList):
            value_list, marks = list(value), value.item_marks
        else:
            self.shape(f"{what} '{key}' must be a list of names (got {_kind(value)})", doc.mark_of(key))
            return ()
        result: list[str] = []
        for item, mark in zip(value_list, marks, strict=True):
            if isinstance(item, str) and NAME.match(item):
                if item in result:
                    self.shape(f"{what} '{key}' lists {item!r} twice", mark)
                result.append(item)
            else:
                self.shape(f"{what} '{key}' must hold snake_case names (got {item!r})", mark)
        return tuple(result)

    def label(self, doc: MarkedDict, key: str, what: str, *, required: bool) -> Label | None:
        """A ``{en, zh}`` label under ``key``."""
        if key not in doc:
            if required:
                self.shape(f"{what} needs a '{key}' with 'en' and 'zh' texts", doc.mark)
            return None
        value = self.mapping(doc[key], f"{what} '{key}'", doc.mark_of(key))
        if value is None:
            return None
        self.keys(value, {"en": "English text", "zh": "Chinese text"}, f"{what} '{key}'", ("en", "zh"))
        en, zh = value.get("en"), value.get("zh")
        for lang, text in (("en", en), ("zh", zh)):
            if lang in value and not (isinstance(text, str) and text.strip()):
                self.shape(f"{what} label '{lang}' must be non-empty text", value.mark_of(lang))
        if isinstance(en, str) and isinstance(zh, str):
            return Label(en=en, zh=zh)
        return None

    # --- pieces ---------------------------------------------------------------------

    def field(self, name: str, value: Any, mark: Mark) -> FieldSpec | None:
        """A field declaration: a type name, or a mapping with ``type`` and more."""
        what = f"field {name!r}"
        if isinstance(value, str):
            value_doc = None
            type_name: Any = value
        else:
            value_doc = self.mapping(value, what, mark)
            if value_doc is None:
                return None
            self.keys(value_doc, FIELD_KEYS, what, ("type",))
            type_name = value_doc.get("type", "any")
        if type_name not in FIELD_TYPES:
            at = value_doc.mark_of("type") if value_doc is not None else mark
            self.shape(
                f"{what} has unknown type {type_name!r}{suggest(str(type_name), FIELD_TYPES)}; "
                f"types: {', '.join(FIELD_TYPES)}",
                at,
            )
            return None
        if value_doc is None:
            return FieldSpec(name=name, type=type_name)
        key = value_doc.get("key")
        if key is not None and (type_name != "list" or not isinstance(key, str)):
            self.shape(
                f"{what} 'key' is for list fields and must name the item key", value_doc.mark_of("key")
            )
            key = None
        values = value_doc.get("values")
        if values is not None and not isinstance(values, MarkedList):
            self.shape(f"{what} 'values' must be a list", value_doc.mark_of("values"))
            values = None
        return FieldSpec(
            name=name,
            type=type_name,
            key=key,
            values=tuple(thaw(values)) if values is not None else None,
            description=self.text(value_doc, "description", what),
        )

    def state(self, name: str, value: Any, mark: Mark) -> State | None:
        """A state definition."""
        what = f"state {name!r}"
        doc = self.mapping(value, what, mark)
        if doc is None:
            return None
        self.keys(doc, STATE_KEYS, what, ("label",))
        label = self.label(doc, "label", what, required=False)
        return State(
            name=name,
            label=label or Label(en=name, zh=name),
            terminal=self.flag(doc, "terminal", what),
            tags=self.names(doc, "tags", what),
            description=self.text(doc, "description", what),
            deadlines=build_deadlines(self, name, doc) if "deadlines" in doc else (),
            where=str(doc.mark),
        )

    def guard(self, value: Any, mark: Mark, what: str) -> Guard | None:
        """A guard expression: a rule name, ``{rule: name, arg: …}``, or all / any / not."""
        if isinstance(value, str):
            return self._rule_call(value, {}, mark, what)
        if isinstance(value, MarkedList):
            items = [self.guard(v, value.mark_of(i), what) for i, v in enumerate(value)]
            return AllOf(tuple(i for i in items if i is not None)) if None not in items else None
        if not isinstance(value, MarkedDict):
            self.shape(f"{what} must be a rule name, a list or a mapping (got {_kind(value)})", mark)
            return None
        doc = value
        if "message" in doc:
            message = doc["message"]
            if not (isinstance(message, str) and message.strip()):
                self.shape(f"{what} 'message' must be text saying what is missing", doc.mark_of("message"))
                return None
            rest = MarkedDict({k: v for k, v in doc.items() if k != "message"})
            rest.mark, rest.key_marks, rest.value_marks = doc.mark, doc.key_marks, doc.value_marks
            inner = self.guard(rest, mark, what)
            return Explained(inner, message) if inner is not None else None
        combinators = [k for k in GUARD_COMBINATORS if k in doc]
        if combinators:
            return self._combinator(doc, combinators[0], what)
        if "rule" not in doc:
            self.shape(
                f"{what} must be a rule name, a mapping with 'rule', or one of all/any/not "
                f"(got keys {', '.join(doc)})",
                doc.mark,
            )
            return None
        name = doc["rule"]
        if not isinstance(name, str):
            self.shape(f"{what} 'rule' must be a rule name (got {_kind(name)})", doc.mark_of("rule"))
            return None
        args = {k: v for k, v in doc.items() if k != "rule"}
        return self._rule_call(name, args, doc.mark_of("rule"), what, doc)

    def _combinator(self, doc: MarkedDict, key: str, what: str) -> Guard | None:
        """``all`` / ``any`` over a list of guards, or ``not`` over one."""
        if len(doc) != 1:
            extra = ", ".join(repr(k) for k in doc if k != key)
            self.shape(
                f"{what}: '{key}' stands alone in its mapping (with an optional 'message'); "
                f"move {extra} elsewhere",
                doc.mark,
            )
            return None
        inner = doc[key]
        if key == "not":
            item = self.guard(inner, doc.mark_of(key), what)
            return Not(item) if item is not None else None
        items_doc = self.sequence(inner, f"{what} '{key}'", doc.mark_of(key))
        if items_doc is None:
            return None
        if not items_doc:
            self.shape(f"{what} '{key}' needs at least one item", items_doc.mark)
            return None
        items = [self.guard(v, items_doc.mark_of(i), what) for i, v in enumerate(items_doc)]
        if None in items:
            return None
        built = tuple(i for i in items if i is not None)
        return AllOf(built) if key == "all" else AnyOf(built)

    def _rule_call(
        self, name: str, args: Mapping[str, Any], mark: Mark, what: str, doc: MarkedDict | None = None
    ) -> RuleCall | None:
        spec = self.registry.get(name)
        if spec is None:
            self.problems.add(
                UnknownRuleError,
                f"{what} names unknown rule {name!r}{suggest(name, self.registry.names())}; "
                f"known rules: {listing(self.registry.names())}",
                mark,
            )
            return None
        ok = self._parameter_names(spec, args, mark, what, doc)
        resolved: list[tuple[str, Any]] = []
        for key, raw in args.items():
            at = doc.mark_of(key) if doc is not None else mark
            value = self._argument(raw, at, spec, key, what)
            if value is _BAD:
                ok = False
                continue
            ok = self._check_argument(spec, key, value, at, what) and ok
            resolved.append((key, value))
        return RuleCall(spec=spec, args=tuple(resolved)) if ok else None

    def _parameter_names(
        self, spec: RuleSpec, args: Mapping[str, Any], mark: Mark, what: str, doc: MarkedDict | None
    ) -> bool:
        """Report arguments the rule does not take and parameters it needs but is not given."""
        ok = True
        for key in args:
            if key not in spec.parameters:
                at = doc.key_mark(key) if doc is not None else mark
                allowed = ", ".join(sorted(spec.parameters)) or "none"
                self.problems.add(
                    UnknownRuleError,
                    f"{what}: rule {spec.name!r} has no parameter {key!r}{suggest(key, spec.parameters)}; "
                    f"its parameters: {allowed}",
                    at,
                )
                ok = False
        for key in sorted(spec.required - set(args)):
            self.problems.add(
                UnknownRuleError, f"{what}: rule {spec.name!r} needs the parameter {key!r}", mark
            )
            ok = False
        return ok

    def _check_argument(self, spec: RuleSpec, key: str, value: Any, at: Mark, what: str) -> bool:
        """Check one argument's type, allowed choices, the rule's own check, and the field it names."""
        actual = self.params.get(value.name) if isinstance(value, ParamRef) else value
        at = self._blame(value, at)
        needed = _expected(spec, key, actual)
        if needed is not None:
            if isinstance(value, ParamRef):
                message = (
                    f"{what}: parameter {value.name!r} is {_kind(actual)}; rule {spec.name!r} parameter "
                    f"{key!r} needs {needed}"
                )
            else:
                message = (
                    f"{what}: rule {spec.name!r} parameter {key!r} must be {needed} (got {_kind(actual)})"
                )
            self.shape(message, at)
            return False
        check = spec.checks.get(key)
        problem = check(actual) if check is not None else None
        if problem is not None:
            source = f" (from parameter {value.name!r})" if isinstance(value, ParamRef) else ""
            self.shape(f"{what}: rule {spec.name!r} parameter {key!r}{source}: {problem}", at)
            return False
        if key in FIELD_PARAMETERS and isinstance(actual, str):
            return self._known_field(spec, key, actual, at, what)
        return True

    def _blame(self, value: Any, at: Mark) -> Mark:
        """A bad parameter value set in another file (a brand overlay) is reported where it was set."""
        if isinstance(value, ParamRef):
            written = self.param_marks.get(value.name)
            if written is not None and written.file != at.file:
                return written
        return at

    def _known_field(self, spec: RuleSpec, key: str, path: str, at: Mark, what: str) -> bool:
        """A guard may only read a field the flow declares: a typo would refuse every event."""
        field = path.split(".", 1)[0]
        if self.fields is None or field in self.fields:
            return True
        shown = repr(field) if field == path else f"{field!r} (of {path!r})"
        self.problems.add(
            UnknownFieldError,
            f"{what}: rule {spec.name!r} parameter {key!r} names field {shown}, which the flow does not "
            f"declare{suggest(field, self.fields)}; declare it under 'fields' or use one of: "
            f"{listing(self.fields)}",
            at,
        )
        return False

    def _argument(self, raw: Any, mark: Mark, spec: RuleSpec, key: str, what: str) -> Any:
        if isinstance(raw, MarkedDict) and set(raw) == {"param"}:
            pname = raw["param"]
            if not isinstance(pname, str) or pname not in self.params:
                self.problems.add(
                    UnknownParameterError,
                    f"{what}: rule {spec.name!r} parameter {key!r} refers to unknown parameter {pname!r}"
                    f"{suggest(str(pname), self.params)}; the flow's params: {listing(self.params)}",
                    raw.mark_of("param"),
                )
                return _BAD
            return ParamRef(pname)
        return thaw(raw)


def _expected(spec: RuleSpec, key: str, actual: Any) -> str | None:
    """What the rule's parameter ``key`` needs when ``actual`` does not fit it, else None."""
    accepted = spec.types.get(key, (object,))
    if object not in accepted and (
        not isinstance(actual, accepted) or (isinstance(actual, bool) and bool not in accepted)
    ):
        return " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in accepted)
    choices = spec.choices.get(key)
    if choices is not None and actual not in choices:
        return f"one of {', '.join('null' if c is None else repr(c) for c in choices)}"
    return None


_BAD: Any = object()
_TYPE_WORDS = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{type(value).__name__} {value!r}"
