"""Hostile flow files: whatever a file holds, loading raises only FlowDefinitionError, located, quickly.

Random bytes, YAML-like text, random documents and mutations of the shipped flows and brand
overlays (keys deleted, values retyped, names changed, lines duplicated, Python tags, aliases,
tabs, control characters, byte-order marks, bytes that are not UTF-8) either load or raise a
:class:`FlowDefinitionError` whose every problem names a file of the load and a line and column
inside it, within :data:`LOAD_SECONDS` and :data:`PEAK_BYTES`. Any other exception, or a load
past the budget, fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aftersales_flow as af
from aftersales_flow._overlay import OVERLAY_KEYS
from aftersales_flow._shape import FLOW_KEYS, REQUIRED_FLOW_KEYS, STATE_KEYS, TRANSITION_KEYS
from aftersales_flow._yaml import MAX_BYTES, MAX_NODES, parse_yaml
from conftest import FLOWS

LOAD_SECONDS = 2.0
"""Most processor time one load of a hostile file may take (processor time, so that other
processes on the machine do not make the check flaky)."""
PEAK_BYTES = 200 * 1024 * 1024
"""Most memory one load of a hostile file may allocate at its peak."""

BASES = sorted(p.name for p in FLOWS.glob("*.yaml"))
OVERLAYS = sorted(p.relative_to(FLOWS).as_posix() for p in FLOWS.glob("brands/*/*.yaml"))
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MUTATING = settings(HOSTILE, max_examples=max(10, settings.default.max_examples // 2))
"""Half the profile's examples for the mutation tests, which load the whole folder each time."""

# --- the check ---------------------------------------------------------------------------

_BREAKS = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def line_count(raw: bytes) -> int:
    """The lines of a file as YAML counts them (every kind of line break)."""
    return len(_BREAKS.findall(raw.decode("utf-8", errors="replace"))) + 1


@attrs.frozen
class Loaded:
    """How one load went: its error (None when it loaded) and its time."""

    error: af.FlowDefinitionError | None
    seconds: float


def timed(load: Callable[[], object]) -> Loaded:
    """Run ``load``; a FlowDefinitionError is kept, any other exception propagates."""
    started = time.process_time()
    try:
        load()
    except af.FlowDefinitionError as exc:
        return Loaded(error=exc, seconds=time.process_time() - started)
    return Loaded(error=None, seconds=time.process_time() - started)


def peak_memory(load: Callable[[], object]) -> int:
    """The most memory ``load`` held at once, in bytes (run again under tracemalloc, which slows it)."""
    tracemalloc.start()
    try:
        timed(load)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_located(error: af.FlowDefinitionError, files: Mapping[str, int]) -> None:
    """Each problem is on its own line, starting with a file of the load and a place inside it.

    ``files`` maps each file the load read to its number of lines; a problem of a whole file
    or folder has line and column 0.
    """
    rendered = str(error).split("\n")
    assert len(rendered) == len(error.errors), f"one line per problem:\n{error}"
    for text, problem in zip(rendered, error.errors, strict=True):
        assert isinstance(problem, af.FlowDefinitionError)
        assert text == f"{problem.location}: {problem.detail}"
        assert problem.file in files, f"{problem.file!r} is not a file of the load: {text}"
        if problem.line == 0:
            assert problem.column == 0, text
        else:
            # One past the last line is let through here: a file without a final line break ends
            # there for libyaml; test_the_end_of_a_file_is_a_place_inside_it shows it on its own.
            assert 1 <= problem.line <= files[problem.file] + 1, f"line outside the file: {text}"
            assert problem.column >= 1, text


def assert_refused_cleanly(
    load: Callable[[], object], files: Mapping[str, int], *, memory: bool = True
) -> None:
    """``load`` loads or raises a located FlowDefinitionError, within the time (and memory) budget."""
    loaded = timed(load)
    assert loaded.seconds < LOAD_SECONDS, f"the load took {loaded.seconds:.1f} s"
    if loaded.error is not None:
        assert_located(loaded.error, files)
    if memory:
        peak = peak_memory(load)
        assert peak < PEAK_BYTES, f"the load held {peak / 2**20:.0f} MiB at its peak"


def folder_files(root: Path) -> dict[str, int]:
    """Every flow file under ``root`` (and the folders themselves) with its line count."""
    found = {os.fspath(p): line_count(p.read_bytes()) for p in root.rglob("*.yaml")}
    found.update({os.fspath(p): 0 for p in (root, *root.rglob("*")) if p.is_dir()})
    return found


def _forbidden(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"loading a flow file ran a command: {args}")


@pytest.fixture(scope="module", autouse=True)
def _no_commands() -> Iterator[None]:
    """Any attempt of a flow file to run a command (a Python tag obeyed) fails the test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "system", _forbidden)
        patch.setattr(subprocess, "Popen", _forbidden)
        yield


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped flows folder, to break one file at a time."""
    root = tmp_path_factory.mktemp("hostile") / "flows"
    shutil.copytree(FLOWS, root)
    return root


@contextmanager
def replaced(path: Path, raw: bytes) -> Iterator[None]:
    """``path`` holds ``raw`` for the duration, then its own bytes again."""
    original = path.read_bytes()
    path.write_bytes(raw)
    try:
        yield
    finally:
        path.write_bytes(original)


def check_file(path: Path, raw: bytes) -> None:
    """A lone file holding ``raw`` loads or is refused cleanly."""
    path.write_bytes(raw)
    assert_refused_cleanly(lambda: af.load_flow(path), {os.fspath(path): line_count(raw)})


# --- strategies --------------------------------------------------------------------------

NAMES = sorted(
    {
        name
        for flow in af.load_flows(FLOWS)
        for name in (*flow.states, *flow.events, *flow.roles, *flow.fields, *flow.params)
    }
)
RULES = sorted(af.rules.DEFAULT_REGISTRY.names())
KEYS = sorted({*FLOW_KEYS, *TRANSITION_KEYS, *STATE_KEYS, *OVERLAY_KEYS, "en", "zh", "rule", "param"})
TOKENS = [
    *(f"{key}:" for key in KEYS),
    *NAMES[:40],
    *RULES[:20],
    *["\n", "\n  ", "\n    ", " ", "- ", ": ", ", ", "[", "]", "{", "}", "? ", "|", ">", "'", '"'],
    *["#", "&", "*", "!", "%", "@", "`", "\\", "~"],
    "\t",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!binary ",
    "!!python/object/apply:os.system ",
    '!!python/object/apply:os.system ["echo"]',
    "!local ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:example.com,2000:\n",
    "null",
    "true",
    "yes",
    "12:00",
    "2024-01-01",
    ".inf",
    ".nan",
    "0x1F",
    "1e3",
    "-1",
    "9" * 5,
    "\ufeff",
    "\x00",
    "\x07",
    "\x1b",
    "\x85",
    "\u2028",
    "\r",
    "\r\n",
    "\ud7ff",
    "é",
    "维修",
]
yamlish = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)), max_size=150).map("".join)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(NAMES),
    st.sampled_from(RULES),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.sampled_from(NAMES), st.text(max_size=4)), inner, max_size=5
        ),
    ),
    max_leaves=25,
)
documents = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=12),
    # Every key a flow needs, each holding anything: the shape checks go past the first missing key.
    st.fixed_dictionaries(
        dict.fromkeys(REQUIRED_FLOW_KEYS, values),
        optional=dict.fromkeys(sorted(set(FLOW_KEYS) - set(REQUIRED_FLOW_KEYS)), values),
    ),
    st.fixed_dictionaries(
        {"extends": st.sampled_from([p.removesuffix(".yaml") for p in BASES]), "brand": st.just("hostile")},
        optional=dict.fromkeys(sorted(set(OVERLAY_KEYS) - {"extends", "brand"}), values),
    ),
)


def dumped(doc: Any) -> bytes:
    """A document as YAML bytes, the way a person would write it."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, allow_unicode=True, sort_keys=False, width=10_000).encode()


def plain(value: Any) -> Any:
    """A parsed flow file as plain dicts and lists (safe_dump refuses the marked kinds)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


Path_ = tuple[Any, ...]


def paths(value: Any, at: Path_ = ()) -> Iterator[Path_]:
    """The path of every value inside ``value`` (keys of mappings, indexes of lists)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*at, key)
        yield from paths(item, (*at, key))


def _parent(doc: Any, path: Path_) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {(new if k == old else k): _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(item, old, new) for item in value]
    return value


@attrs.frozen
class Mutated:
    """A broken file: its bytes, and what was done to the shipped file (which is what prints)."""

    raw: bytes = attrs.field(repr=False)
    changes: tuple[str, ...]


def _shown(path: Path_) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


@st.composite
def data_mutations(draw: st.DrawFn, raw: bytes) -> Mutated:
    """A shipped file with keys deleted, values retyped or names changed, written out again."""
    doc = plain(parse_yaml(raw, "shipped.yaml"))
    changes: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "retype", "rename"]))
        if kind == "rename":
            old = draw(st.sampled_from(sorted(set(_strings(doc)))))
            new = draw(
                st.one_of(
                    st.sampled_from(["", "X", old + "x", old[:-1], "a b", "über", "1abc"]),
                    st.sampled_from(NAMES),
                )
            )
            doc = _renamed(doc, old, new)
            changes.append(f"rename {old!r} to {new!r}")
            continue
        where = list(paths(doc))
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = _parent(doc, path)
        if kind == "delete":
            del parent[path[-1]]
            changes.append(f"delete {_shown(path)}")
        else:
            parent[path[-1]] = draw(values)
            changes.append(f"set {_shown(path)} to {parent[path[-1]]!r}")
    return Mutated(raw=dumped(doc), changes=tuple(changes))


SNIPPETS = [
    'x: !!python/object/apply:os.system ["echo hostile"]\n',
    "x: !!python/name:os.system\n",
    "x: !!python/object/new:subprocess.Popen [[echo]]\n",
    "x: !!binary aGk=\n",
    "x: !!set {a, b}\n",
    "x: !!omap [a: 1]\n",
    "x: !custom thing\n",
    "<<: {flow: merged}\n",
    "x: &anchor [a, b]\ny: *anchor\n",
    "x: *undefined\n",
    "x: &loop [*loop]\n",
    "x: &a [q,q,q,q,q,q,q,q,q]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nz: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "w: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nv: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nu: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    "x: " + "[" * 100 + "]" * 100 + "\n",
    "x: " + "{a: " * 70 + "b" + "}" * 70 + "\n",
    "\tx: 1\n",
    "x: \x00\n",
    "x: \x1b[31m\n",
    "\ufeffx: 1\n",
    "---\nx: 1\n",
    "? [a, b]\n: c\n",
    "1: one\n",
    "~: nothing\n",
    "x: " + "1" * 5000 + "\n",
    "x: '" + "a" * 100_000 + "'\n",
]
_BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff", b"\x80"]


@st.composite
def text_mutations(draw: st.DrawFn, raw: bytes) -> Mutated:
    """A shipped file with lines duplicated, deleted or indented with tabs, snippets and bad bytes put in."""
    changes: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        lines = raw.split(b"\n")
        if lines == [b""]:
            break
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["duplicate", "delete", "insert", "tab", "byte", "truncate", "bom"]))
        change = f"{kind} at line {index + 1}"
        if kind == "duplicate":
            lines.insert(index, lines[index])
        elif kind == "delete":
            del lines[index]
        elif kind == "insert":
            indent = re.match(rb" *", lines[index])
            prefix = indent.group(0) if indent else b""
            snippet = draw(st.sampled_from(SNIPPETS))
            change += f": {snippet[:80]!r}"
            encoded = snippet.encode("utf-8", errors="surrogatepass")
            lines[index:index] = [prefix + part for part in encoded.rstrip(b"\n").split(b"\n")]
        elif kind == "tab":
            lines[index] = re.sub(rb"^ +", b"\t", lines[index])
        elif kind == "byte":
            line = lines[index]
            at = draw(st.integers(0, len(line)))
            bad = draw(st.sampled_from(_BAD_BYTES))
            lines[index] = line[:at] + bad + line[at:]
            change += f", column {at + 1}: {bad!r}"
        elif kind == "truncate":
            lines = lines[:index]
        else:
            mark = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]))
            lines[0] = mark + lines[0]
            change = f"bom {mark!r}"
        changes.append(change)
        raw = b"\n".join(lines)
    return Mutated(raw=raw, changes=tuple(changes))


def mutations(raw: bytes) -> st.SearchStrategy[Mutated]:
    """A shipped file changed in its data or in its text."""
    return st.one_of(data_mutations(raw), text_mutations(raw))


# --- generated files ---------------------------------------------------------------------


@HOSTILE
@given(raw=st.binary(max_size=3000))
def test_random_bytes_are_refused_with_a_location(workspace: Path, raw: bytes) -> None:
    """Random bytes load as nothing but a located FlowDefinitionError."""
    check_file(workspace.parent / "random_bytes.yaml", raw)


@HOSTILE
@given(text=yamlish)
def test_yaml_like_text_is_refused_with_a_location(workspace: Path, text: str) -> None:
    """Text made of YAML punctuation, flow keys, tags and odd characters is refused cleanly."""
    check_file(workspace.parent / "yamlish.yaml", text.encode("utf-8", errors="surrogatepass"))


@HOSTILE
@given(doc=documents)
def test_random_documents_are_refused_with_a_location(workspace: Path, doc: dict[str, Any]) -> None:
    """Well-formed YAML with flow or overlay keys holding values of any type is refused cleanly."""
    path = workspace / "brands" / "hostile" / "document.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(dumped(doc))
    assert_refused_cleanly(lambda: af.load_flow(path), folder_files(workspace))


@MUTATING
@given(data=st.data())
def test_mutated_shipped_flows_are_refused_with_a_location(workspace: Path, data: st.DataObject) -> None:
    """A shipped flow broken in its data or text, loaded alone and with its folder, is refused cleanly."""
    path = workspace / data.draw(st.sampled_from(BASES), label="file")
    raw = data.draw(mutations(path.read_bytes()), label="mutated").raw
    with replaced(path, raw):
        # Memory is measured on the files made to hurt below; a mutation of a 30 kB file cannot
        # grow past the parser's node budget, and tracemalloc would double the run.
        assert_refused_cleanly(lambda: af.load_flow(path), {os.fspath(path): line_count(raw)}, memory=False)
        assert_refused_cleanly(lambda: af.load_flows(workspace), folder_files(workspace), memory=False)


@MUTATING
@given(data=st.data())
def test_mutated_brand_overlays_are_refused_with_a_location(workspace: Path, data: st.DataObject) -> None:
    """A shipped brand overlay broken in its data or text, alone and with its brand, is refused cleanly."""
    overlay = workspace / data.draw(st.sampled_from(OVERLAYS), label="overlay")
    raw = data.draw(mutations(overlay.read_bytes()), label="mutated").raw
    files = folder_files(workspace)
    files[os.fspath(overlay)] = line_count(raw)
    with replaced(overlay, raw):
        assert_refused_cleanly(lambda: af.load_flow(overlay), files, memory=False)
        assert_refused_cleanly(
            lambda: af.load_flows(workspace, brand=overlay.parent.name), files, memory=False
        )


# --- files made to hurt ------------------------------------------------------------------


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _shipped(name: str) -> str:
    return (FLOWS / name).read_text(encoding="utf-8")


SMALL_FLOW = """\
flow: hostile_case
version: 1
label: {en: Hostile case, zh: 测试}
roles: [service_advisor, system]
params:
  wait: 1d
fields:
  note: string
  due_at: datetime
start:
  - {event: open, to: waiting, roles: [service_advisor], accepts: [note, due_at]}
states:
  waiting:
    label: {en: Waiting, zh: 等待}
    deadlines:
      - {name: reminder, field: due_at, after: 2, unit: days}
  done: {terminal: true, label: {en: Done, zh: 完成}}
transitions:
  - {event: finish, from: waiting, to: done, roles: [service_advisor], guard: {rule: field_present, field: note}}
"""
"""A small valid flow with a parameter, fields, a deadline and a guard, to break in one place."""


def edited(old: str, new: str) -> bytes:
    """:data:`SMALL_FLOW` with ``old`` replaced by ``new``."""
    assert old in SMALL_FLOW
    return SMALL_FLOW.replace(old, new, 1).encode()


HURTFUL: dict[str, bytes] = {
    "alias bomb": _bomb(9).encode(),
    "alias bomb inside a flow": (
        _shipped("repair_order.yaml") + "x_bomb:\n  " + _bomb(9).replace("\n", "\n  ")
    ).encode(),
    "alias inside its own anchor": b"flow: &x [*x]\n",
    "mapping nested 10 000 deep": ("a: " + "{a: " * 10_000 + "b" + "}" * 10_000 + "\n").encode(),
    "list nested 10 000 deep": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(),
    "block lists nested 10 000 deep": ("a:\n" + "- " * 10_000 + "x\n").encode(),
    "nested 65 deep": ("a: " + "[" * 65 + "]" * 65 + "\n").encode(),
    "a 10 MB file": b"flow: big\ndescription: '" + b"a" * (10 * 2**20) + b"'\n",
    "just under the size limit": b"flow: big\ndescription: '" + b"a" * (MAX_BYTES - 40) + b"'\n",
    "a 10 MB line of keys": b"{" + b"k: v, " * (10 * 2**20 // 6) + b"}\n",
    "latin-1 bytes": "flow: réparation\n".encode("latin-1"),
    "UTF-16 with BOM": "flow: repair_order\n".encode("utf-16"),
    "UTF-8 BOM then a flow": b"\xef\xbb\xbf" + _shipped("complaint.yaml").encode(),
    "a BOM inside a value": "flow: repair\ufeff_order\n".encode(),
    "NUL bytes": b"flow: x\x00y\n",
    "escape sequences": b"flow: \x1b[2J\x1b[31mred\n",
    "tabs for indentation": b"flow: x\nstates:\n\topen: {}\n",
    "python object": b'flow: !!python/object/apply:os.system ["echo hostile"]\n',
    "python object as key": b'? !!python/object/apply:os.system ["echo hostile"]\n: x\n',
    "python module": b"flow: !!python/module:os\n",
    "python name in a guard": edited(
        "guard: {rule: field_present, field: note}", "guard: !!python/name:os.system"
    ),
    "a python object as a parameter": edited(
        "wait: 1d", 'wait: !!python/object/apply:os.system ["echo hostile"]'
    ),
    "two documents": b"flow: a\n---\nflow: b\n",
    "only a document end": b"...\n",
    "merge key": b"base: &b {flow: x}\n<<: *b\n",
    "a list at the top": b"- flow: x\n",
    "a key 100 000 characters long": b"k" * 100_000 + b": x\n",
}


FOUND: dict[str, bytes] = {
    # Each was a bug found by the generated tests above (another exception than a located error).
    "a version of 5000 digits": edited("version: 1", "version: " + "1" * 5000),
    "a parameter of 5000 digits": edited("wait: 1d", "wait: " + "9" * 5000),
    "a transition whose event is a list": edited("event: finish", "event: [finish]"),
    "a transition whose event is a mapping": edited("event: finish", "event: {name: finish}"),
    "a deadline whose unit is a list": edited("unit: days", "unit: [days]"),
    "a deadline whose unit is a mapping": edited("unit: days", "unit: {days: 2}"),
}


def test_the_small_flow_loads(tmp_path: Path) -> None:
    """The flow the cases below break is itself valid, so each case is refused for its one change."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_FLOW, encoding="utf-8")
    assert af.load_flow(path).name == "hostile_case"


@pytest.mark.parametrize("raw", FOUND.values(), ids=FOUND.keys())
def test_values_of_the_wrong_kind_are_refused_with_a_location(tmp_path: Path, raw: bytes) -> None:
    """Numbers too long to read, and lists or mappings where a name belongs, are refused cleanly."""
    check_file(tmp_path / "found.yaml", raw)


def test_the_end_of_a_file_is_a_place_inside_it(tmp_path: Path) -> None:
    """A syntax error at the end of a file without a final line break is located on its last line."""
    path = tmp_path / "unterminated.yaml"
    path.write_bytes(SMALL_FLOW.encode() + b"extra: [")
    with pytest.raises(af.FlowSyntaxError) as refused:
        af.load_flow(path)
    last = SMALL_FLOW.count("\n") + 1
    assert (refused.value.line, refused.value.column) == (last, len("extra: [") + 1)


@pytest.mark.parametrize("raw", HURTFUL.values(), ids=HURTFUL.keys())
def test_files_made_to_hurt_are_refused_with_a_location(tmp_path: Path, raw: bytes) -> None:
    """Alias bombs, deep nesting, huge files, bad encodings and Python tags are refused cleanly, running nothing."""
    check_file(tmp_path / "hurtful.yaml", raw)


def _chain(states: int, name: str = "s", target: str = "s") -> str:
    """A flow of ``states`` states in a line, each transition targeting ``<target><n>``.

    With the defaults every part of it is right; another ``target`` misspells every target.
    """
    lines = [
        "flow: long_chain",
        "version: 1",
        "label: {en: Long chain, zh: 长链}",
        "roles: [service_advisor]",
        "start:",
        f"  - {{event: open, to: {name}0, roles: [service_advisor]}}",
        "states:",
        *(f"  {name}{i}: {{label: {{en: Step {i}, zh: 步骤 {i}}}}}" for i in range(states)),
        "  done: {terminal: true, label: {en: Done, zh: 完成}}",
        "transitions:",
        *(
            f"  - {{event: e{i}, from: {name}{i}, to: {target}{i + 1}, roles: [service_advisor]}}"
            for i in range(states - 1)
        ),
        f"  - {{event: finish, from: {name}{states - 1}, to: done, roles: [service_advisor]}}",
    ]
    return "\n".join(lines) + "\n"


def test_the_largest_flow_the_limits_let_through_loads_in_bounded_time(tmp_path: Path) -> None:
    """A well-formed flow just inside the node limit loads within the time and memory budget."""
    states = MAX_NODES // 15  # about 5 nodes per state and 9 per transition
    raw = _chain(states).encode()
    assert len(raw) < MAX_BYTES
    path = tmp_path / "long_chain.yaml"
    path.write_bytes(raw)
    loaded = timed(lambda: af.load_flow(path))
    assert loaded.error is None, str(loaded.error)
    seconds = loaded.seconds
    assert seconds < LOAD_SECONDS, f"{states} states ({len(raw)} bytes) took {seconds:.1f} s to load"


def test_many_misspelt_names_are_reported_in_bounded_time(tmp_path: Path) -> None:
    """A 60 kB file whose 500 transitions all target misspelt states is refused within the budget."""
    count = 500
    raw = _chain(count, name="step_number_", target="step_numbr_").encode()
    path = tmp_path / "misspelt.yaml"
    path.write_bytes(raw)
    loaded = timed(lambda: af.load_flow(path))
    assert loaded.error is not None
    assert len(loaded.error.errors) >= count - 1
    assert_located(loaded.error, {os.fspath(path): line_count(raw)})
    assert loaded.seconds < LOAD_SECONDS, (
        f"{len(raw)} bytes with {len(loaded.error.errors)} unknown names took {loaded.seconds:.1f} s"
    )
