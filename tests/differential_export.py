"""Export a flow to python-statemachine, with its guards as boolean conditions over facts.

The differential check runs one event sequence on both engines and compares their decisions.
For that both must see the same guard outcomes, so every rule call of a flow becomes a
*fact*: a boolean named ``f0``, ``f1``… that the test draws for each step. Our engine gets
the facts through :func:`fact_rules`, a registry whose every rule answers from them;
python-statemachine gets them as the keyword arguments of ``send()``, read by the ``cond`` and
``unless`` expressions the export writes (``f3 and (f4 or not f5)``).

The export is python-statemachine's own data format (the native JSON document its
``statemachine.io.load`` reads), so its side of the comparison shares no code with ours:

- each flow state is a state; terminal states are ``final``;
- a pseudo-state :data:`NOT_STARTED` is the initial state, and start events leave it;
- each transition is a transition of its source state, in the flow's order (python-statemachine
  takes the first one whose condition holds, as our engine does with branches);
- ``cond`` is the guard and every invariant joined with ``and``; ``unless`` is the ``unless``.

Links (a transition starting or firing on another flow's instance) are not exported: the
comparison is of one flow, and in our engine the linked flows' rules all hold
(:func:`fact_rules`), so a linked command is never refused for a guard. A linked command
refused for anything else (a payload the parent's data cannot fill) refuses the parent in our
engine only, and shows as a disagreement.

python-statemachine is a test-only dependency, so the exporter lives with the tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from statemachine import StateChart
from statemachine.io import load

from aftersales_flow.model import Flow, Transition
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext, RuleRegistry
from aftersales_flow.rules._expr import AllOf, AnyOf, Explained, Guard, Not, RuleCall, rule_calls

NOT_STARTED = "not_started"
"""The pseudo-state the exported machine starts in, before a start event."""

STATE_PREFIX = "s_"
EVENT_PREFIX = "e_"
# Flow states and events become class attributes of the generated StateChart, so a flow state
# named like a StateChart attribute ('send', 'states') or like one of its events would clobber
# it; the prefixes keep the three name spaces apart.


def state_id(name: str) -> str:
    """The python-statemachine id of a flow state."""
    return STATE_PREFIX + name


def event_id(name: str) -> str:
    """The python-statemachine event of a flow event."""
    return EVENT_PREFIX + name


def fact_key(rule: str, arguments: Mapping[str, Any]) -> str:
    """The fact a rule call stands for: its name and resolved arguments, as text.

    Two calls with the same rule and arguments ask the same question of the same data, so
    they share one fact (the two branches of ``qc_passed`` test the same ``wash_opt_in``).
    """
    if not arguments:
        return rule
    inner = json.dumps(dict(arguments), sort_keys=True, ensure_ascii=False, default=repr)
    return f"{rule}{inner}"


def call_key(call: RuleCall, params: Mapping[str, Any]) -> str:
    """The fact of one rule call of a flow with ``params``."""
    return fact_key(call.name, call.resolve(params))


def _guards(flow: Flow) -> Iterable[Guard | None]:
    for transition in (*flow.starts, *flow.transitions):
        yield transition.guard
        yield transition.unless
        for link in (*transition.starts, *transition.fires):
            yield link.when
    yield from flow.invariants
    for state in flow.states.values():
        for deadline in state.deadlines:
            yield deadline.when


def flow_facts(flow: Flow) -> tuple[str, ...]:
    """Every fact of the flow, each once, in the order the flow first uses it."""
    keys: dict[str, None] = {}
    for guard in _guards(flow):
        for call in rule_calls(guard):
            keys.setdefault(call_key(call, flow.params), None)
    return tuple(keys)


def relevant_facts(flow: Flow, source: str | None, event: str) -> tuple[str, ...]:
    """The facts that decide ``event`` from ``source``: its branches' guards and the invariants."""
    keys: dict[str, None] = {}
    guards: list[Guard | None] = []
    for branch in flow.branches(source, event):
        guards += [branch.guard, branch.unless]
    guards += list(flow.invariants)
    for guard in guards:
        for call in rule_calls(guard):
            keys.setdefault(call_key(call, flow.params), None)
    return tuple(keys)


def condition(guard: Guard, variables: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """``guard`` as a python-statemachine boolean expression over the fact variables."""
    if isinstance(guard, RuleCall):
        return variables[call_key(guard, params)]
    if isinstance(guard, Explained):
        return condition(guard.item, variables, params)
    if isinstance(guard, Not):
        return f"not ({condition(guard.item, variables, params)})"
    if not guard.items:
        return "True" if isinstance(guard, AllOf) else "False"
    joiner = " and " if isinstance(guard, AllOf) else " or "
    assert isinstance(guard, AllOf | AnyOf)
    return joiner.join(f"({condition(item, variables, params)})" for item in guard.items)


@attrs.frozen(kw_only=True)
class Export:
    """A flow exported to python-statemachine: the document, its facts and the loaded class."""

    flow: Flow
    facts: tuple[str, ...]
    """The fact of each variable: ``facts[i]`` is read as ``f{i}``."""
    document: Mapping[str, Any]
    """The python-statemachine native document (JSON-ready)."""
    machine: type[StateChart]

    def variable(self, fact: str) -> str:
        """The variable name of a fact in the exported conditions."""
        return f"f{self.facts.index(fact)}"

    def arguments(self, facts: Mapping[str, bool]) -> dict[str, bool]:
        """The keyword arguments of ``send()`` carrying ``facts``."""
        return {f"f{index}": facts[fact] for index, fact in enumerate(self.facts)}


def _transition(transition: Transition, flow: Flow, variables: Mapping[str, str]) -> dict[str, Any]:
    conditions = [
        condition(guard, variables, flow.params)
        for guard in (transition.guard, *flow.invariants)
        if guard is not None
    ]
    exported: dict[str, Any] = {"event": event_id(transition.event), "target": state_id(transition.target)}
    if conditions:
        exported["cond"] = " and ".join(f"({text})" for text in conditions)
    if transition.unless is not None:
        exported["unless"] = condition(transition.unless, variables, flow.params)
    return exported


def document(flow: Flow, facts: tuple[str, ...]) -> dict[str, Any]:
    """The python-statemachine native document of ``flow`` (see the module docstring)."""
    variables = {fact: f"f{index}" for index, fact in enumerate(facts)}
    states: dict[str, Any] = {
        NOT_STARTED: {"initial": True, "transitions": [_transition(t, flow, variables) for t in flow.starts]}
    }
    for name, state in flow.states.items():
        outgoing = [_transition(t, flow, variables) for t in flow.transitions if t.source == name]
        exported: dict[str, Any] = {"final": True} if state.terminal else {}
        if outgoing:
            exported["transitions"] = outgoing
        states[state_id(name)] = exported
    return {"name": f"{flow.name}_exported", "states": states}


def load_document(doc: Mapping[str, Any]) -> type[StateChart]:
    """Load a native document with python-statemachine's own loader (restricted evaluator).

    Errors in conditions propagate instead of becoming ``error.execution`` events, so a
    missing fact fails the test rather than passing for a refusal.
    """
    machine = load(json.dumps(doc), format="json")
    machine.catch_errors_as_events = False
    return machine


def export(flow: Flow) -> Export:
    """Export ``flow`` to python-statemachine."""
    facts = flow_facts(flow)
    doc = document(flow, facts)
    return Export(flow=flow, facts=facts, document=doc, machine=load_document(doc))


class FactHolder:
    """The facts of the step being run, read by the rules of :func:`fact_rules`.

    Only rules evaluated for ``flow`` read the facts; those of other flows (linked instances)
    hold.
    """

    def __init__(self, flow: str) -> None:
        self.flow = flow
        self.current: dict[str, bool] = {}


def _answer(name: str, holder: FactHolder) -> Callable[..., str | None]:
    def rule(ctx: RuleContext, **arguments: Any) -> str | None:
        if ctx.flow != holder.flow:
            return None
        key = fact_key(name, arguments)
        if key not in holder.current:
            # Only facts of the flow under test are drawn; asking another one is a harness bug.
            raise LookupError(f"no fact drawn for {key}")
        return None if holder.current[key] else f"the fact {key} is false"

    return rule


def fact_rules(holder: FactHolder, base: RuleRegistry = DEFAULT_REGISTRY) -> RuleRegistry:
    """``base`` with every rule answering from ``holder``'s facts (parameters and checks kept)."""
    return RuleRegistry(attrs.evolve(spec, function=_answer(spec.name, holder)) for spec in base)
