"""Reference documentation generated from the code and the flow files (never written by hand)."""

from __future__ import annotations

import inspect

from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry

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


def main(argv: list[str] | None = None) -> None:
    """``python -m aftersales_flow.reference rules`` prints the rules page."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["rules"]:
        raise SystemExit("usage: python -m aftersales_flow.reference rules")
    sys.stdout.write(render_rules())


if __name__ == "__main__":  # pragma: no cover
    main()
