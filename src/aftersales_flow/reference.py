"""Reference documentation generated from the code and the flow files (never written by hand)."""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aftersales_flow.loader import available_brands, load_flows
from aftersales_flow.model import Flow, FlowSet, Transition, thaw
from aftersales_flow.paths import shipped_flows
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry
from aftersales_flow.rules._expr import AllOf, AnyOf, Explained, Guard, Not, describe
from aftersales_flow.states.deadline import DeadlineSpec, ParamValue

RULES_HEADER = """\
# Rules

Guards name these rules. This page is generated from the rule registry
(`python -m aftersales_flow.reference rules > docs/rules.md`); a test fails when it is stale.

Register your own rule with a decorator; it is then usable from any flow loaded with that
registry:

```python
import aftersales_flow as af

registry = af.RuleRegistry(af.rules.DEFAULT_REGISTRY)   # or @af.rule(...) for the default one

@registry.rule("plate_is_local", description="the plate is from Guangdong")
def plate_is_local(ctx: af.RuleContext) -> str | None:
    plate = ctx.get("vehicle.plate")
    return None if isinstance(plate, str) and plate.startswith("粤") else "the plate is not from Guangdong"

flows = af.load_flows("flows", rules=registry)
```

A rule takes the `RuleContext` (`data` as it would be after the event, `before`, `payload`,
`params`, `now`, `actor`, `instance_id`, `flow`, `state`, `event`, `target`) and keyword-only
parameters; it returns `None` when it holds, else a message (or a list of messages) in plain
words. A rule that raises refuses the event with a "could not be checked" reason.

"""


def _summary(function: object) -> str:
    doc = inspect.getdoc(function) or ""
    return " ".join(doc.split("\n\n")[0].split())


def render_rules(registry: RuleRegistry = DEFAULT_REGISTRY) -> str:
    """The rules reference page as Markdown."""
    lines = [RULES_HEADER.rstrip(), "", "| rule | parameters | holds when |", "|---|---|---|"]
    for spec in sorted(registry, key=lambda s: s.name):
        params = [f"`{p}`" for p in sorted(spec.required)] + [f"`{p}`?" for p in sorted(spec.optional)]
        lines.append(f"| `{spec.name}` | {', '.join(params) or '—'} | {_summary(spec.function)} |")
    lines.append("")
    lines.append("`name?` marks an optional parameter.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    return _cell(json.dumps(thaw(value), ensure_ascii=False))


def guard_demands(guard: Guard, params: Mapping[str, Any]) -> str:
    """What ``guard`` demands, in words.

    A guard's ``message`` is the author's wording of its failure ("the customer's name is not
    recorded"): shown as a condition it would read as its opposite, so the rules it wraps are
    described instead.
    """
    if isinstance(guard, Explained):
        return guard_demands(guard.item, params)
    if isinstance(guard, Not):
        return f"not ({guard_demands(guard.item, params)})"
    if isinstance(guard, AllOf | AnyOf):
        joiner = " and " if isinstance(guard, AllOf) else " or "
        parts = [guard_demands(item, params) for item in guard.items]
        return joiner.join(
            f"({part})" if isinstance(_unwrapped(item), AllOf | AnyOf) else part
            for item, part in zip(guard.items, parts, strict=True)
        )
    return describe(guard, params)


def _unwrapped(guard: Guard) -> Guard:
    while isinstance(guard, Explained):
        guard = guard.item
    return guard


def guard_text(transition: Transition, params: Mapping[str, Any]) -> str:
    """What a transition's guard and ``unless`` demand, in words ("" without either)."""
    parts = []
    if transition.guard is not None:
        parts.append(guard_demands(transition.guard, params))
    if transition.unless is not None:
        parts.append(f"unless {guard_demands(transition.unless, params)}")
    return "; ".join(parts)


def _guard_text(transition: Transition, params: Mapping[str, Any]) -> str:
    return _cell(guard_text(transition, params)) or "—"


def _setting_text(value: Any, unit: str | None) -> str:
    if isinstance(value, ParamValue):
        return f"params.{value.name}" + (f" {unit}" if unit else "")
    return f"{value}" + (f" {unit}" if unit and isinstance(value, int | float) else "")


def _due_text(spec: DeadlineSpec) -> str:
    base = f"`{spec.field}`" if spec.field else "entering the state"
    parts = []
    if spec.after is not None:
        parts.append(f"{_setting_text(spec.after, spec.unit)} after {base}")
    if spec.before is not None:
        parts.append(f"{_setting_text(spec.before, spec.unit)} before {base}")
    text = "; ".join(parts) or f"at {base}"
    if spec.avoid:
        windows = spec.avoid if not isinstance(spec.avoid, ParamValue) else f"params.{spec.avoid.name}"
        text += f", moved out of {windows}"
    return text


def _then(spec: DeadlineSpec) -> str:
    return f"fires `{spec.fire}`" if spec.fire else "records `sla_breached`"


def mermaid(flow: Flow) -> str:
    """A Mermaid state diagram of the flow."""
    lines = ["stateDiagram-v2"]
    for name, state in flow.states.items():
        lines.append(f"    {name}: {state.label.en} / {state.label.zh}")
    edges: dict[tuple[str, str], list[str]] = {}
    for transition in (*flow.starts, *flow.transitions):
        key = (transition.source or "[*]", transition.target)
        if transition.event not in edges.setdefault(key, []):
            edges[key].append(transition.event)
    for (source, target), events in edges.items():
        lines.append(f"    {source} --> {target}: {', '.join(events)}")
    for name in sorted(flow.terminal_states):
        lines.append(f"    {name} --> [*]")
    return "\n".join(lines)


def render_flow(flow: Flow, *, source: str | None = None) -> str:
    """The reference page of one flow: states, events, roles, guards, parameters and a diagram."""
    brand = f" (brand {flow.brand})" if flow.brand else ""
    out = [
        f"# {flow.label.en} / {flow.label.zh}: `{flow.name}`{brand}",
        "",
        f"Generated from `{source or flow.source}` (version {flow.version}, "
        f"content hash `{flow.content_hash[:12]}`)."
        " Do not edit by hand: run `python -m aftersales_flow.reference flows`.",
    ]
    if flow.description:
        out += ["", " ".join(flow.description.split())]
    out += [
        "",
        "```mermaid",
        mermaid(flow),
        "```",
        "",
        "## States",
        "",
        "| state | English | 中文 | terminal |",
    ]
    out.append("|---|---|---|---|")
    for name, state in flow.states.items():
        terminal = "yes" if state.terminal else ""
        out.append(f"| `{name}` | {_cell(state.label.en)} | {_cell(state.label.zh)} | {terminal} |")
    out += [
        "",
        "## Events",
        "",
        "| event | from | to | roles | requires | guard | 中文 |",
        "|---|---|---|---|---|---|---|",
    ]
    for transition in (*flow.starts, *flow.transitions):
        label = transition.label.zh if transition.label else ""
        requires = ", ".join(f"`{f}`" for f in transition.requires) or "—"
        roles = ", ".join(sorted(transition.roles))
        out.append(
            f"| `{transition.event}` | {transition.source or '(start)'} | {transition.target} | {roles} "
            f"| {requires} | {_guard_text(transition, flow.params)} | {_cell(label)} |"
        )
    deadlines = [spec for state in flow.states.values() for spec in state.deadlines]
    if deadlines:
        out += [
            "",
            "## Deadlines",
            "",
            "| state | deadline | due | then | only when |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| `{spec.state}` | `{spec.name}` | {_cell(_due_text(spec))} | {_then(spec)} "
            f"| {_cell(guard_demands(spec.when, flow.params)) if spec.when else '—'} |"
            for spec in deadlines
        ]
    if flow.invariants:
        out += ["", "## Invariants (checked on every event)", ""]
        out += [f"- {_cell(guard_demands(guard, flow.params))}" for guard in flow.invariants]
    out += ["", "## Roles", "", ", ".join(f"`{role}`" for role in sorted(flow.roles))]
    out += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    out += [f"| `{name}` | {_value(value)} |" for name, value in sorted(flow.params.items())]
    return "\n".join(out) + "\n"


def _param_changes(base: Flow, brand: Flow) -> list[str]:
    rows = []
    for name in sorted(set(base.params) | set(brand.params)):
        old, new = base.params.get(name), brand.params.get(name)
        if thaw(old) != thaw(new):
            before = _value(old) if name in base.params else "(new)"
            rows.append(f"| `{brand.name}` | `{name}` | {before} | {_value(new)} |")
    return rows


def render_brand(brand: str, base: FlowSet, branded: FlowSet) -> str:
    """The index page of one brand: which flows it changes and its parameter values."""
    changed = [flow for flow in branded if flow.content_hash != base[flow.name].content_hash]
    out = [
        f"# Brand `{brand}`",
        "",
        "Generated from the brand's overlays in `flows/brands/" + brand + "/`. Do not edit by hand.",
        "",
        "## Flows the brand changes",
        "",
    ]
    out += [f"- [{flow.label.en} / {flow.label.zh}]({brand}/{flow.name}.md)" for flow in changed] or [
        "- none"
    ]
    out += [
        "",
        "## Parameters that differ from the base flows",
        "",
        "| flow | parameter | base | " + brand + " |",
    ]
    out.append("|---|---|---|---|")
    for flow in changed:
        out += _param_changes(base[flow.name], flow)
    return "\n".join(out) + "\n"


def flow_pages(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Every generated flow page, by its path under ``docs/flows/``."""
    base = load_flows(directory)
    prefix = os.fspath(Path(directory))

    def shown(flow: Flow) -> str:
        # Pages name the files as they sit in the repository, wherever the folder was read from.
        return flow.source.replace(prefix, "flows")

    pages = {f"{flow.name}.md": render_flow(flow, source=shown(flow)) for flow in base}
    index = ["# Flow reference", "", "Generated from `flows/`. Do not edit by hand.", "", "## Base flows", ""]
    index += [f"- [{flow.label.en} / {flow.label.zh}]({flow.name}.md)" for flow in base]
    index += ["", "## Brands", ""]
    for brand in available_brands(directory):
        branded = load_flows(directory, brand=brand)
        pages[f"brands/{brand}.md"] = render_brand(brand, base, branded)
        for flow in branded:
            if flow.content_hash != base[flow.name].content_hash:
                pages[f"brands/{brand}/{flow.name}.md"] = render_flow(flow, source=shown(flow))
        index.append(f"- [{brand}](brands/{brand}.md)")
    pages["README.md"] = "\n".join(index) + "\n"
    return pages


def write_flow_pages(directory: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Path]:
    """Write every generated flow page under ``out``, removing pages of flows that are gone."""
    target = Path(out)
    pages = flow_pages(directory)
    for stale in target.rglob("*.md") if target.is_dir() else []:
        if stale.relative_to(target).as_posix() not in pages:
            stale.unlink()
    written = []
    for name, text in sorted(pages.items()):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m aftersales_flow.reference rules|flows``: print the rules page, or write the flow pages."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["rules"]:
        sys.stdout.write(render_rules())
    elif args[:1] == ["flows"] and len(args) <= 3:
        source = args[1] if len(args) > 1 else str(shipped_flows())
        out = args[2] if len(args) > 2 else "docs/flows"
        for path in write_flow_pages(source, out):
            sys.stdout.write(f"wrote {path}\n")
    else:
        raise SystemExit("usage: python -m aftersales_flow.reference rules | flows [FLOWS_DIR [OUT_DIR]]")


if __name__ == "__main__":  # pragma: no cover
    main()
