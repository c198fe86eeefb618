"""The ``aftersales-flow`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aftersales_flow.errors import AftersalesFlowError, FlowDefinitionError, InstanceNotFound
from aftersales_flow.loader import load_flow, load_flows
from aftersales_flow.paths import shipped_flows

EXIT_OK = 0
EXIT_PROBLEMS = 1
"""Validation or verification found problems."""
EXIT_USAGE = 2
"""Bad arguments (click's own code)."""
EXIT_ERROR = 3
"""The command could not run (missing store, unreadable file)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aftersales_flow")
def main() -> None:
    """Run and inspect a dealership's after-sales flows."""


@main.command()
@click.option("--db", default="aftersales-demo.db", show_default=True, help="SQLite store to write.")
@click.option("--synchronous", type=click.Choice(["FULL", "NORMAL"]), default="FULL", show_default=True)
def demo(db: str, synchronous: str) -> None:
    """Walk a repair order from walk-in to closed, printing every step and refusal."""
    from aftersales_flow.demo import run_demo

    report = run_demo(db, echo=click.echo, synchronous=synchronous)
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--brand", default=None, help="Apply this brand's overlays (for a flows folder).")
def validate(paths: tuple[Path, ...], brand: str | None) -> None:
    """Validate flow files or flows folders; print every problem as file:line:col."""
    failed = False
    for path in paths:
        try:
            if path.is_dir():
                flows = load_flows(path, brand=brand)
                names = ", ".join(flows.names)
                click.echo(f"{path}: ok ({len(flows)} flows: {names})")
            else:
                flow = load_flow(path)
                click.echo(f"{path}: ok ({flow.name} v{flow.version}, {len(flow.states)} states)")
        except FlowDefinitionError as exc:
            failed = True
            click.echo(str(exc), err=True)
    sys.exit(EXIT_PROBLEMS if failed else EXIT_OK)


def _engine(db: str, flows: str | None, brand: str | None) -> object:
    from aftersales_flow.engine import Engine
    from aftersales_flow.sqlite_store import SQLiteStore

    if db != ":memory:" and not Path(db).is_file():
        raise click.ClickException(f"no store at {db}")
    return Engine(load_flows(flows or shipped_flows(), brand=brand), SQLiteStore(db))


@main.command()
@click.argument("instance_id")
@click.option("--db", default="aftersales-demo.db", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def history(instance_id: str, db: str, as_json: bool) -> None:
    """Print an instance's audit history, refused attempts included."""
    from aftersales_flow.engine import Engine

    engine = _engine(db, None, None)
    assert isinstance(engine, Engine)
    try:
        events = engine.history(instance_id)
        if not events:
            raise InstanceNotFound(f"there is no instance {instance_id!r}")
    except AftersalesFlowError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_ERROR)
    for event in events:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "seq": event.seq,
                        "version": event.version,
                        "event": event.event,
                        "from": event.source,
                        "to": event.target,
                        "accepted": event.accepted,
                        "actor": event.actor.id,
                        "at": event.at.isoformat(),
                        "reasons": [r.to_dict() for r in event.reasons],
                    },
                    ensure_ascii=False,
                )
            )
            continue
        mark = "ok     " if event.accepted else "REFUSED"
        click.echo(
            f"#{event.seq:<5} {event.at:%Y-%m-%d %H:%M}  {mark} {event.event:<28} "
            f"{event.source or '(new)'} -> {event.target or '-'}  by {event.actor.id}"
        )
        for reason in event.reasons:
            click.echo(f"         - {reason.message}")


@main.command()
@click.option("--db", default="aftersales-demo.db", show_default=True)
def verify(db: str) -> None:
    """Check every hash chain, version and head of the store."""
    from aftersales_flow.engine import Engine

    engine = _engine(db, None, None)
    assert isinstance(engine, Engine)
    report = engine.verify()
    click.echo(
        f"{'OK' if report.ok else 'PROBLEMS FOUND'}: {report.checked} events in {report.instances} instances"
    )
    for problem in report.problems:
        click.echo(f"  - {problem}")
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


if __name__ == "__main__":  # pragma: no cover
    main()
