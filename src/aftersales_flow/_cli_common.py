"""What the command line's commands share: exit codes, options, opening stores and flows."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from aftersales_flow._time import parse_timestamp
from aftersales_flow.loader import available_brands, load_flow, load_flows
from aftersales_flow.model import Flow, FlowSet
from aftersales_flow.paths import shipped_flows
from aftersales_flow.sqlite_store import SQLiteStore

EXIT_OK = 0
"""The command did what was asked and found nothing wrong."""
EXIT_PROBLEMS = 1
"""Validation, verification or replay found problems (they are printed)."""
EXIT_USAGE = 2
"""Bad arguments: an unknown option, flow or format, a malformed time (click's own code)."""
EXIT_ERROR = 3
"""The command could not run: a missing store, unreadable or broken flows, no Graphviz."""

DEFAULT_DB = "aftersales-demo.db"
"""The store every command reads or writes unless told otherwise (the demo's)."""
DB_ENV = "AFTERSALES_FLOW_DB"
"""Environment variable naming the store, for scripts that run several commands."""
SECRET_ENV = "AFTERSALES_FLOW_SECRET"  # noqa: S105 - the variable's name, not a secret
"""Environment variable holding the secret checkpoints are sealed with."""

F = TypeVar("F", bound=Callable[..., Any])


class CannotRun(click.ClickException):
    """The command cannot run; the message says what is missing and how to fix it."""

    exit_code = EXIT_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message to stderr as it is (flow errors start with ``file:line:col``)."""
        click.echo(click.style(self.format_message(), fg="red"), err=True, file=file)


class BadUse(CannotRun):
    """The arguments cannot make a command (exit code 2, like click's own usage errors)."""

    exit_code = EXIT_USAGE


def db_option(*, creates: bool = False) -> Callable[[F], F]:
    """The ``--db`` option: the SQLite store to read (or, with ``creates``, to write)."""
    what = "SQLite store to write (created when missing)" if creates else "SQLite store to read"
    return click.option(
        "--db",
        default=DEFAULT_DB,
        show_default=True,
        envvar=DB_ENV,
        show_envvar=True,
        metavar="FILE",
        help=f"{what}.",
    )


def flows_options(function: F) -> F:
    """The ``--flows DIR`` and ``--brand NAME`` options of commands that need the flow definitions."""
    function = click.option(
        "--brand",
        default=None,
        metavar="NAME|DIR",
        help="Apply this brand's overlays (flows/brands/NAME/, or a brand's folder kept elsewhere).",
    )(function)
    return click.option(
        "--flows",
        "flows_dir",
        default=None,
        metavar="DIR",
        type=click.Path(path_type=Path, file_okay=False),
        help="Folder of flow files [default: the shipped flows].",
    )(function)


def rules_option(function: F) -> F:
    """The ``--rules MODULE`` option: import an integrator's rules before the flows load."""
    return click.option(
        "--rules",
        "rule_modules",
        multiple=True,
        metavar="MODULE",
        expose_value=False,
        callback=_import_rules,
        help="Import this module or .py file first, so the flows can use the rules it registers "
        "with @af.rule (repeatable).",
    )(function)


def _import_rules(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
    for value in values:
        import_rules(value, param)


def import_rules(value: str, param: click.Parameter | None = None) -> None:
    """Import ``value``, a module name or a ``.py`` file, which registers rules as it is imported."""
    is_file = value.endswith(".py") or os.sep in value or "/" in value
    if is_file and not Path(value).is_file():
        raise click.BadParameter(f"no such file: {value}", param=param)
    try:
        if is_file:
            _run_file(value)
        else:
            # As 'python -m' would: a module in the current folder is found too.
            sys.path.insert(0, os.getcwd())
            try:
                importlib.import_module(value)
            finally:
                sys.path.remove(os.getcwd())
    except ModuleNotFoundError as exc:
        if not is_file and exc.name is not None and value.split(".", 1)[0] == exc.name.split(".", 1)[0]:
            raise click.BadParameter(f"no module named {value!r}", param=param) from None
        raise CannotRun(f"the rules in {value} could not be imported: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the integrator's own code: any failure is reported, not a crash
        raise CannotRun(f"the rules in {value} could not be imported: {type(exc).__name__}: {exc}") from None


def _run_file(path: str) -> None:
    """Import the Python file at ``path`` as a module of its own."""
    name = "_aftersales_flow_rules_" + re.sub(r"\W", "_", os.fspath(Path(path).resolve()))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError("not a Python module file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def json_option(what: str) -> Callable[[F], F]:
    """The ``--json`` flag, described as ``what`` the command prints."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """The ``--at`` value as an aware datetime: ISO 8601 with a zone (``…+08:00`` or ``…Z``)."""
    if value is None:
        return None
    text = value.strip()
    try:
        return parse_timestamp(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError as exc:
        what = "has no time zone" if "time zone" in str(exc) else "is not an ISO 8601 time"
        raise click.BadParameter(
            f"{value!r} {what}; write e.g. 2026-11-02T09:00:00+08:00 or 2026-11-02T01:00:00Z", ctx, param
        ) from None


def time_zone(ctx: click.Context, param: click.Parameter, value: str) -> ZoneInfo:
    """The ``--tz`` value as a time zone: an IANA name such as ``Asia/Shanghai`` or ``UTC``."""
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {value!r}; give an IANA name such as Asia/Shanghai or UTC", ctx, param
        ) from None


def brand_folder(brand: str | None) -> tuple[str | None, Path | None]:
    """``--brand``: a brand's name, or the path of a brand's overlay folder kept elsewhere.

    ``--brand faw`` reads ``<flows>/brands/faw/``; ``--brand ../group/brands/lanshan`` (any
    value with a path separator) reads that folder, for brand ``lanshan``.
    """
    if brand is None or ("/" not in brand and os.sep not in brand):
        return brand, None
    path = Path(brand)
    if not path.is_dir():
        raise click.BadParameter(f"{brand} is not a folder of brand overlays", param_hint="'--brand'")
    return path.resolve().name, path.resolve().parent


def flow_set(flows_dir: Path | None, brand: str | None) -> FlowSet:
    """The flows a command runs: ``flows_dir`` (default: the shipped ones) with ``brand``'s overlays."""
    folder = flows_dir if flows_dir is not None else shipped_flows()
    brand, brands = brand_folder(brand)
    if brands is None and brand is not None and folder.is_dir() and brand not in available_brands(folder):
        known = ", ".join(available_brands(folder)) or "none"
        raise click.BadParameter(
            f"unknown brand {brand!r}; brands in {folder}: {known}", param_hint="'--brand'"
        )
    return load_flows(folder, brand=brand, brands=brands)


def pick_flow(name: str, flows_dir: Path | None, brand: str | None) -> Flow:
    """The flow called ``name`` in the flow set, or the flow in file ``name`` (``….yaml``)."""
    if name.endswith((".yaml", ".yml")) or os.sep in name or "/" in name:
        if brand is not None:
            raise BadUse("--brand applies to a flows folder; a flow file is loaded as it is")
        return load_flow(name)
    flows = flow_set(flows_dir, brand)
    if name not in flows:
        known = ", ".join(flows.names) or "none"
        raise click.BadParameter(f"unknown flow {name!r}; loaded flows: {known}", param_hint="'FLOW'")
    return flows[name]


@contextmanager
def open_store(db: str, kind: type[SQLiteStore] = SQLiteStore) -> Iterator[SQLiteStore]:
    """The store at ``db``, which must exist (reading commands never create an empty one)."""
    if db != ":memory:" and not Path(db).is_file():
        raise CannotRun(
            f"no store at {db}; run 'aftersales-flow demo' to create one, or pass --db FILE (or set {DB_ENV})"
        )
    with kind(db) as store:
        yield store


def echo_json(value: Any) -> None:
    """Print ``value`` as one line of JSON (UTF-8, times as ISO text)."""
    click.echo(json.dumps(value, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


@contextmanager
def output(out: Path | None) -> Iterator[IO[str]]:
    """``out`` opened for writing UTF-8 text, or stdout."""
    if out is None:
        yield sys.stdout
        return
    try:
        stream = out.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise CannotRun(f"cannot write {out}: {exc.strerror or exc}") from None
    with stream:
        yield stream


def read_secret(secret_file: Path | None) -> str | bytes:
    """The checkpoint secret: the file's content, else the environment variable."""
    if secret_file is not None:
        try:
            return secret_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise CannotRun(f"cannot read the secret file {secret_file}: {exc.strerror or exc}") from None
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise BadUse(
            "a checkpoint is sealed with a secret kept outside the database: "
            f"set {SECRET_ENV} or pass --secret-file FILE"
        )
    return secret


def read_checkpoint(path: Path) -> Any:
    """The checkpoint in ``path``, as the engine's checkpoint type when there is one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CannotRun(
            f"cannot read the checkpoint {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        module = importlib.import_module("aftersales_flow.checkpoint")
        reader = getattr(getattr(module, "Checkpoint", None), "from_json", None)
    except ImportError:  # pragma: no cover - an engine with checkpoints has the module
        reader = None
    try:
        return reader(text) if reader is not None else json.loads(text)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise CannotRun(
            f"{path}: not a checkpoint written by 'aftersales-flow checkpoint' ({type(exc).__name__}: {exc})"
        ) from None
