"""The ``aftersales-flow`` command line.

Exit codes: 0 ok, 1 problems found (validation, verification, replay), 2 bad arguments,
3 the command could not run (a missing store, unreadable or broken flows, no Graphviz).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import click

from aftersales_flow import _cli_audit as audit
from aftersales_flow import _cli_flow as flowview
from aftersales_flow._cli_common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    SECRET_ENV,
    BadUse,
    CannotRun,
    brand_folder,
    db_option,
    echo_json,
    flow_set,
    flows_options,
    json_option,
    moment,
    open_store,
    output,
    pick_flow,
    read_checkpoint,
    read_secret,
    rules_option,
    time_zone,
)
from aftersales_flow.engine import Engine
from aftersales_flow.errors import AftersalesFlowError, FlowDefinitionError, InvalidCommand, UnknownRuleError
from aftersales_flow.loader import load_flow, load_flows
from aftersales_flow.model import FlowSet
from aftersales_flow.reference import mermaid
from aftersales_flow.values import VerifyReport

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "main"]

_NO_FLOWS = FlowSet({})
"""Commands that only read the audit trail need no flow definitions."""


RULES_HINT = (
    "(a rule of your own? pass the module or .py file that registers it with @af.rule: --rules MODULE)"
)
"""Printed after an unknown rule: the flows may use an integrator's rules the command has not loaded."""


def _with_hint(exc: FlowDefinitionError) -> str:
    unknown_rule = any(isinstance(error, UnknownRuleError) for error in exc.errors)
    return f"{exc}\n{RULES_HINT}" if unknown_rule else str(exc)


class _Commands(click.Group):
    """The command group: the library's errors become messages with the documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidCommand as exc:
            raise BadUse(str(exc)) from None
        except FlowDefinitionError as exc:
            raise CannotRun(_with_hint(exc)) from None
        except AftersalesFlowError as exc:
            raise CannotRun(str(exc)) from None


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 problems found, 2 bad arguments, 3 cannot run (see docs/cli.md).",
)
@click.version_option(package_name="aftersales_flow")
def main() -> None:
    """Run and inspect a dealership's after-sales flows."""


# --- flows -------------------------------------------------------------------------------


@main.command()
@db_option(creates=True)
@click.option("--synchronous", type=click.Choice(["FULL", "NORMAL"]), default="FULL", show_default=True)
@click.option(
    "--flows",
    "flows_dir",
    default=None,
    metavar="DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of flow files [default: the shipped flows].",
)
def demo(db: str, synchronous: str, flows_dir: Path | None) -> None:
    """Walk a repair order from walk-in to closed, then a week at the dealership, printing every step."""
    from aftersales_flow.demo import run_demo

    report = run_demo(db, echo=click.echo, synchronous=synchronous, flows_dir=flows_dir)
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--brand",
    default=None,
    metavar="NAME|DIR",
    help="Apply this brand's overlays (for a flows folder): NAME under FOLDER/brands/, or a brand's folder.",
)
@rules_option
def validate(paths: tuple[Path, ...], brand: str | None) -> None:
    """Validate flow files or flows folders; print every problem as file:line:col."""
    failed = False
    shown: set[str] = set()  # a file given alone and inside its folder is reported once
    for path in paths:
        try:
            if path.is_dir():
                name, brands = brand_folder(brand)
                flows = load_flows(path, brand=name, brands=brands)
                names = ", ".join(flows.names)
                changed = [flow.name for flow in flows if name is not None and flow.brand == name]
                overlays = f"; brand {name} changes {', '.join(changed) or 'none of them'}" if name else ""
                click.echo(f"{path}: ok ({len(flows)} flows: {names}{overlays})")
            else:
                flow = load_flow(path)
                click.echo(f"{path}: ok ({flow.name} v{flow.version}, {len(flow.states)} states)")
        except FlowDefinitionError as exc:
            failed = True
            for line in _with_hint(exc).splitlines():
                if line not in shown:
                    shown.add(line)
                    click.echo(line, err=True)
    sys.exit(EXIT_PROBLEMS if failed else EXIT_OK)


_FLOW_ARGUMENT = click.argument("flow_name", metavar="FLOW")
_LANG = click.Choice(["en", "zh"])


@main.command()
@_FLOW_ARGUMENT
@flows_options
@rules_option
@click.option("--lang", type=_LANG, default="en", show_default=True, help="Language of the labels.")
@json_option("the flow")
def show(flow_name: str, flows_dir: Path | None, brand: str | None, lang: str, as_json: bool) -> None:
    """Show a flow's states, events, roles, guards, deadlines and parameters as tables.

    FLOW is a flow name (repair_order) or a flow file (flows/repair_order.yaml).
    """
    flow = pick_flow(flow_name, flows_dir, brand)
    if as_json:
        echo_json(flowview.describe_flow(flow))
    else:
        flowview.print_flow(flow, lang, flowview.console())


@main.command()
@_FLOW_ARGUMENT
@flows_options
@rules_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
    help="Mermaid or DOT text, or SVG drawn by Graphviz's dot.",
)
@click.option("--lang", type=_LANG, default=None, help="DOT and SVG: label in one language [default: both].")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write to FILE.")
def graph(
    flow_name: str, flows_dir: Path | None, brand: str | None, fmt: str, lang: str | None, out: Path | None
) -> None:
    """Draw a flow's state diagram as Mermaid, DOT or SVG (SVG needs Graphviz's 'dot')."""
    flow = pick_flow(flow_name, flows_dir, brand)
    if fmt == "mermaid":
        text = mermaid(flow) + "\n"
    else:
        text = flowview.dot(flow, lang)
        if fmt == "svg":
            text = flowview.svg(text)
    if out is None:
        click.echo(text, nl=False)
        return
    with output(out) as stream:
        stream.write(text)
    click.echo(f"wrote {fmt} of {flow.name} to {out}", err=True)


# --- the audit trail -----------------------------------------------------------------------


@main.command()
@click.argument("instance_id", metavar="ID")
@db_option()
@click.option(
    "--tz",
    "zone",
    default="UTC",
    show_default=True,
    callback=time_zone,
    metavar="ZONE",
    help="Show the times in this IANA time zone, e.g. Asia/Shanghai.",
)
@json_option("one object per event, a line each,")
def history(instance_id: str, db: str, zone: ZoneInfo, as_json: bool) -> None:
    """Print an instance's audit history, refused attempts included."""
    with open_store(db) as store:
        events = Engine(_NO_FLOWS, store).history(instance_id)
    if not events:
        raise CannotRun(f"there is no instance {instance_id!r} in {db}")
    for event in events:
        if as_json:
            echo_json(audit.event_data(event))
            continue
        mark = click.style("ok     ", fg="green") if event.accepted else click.style("REFUSED", fg="red")
        at = event.at.astimezone(zone).isoformat(sep=" ", timespec="minutes")
        click.echo(
            f"#{event.seq:<5} {at}  {mark} {event.event:<28} "
            f"{event.source or '(new)'} -> {event.target or '-'}  by {event.actor.id}"
        )
        for reason in event.reasons:
            click.echo(f"         - {reason.message}")


_NO_CHECKPOINTS = "checkpoints are not available in this version of aftersales_flow"
_SECRET_OPTION = click.option(
    "--secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"File holding the checkpoint secret [default: ${SECRET_ENV}].",
)


@main.command()
@db_option()
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also check against a checkpoint: chains cut short, instances deleted, chains rewritten.",
)
@_SECRET_OPTION
@json_option("the report")
def verify(db: str, checkpoint_file: Path | None, secret_file: Path | None, as_json: bool) -> None:
    """Check every hash chain, version and head of the store (exit 1 when something is wrong)."""
    arguments: dict[str, Any] = {}
    if checkpoint_file is not None:
        # Checked before the store is opened: a usage problem is reported first.
        accepted = inspect.signature(Engine.verify).parameters
        if "checkpoint" not in accepted:
            raise CannotRun(f"{_NO_CHECKPOINTS}: verify() takes no checkpoint; run verify without it")
        if "secret" in accepted:
            arguments["secret"] = read_secret(secret_file)
        arguments["checkpoint"] = read_checkpoint(checkpoint_file)
    with open_store(db, audit.CountingStore) as store:
        assert isinstance(store, audit.CountingStore)
        run: Callable[..., VerifyReport] = Engine(_NO_FLOWS, store).verify
        with audit.progress("verifying", store.count_events()) as advance:
            store.on_rows = advance
            report = run(**arguments)
    if as_json:
        echo_json(
            {**attrs.asdict(report), "checkpoint": os.fspath(checkpoint_file) if checkpoint_file else None}
        )
    else:
        verdict = click.style("OK", fg="green") if report.ok else click.style("PROBLEMS FOUND", fg="red")
        against = f", against the checkpoint {checkpoint_file}" if checkpoint_file else ""
        click.echo(f"{verdict}: {report.checked} events in {report.instances} instances{against}")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


@main.command()
@db_option()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write to FILE.")
@_SECRET_OPTION
def checkpoint(db: str, out: Path | None, secret_file: Path | None) -> None:
    """Seal every chain's length and last hash, for a later 'verify --checkpoint'; keep it off the store."""
    with open_store(db) as store:
        engine = Engine(_NO_FLOWS, store)
        take: Callable[..., Any] | None = getattr(engine, "checkpoint", None)
        if take is None:
            raise CannotRun(_NO_CHECKPOINTS)
        sealed = take(read_secret(secret_file))
    text = sealed.to_json() if hasattr(sealed, "to_json") else json.dumps(sealed, default=str)
    with output(out) as stream:
        stream.write(text.rstrip("\n") + "\n")
    if out is not None:
        click.echo(f"wrote the checkpoint of {db} to {out}", err=True)


@main.command()
@click.argument("instance_id", metavar="[ID]", required=False)
@db_option()
@json_option("the report")
def replay(instance_id: str | None, db: str, as_json: bool) -> None:
    """Rebuild one instance (or every one) from its events and compare it with its stored head."""
    with open_store(db) as store:
        engine = Engine(_NO_FLOWS, store)
        rebuilt = engine.replay(instance_id) if instance_id is not None else None
        ids = [instance_id] if instance_id is not None else [head.id for head in store.iter_heads()]
        mismatches: dict[str, list[str]] = {}
        with audit.progress("replaying", len(ids)) as advance:
            for done, each in enumerate(ids, 1):
                found = audit.differences(engine, each)
                if found:
                    mismatches[each] = found
                if done % 100 == 0:
                    advance(100)
            advance(len(ids) % 100)
    if as_json:
        report: dict[str, Any] = {
            "ok": not mismatches,
            "checked": len(ids),
            "mismatches": [{"instance_id": k, "differences": v} for k, v in mismatches.items()],
        }
        if rebuilt is not None:
            report["instance"] = attrs.asdict(rebuilt)
        echo_json(report)
    else:
        if rebuilt is not None:
            click.echo(
                f"{rebuilt.id} ({rebuilt.flow} v{rebuilt.flow_version}): '{rebuilt.state}' at version "
                f"{rebuilt.version}, {len(rebuilt.data)} data fields, rebuilt from its events"
            )
        for each, found in mismatches.items():
            click.echo(f"  - {each}: the head differs from its events: {'; '.join(found)}")
        if mismatches:
            click.echo(click.style("PROBLEMS FOUND", fg="red") + f": {len(mismatches)} of {len(ids)} differ")
        else:
            click.echo(click.style("OK", fg="green") + f": {len(ids)} instances match their events")
    sys.exit(EXIT_PROBLEMS if mismatches else EXIT_OK)


# --- time ----------------------------------------------------------------------------------

_AT = click.option(
    "--at",
    "at",
    callback=moment,
    default=None,
    metavar="ISO-TIME",
    help="Take this time as now (ISO 8601 with a zone) [default: now].",
)


def _when(at: datetime | None) -> str:
    return at.isoformat() if at is not None else "now"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


@main.command()
@db_option()
@_AT
@json_option("one object per deadline, a line each,")
def due(db: str, at: datetime | None, as_json: bool) -> None:
    """List the pending deadlines that are due (earliest first)."""
    with open_store(db) as store:
        deadlines = Engine(_NO_FLOWS, store).due(at)
    for deadline in deadlines:
        if as_json:
            echo_json(audit.deadline_data(deadline))
        else:
            click.echo(
                f"{deadline.due_at.isoformat(timespec='minutes')}  {deadline.instance_id:<16} "
                f"{deadline.flow}.{deadline.state}  {deadline.name} -> {deadline.event}"
            )
    if not as_json:
        click.echo(f"{_count(len(deadlines), 'deadline')} due at {_when(at)}")


@main.command()
@db_option()
@_AT
@flows_options
@rules_option
@json_option("one object per step, a line each,")
def tick(db: str, at: datetime | None, flows_dir: Path | None, brand: str | None, as_json: bool) -> None:
    """Fire every due deadline once, as the system actor, and print the steps."""
    flows = flow_set(flows_dir, brand)
    with open_store(db) as store:
        engine = Engine(flows, store, clock=(lambda: at) if at is not None else None)
        listed = engine.due(at)
        strangers = sorted({d.flow for d in listed if d.flow not in flows})
        if strangers:
            # The engine drops a deadline whose flow it does not know; refuse rather than lose it.
            raise CannotRun(
                f"due deadlines belong to flows the loaded flows lack: {', '.join(strangers)}; "
                "pass the --flows DIR (and --brand) the store was written with"
            )
        steps = engine.tick(at)
    for step in steps:
        if as_json:
            echo_json(audit.step_data(step))
        else:
            click.echo(
                f"{step.at.isoformat(timespec='minutes')}  {step.instance_id:<16} {step.event:<24} "
                f"{step.source} -> {step.target}  v{step.version}"
            )
    if not as_json:
        skipped = len(listed) - len(steps)
        note = f"; {skipped} refused or lapsed (see 'history ID')" if skipped else ""
        click.echo(f"fired {len(steps)} of {len(listed)} due deadlines at {_when(at)}{note}")


@main.command()
@db_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write to FILE.")
@click.option(
    "--since", type=click.IntRange(min=0), default=0, show_default=True, help="Only events after this seq."
)
def export(db: str, fmt: str, out: Path | None, since: int) -> None:
    """Write the audit events, one row per event (refused attempts included), as JSON lines or CSV."""
    writer = audit.write_csv if fmt == "csv" else audit.write_jsonl
    with open_store(db) as store, output(out) as stream:
        count = writer(audit.audit_rows(store, since), stream)
    if out is not None:
        click.echo(f"wrote {count} audit events to {out}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
