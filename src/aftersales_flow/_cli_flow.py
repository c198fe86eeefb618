"""What the command line shows of a flow: tables, a JSON description, DOT and SVG diagrams."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from aftersales_flow._cli_common import CannotRun
from aftersales_flow.model import Flow, Transition, thaw
from aftersales_flow.reference import _due_text, _then, guard_demands, guard_text
from aftersales_flow.states.deadline import DeadlineSpec

if TYPE_CHECKING:  # rich is imported by the commands that draw tables: the others start faster
    from rich.console import Console
    from rich.table import Table

NO_DOT = "Graphviz's 'dot' is not installed; use --format mermaid or dot, or install graphviz"
"""The message of ``graph --format svg`` when Graphviz is missing."""

_HEADINGS = {
    "zh": {
        "States": "状态",
        "Events": "事件",
        "Deadlines": "时限",
        "Invariants": "不变条件",
        "Roles": "角色",
        "Parameters": "参数",
        "state": "状态",
        "label": "名称",
        "terminal": "终态",
        "event": "事件",
        "from → to": "从 → 到",
        "roles": "角色",
        "requires · guard": "必填 · 条件",
        "deadline": "时限",
        "due": "到期",
        "then": "然后",
        "only when": "仅当",
        "parameter": "参数",
        "value": "值",
        "yes": "是",
        "version": "版本",
        "brand": "品牌",
    }
}


def _say(word: str, lang: str) -> str:
    return _HEADINGS.get(lang, {}).get(word, word)


def _guard(transition: Transition, flow: Flow) -> str | None:
    return guard_text(transition, flow.params) or None


def _plain(text: str) -> str:
    # The reference helpers write Markdown code spans; a terminal shows the names bare.
    return text.replace("`", "")


def _deadline(spec: DeadlineSpec, flow: Flow) -> dict[str, Any]:
    return {
        "state": spec.state,
        "name": spec.name,
        "due": _plain(_due_text(spec)),
        "then": _plain(_then(spec)),
        "event": spec.event,
        "when": guard_demands(spec.when, flow.params) if spec.when is not None else None,
    }


def describe_flow(flow: Flow) -> dict[str, Any]:
    """The flow as JSON-ready data: states, events, deadlines, roles, guards and parameters."""
    return {
        "name": flow.name,
        "version": flow.version,
        "brand": flow.brand,
        "label": flow.label.to_dict(),
        "description": " ".join(flow.description.split()),
        "source": flow.source,
        "content_hash": flow.content_hash,
        "roles": sorted(flow.roles),
        "states": [
            {
                "name": name,
                "label": state.label.to_dict(),
                "terminal": state.terminal,
                "tags": list(state.tags),
                "deadlines": [spec.name for spec in state.deadlines],
            }
            for name, state in flow.states.items()
        ],
        "events": [
            {
                "event": t.event,
                "from": t.source,
                "to": t.target,
                "roles": sorted(t.roles),
                "requires": list(t.requires),
                "accepts": list(t.accepts),
                "guard": _guard(t, flow),
                "label": t.label.to_dict() if t.label else None,
            }
            for t in (*flow.starts, *flow.transitions)
        ],
        "deadlines": [_deadline(spec, flow) for state in flow.states.values() for spec in state.deadlines],
        "invariants": [guard_demands(guard, flow.params) for guard in flow.invariants],
        "params": {name: thaw(value) for name, value in sorted(flow.params.items())},
    }


def _table(title: str, lang: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(title=_say(title, lang), title_justify="left", title_style="bold", expand=False)
    for column in columns:
        table.add_column(_say(column, lang), overflow="fold")
    return table


def console() -> Console:
    """A console for tables: the terminal's width, or 120 columns when writing to a file or pipe."""
    from rich.console import Console

    found = Console(highlight=False)
    if not found.is_terminal and "COLUMNS" not in os.environ:
        found = Console(highlight=False, width=120)
    return found


def print_flow(flow: Flow, lang: str, console: Console) -> None:
    """Print the flow as tables, with labels in ``lang`` (``en`` or ``zh``)."""
    from rich.text import Text

    other = "en" if lang == "zh" else "zh"
    title = Text(f"{flow.label.get(lang)} / {flow.label.get(other)}", style="bold")
    title.append(f"  {flow.name} {_say('version', lang)} {flow.version}", style="")
    if flow.brand:
        title.append(f"  ({_say('brand', lang)} {flow.brand})")
    console.print(title)
    if flow.description:
        console.print(Text(" ".join(flow.description.split())))
    console.print()

    states = _table("States", lang, "state", "label", "terminal")
    for name, state in flow.states.items():
        states.add_row(Text(name), Text(state.label.get(lang)), _say("yes", lang) if state.terminal else "")
    console.print(states)

    events = _table("Events", lang, "event", "from → to", "roles", "requires · guard")
    for t in (*flow.starts, *flow.transitions):
        event = Text(t.event, style="bold")
        if t.label is not None:
            event.append(f"\n{t.label.get(lang)}", style="")
        demands = []
        if t.requires:
            demands.append("requires " + ", ".join(t.requires))
        guard = _guard(t, flow)
        if guard:
            demands.append(guard)
        events.add_row(
            event,
            Text(f"{t.source or '(start)'}\n→ {t.target}"),
            Text("\n".join(sorted(t.roles))),
            Text("\n".join(demands) or "—"),
        )
    console.print(events)

    specs = [spec for state in flow.states.values() for spec in state.deadlines]
    if specs:
        deadlines = _table("Deadlines", lang, "deadline", "due", "then", "only when")
        for spec in specs:
            found = _deadline(spec, flow)
            cell = Text(found["name"], style="bold")
            cell.append(f"\n{_say('state', lang)}: {found['state']}", style="")
            deadlines.add_row(cell, *(Text(found[key] or "—") for key in ("due", "then", "when")))
        console.print(deadlines)

    if flow.invariants:
        console.print(Text(_say("Invariants", lang), style="bold"))
        for invariant in flow.invariants:
            console.print(Text(f"  - {guard_demands(invariant, flow.params)}"))
        console.print()
    console.print(Text(_say("Roles", lang), style="bold"))
    console.print(Text("  " + ", ".join(sorted(flow.roles))))
    console.print()

    params = _table("Parameters", lang, "parameter", "value")
    for name, value in sorted(flow.params.items()):
        params.add_row(Text(name), Text(json.dumps(thaw(value), ensure_ascii=False)))
    console.print(params)


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _state_label(flow: Flow, name: str, lang: str | None) -> str:
    label = flow.states[name].label
    shown = label.get(lang) if lang else f"{label.en} / {label.zh}"
    return f"{name}\n{shown}"


def _flow_title(flow: Flow, lang: str | None) -> str:
    shown = flow.label.get(lang) if lang else f"{flow.label.en} / {flow.label.zh}"
    brand = f" ({flow.brand})" if flow.brand else ""
    return f"{shown}: {flow.name} v{flow.version}{brand}"


def dot(flow: Flow, lang: str | None = None) -> str:
    """A Graphviz DOT digraph of the flow: states with their labels, edges with their events.

    ``lang`` picks one language for the labels; by default both are shown, as in the Mermaid
    diagram of the reference pages.
    """
    font = "Helvetica,Arial,Noto Sans CJK SC,sans-serif"
    lines = [
        f"digraph {_quoted(flow.name)} {{",
        "    rankdir=LR;",
        f"    graph [fontname={_quoted(font)}, label={_quoted(_flow_title(flow, lang))}, labelloc=t];",
        f"    node [shape=box, style=rounded, fontname={_quoted(font)}];",
        f"    edge [fontname={_quoted(font)}, fontsize=10];",
        '    "[*]" [shape=point, label=""];',
    ]
    for name, state in flow.states.items():
        extra = ", peripheries=2" if state.terminal else ""
        lines.append(f"    {_quoted(name)} [label={_quoted(_state_label(flow, name, lang))}{extra}];")
    edges: dict[tuple[str, str], list[str]] = {}
    for transition in (*flow.starts, *flow.transitions):
        key = (transition.source or "[*]", transition.target)
        if transition.event not in edges.setdefault(key, []):
            edges[key].append(transition.event)
    for (source, target), events in edges.items():
        lines.append(f"    {_quoted(source)} -> {_quoted(target)} [label={_quoted(', '.join(events))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_text: str) -> str:
    """The DOT text drawn as SVG by Graphviz's ``dot``; :class:`CannotRun` when it is missing or fails."""
    program = shutil.which("dot")
    if program is None:
        raise CannotRun(NO_DOT)
    try:
        # The program is the one found on PATH, given as a full path; the DOT text goes to stdin.
        done = subprocess.run(  # noqa: S603
            [program, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CannotRun(f"Graphviz's 'dot' ({program}) could not run: {exc}") from None
    if done.returncode != 0 or "<svg" not in done.stdout:
        detail = done.stderr.strip() or f"exit code {done.returncode}, no SVG on its output"
        raise CannotRun(f"Graphviz's 'dot' ({program}) failed: {detail}")
    return done.stdout
