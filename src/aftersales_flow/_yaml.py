"""Parse layer: YAML text to plain values that remember where each came from.

Only safe loading: no tags but the standard scalar ones, no Python objects. Aliases are
expanded with a budget so that an alias bomb is an error, not an out-of-memory. Every
mapping becomes a :class:`MarkedDict` and every sequence a :class:`MarkedList`, each
knowing the mark of itself and of every value inside.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple, cast

import yaml
from yaml.reader import ReaderError

from aftersales_flow.errors import FlowSyntaxError

try:  # libyaml is much faster; fall back to pure Python where it is missing
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,unused-ignore]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader


MAX_NODES = 20_000
"""Most YAML nodes one file may expand to (aliases counted each time they are used).

The largest shipped flow has about 1,300; the limit leaves room for any real flow and bounds
the time and memory a hostile file can cost (a second or so to load at the limit)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences accepted."""
MAX_BYTES = 1024 * 1024
"""Largest flow file accepted (the largest shipped flow is about 30 kB)."""
MAX_DIGITS = 30
"""Most digits a number in a flow file may have (no count, amount or duration needs more)."""

_STANDARD = "tag:yaml.org,2002:"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, "tag:yaml.org,2002:timestamp"}
_DECIMAL = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOATISH = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")

_PLAIN = "!aftersales-flow-plain"
"""The tag the loader gives every plain (unquoted) scalar; :func:`_implicit_tag` resolves it later."""
_IMPLICIT = {key: tuple(pairs) for key, pairs in yaml.resolver.Resolver.yaml_implicit_resolvers.items()}
"""PyYAML's own implicit tags (null, bool, int, float, merge…), by the first character they match."""


def _implicit_tag(text: str) -> str:
    """The tag PyYAML's safe loader gives the plain scalar ``text`` (the same table, looked up once)."""
    for tag, pattern in _IMPLICIT.get(text[:1], ()):
        if pattern.match(text):
            return str(tag)
    return _STR


class _Loader(_Base):  # type: ignore[misc,valid-type,unused-ignore]
    """The safe loader, without per-node resolver work while composing.

    The safe loader looks up every scalar's implicit tag and tracks resolver paths as it
    composes, in Python, for every node. Flow files use no path resolvers, and the builder
    reads each scalar anyway, so plain scalars get a placeholder tag here and are resolved
    by the builder with PyYAML's own table: the same values, with less work per node.
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers: nothing to track."""

    def ascend_resolver(self) -> None:
        """No path resolvers: nothing to track."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """A placeholder for plain scalars, the standard tag for everything else."""
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


class Mark(NamedTuple):
    """A place in a file: 1-based line and column.

    A named tuple rather than an attrs class: a flow file makes one per value, and a tuple is
    several times cheaper to create.
    """

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class MarkedDict(dict[str, Any]):
    """A mapping from a YAML file, with the marks of itself, its keys and its values."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def mark_of(self, key: str) -> Mark:
        """The mark of the value under ``key``, or of the mapping when the key is absent."""
        return self.value_marks.get(key, self.mark)

    def key_mark(self, key: str) -> Mark:
        """The mark of ``key`` itself, or of the mapping when the key is absent."""
        return self.key_marks.get(key, self.mark)


class MarkedList(list[Any]):
    """A sequence from a YAML file, with the marks of itself and of every item."""

    mark: Mark
    item_marks: list[Mark]

    def mark_of(self, index: int) -> Mark:
        """The mark of the item at ``index``."""
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


def marked_dict(mark: Mark, items: dict[str, Any] | None = None) -> MarkedDict:
    """A new :class:`MarkedDict` whose entries all carry ``mark`` (for synthesised values)."""
    result = MarkedDict(items or {})
    result.mark = mark
    result.key_marks = dict.fromkeys(result, mark)
    result.value_marks = dict.fromkeys(result, mark)
    return result


def mark_of(value: Any, default: Mark) -> Mark:
    """The mark of a container value, or ``default`` for a scalar."""
    mark = getattr(value, "mark", None)
    return mark if isinstance(mark, Mark) else default


def _mark(node: yaml.Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def shown_tag(tag: str) -> str:
    """A YAML tag as it is written in a file (``!!binary``, not ``tag:yaml.org,2002:binary``)."""
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        # The containers being built, innermost last: meeting one again means an alias inside
        # its own anchor, a value without end.
        self.path: set[int] = set()
        # The top-level entry being built. Aliased nodes carry the mark of their anchor, so an
        # alias bomb is reported at the entry that multiplies, not inside the first anchor.
        self.entry: Mark | None = None

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FlowSyntaxError(
                f"the file expands to more than {MAX_NODES} YAML nodes (an alias bomb?); "
                "write each value out instead of multiplying aliases",
                **_where(self.entry or _mark(node, self.file)),
            )
        if id(node) in self.path:
            raise FlowSyntaxError(
                "an alias in this value refers to the value that contains it, a loop without end; "
                "write the value out without the alias",
                **_where(_mark(node, self.file)),
            )
        if depth > MAX_DEPTH:
            raise FlowSyntaxError(
                f"values are nested more than {MAX_DEPTH} levels deep; flatten the structure",
                **_where(_mark(node, self.file)),
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self.path.add(id(node))
        if isinstance(node, yaml.MappingNode):
            built: MarkedDict | MarkedList = self._mapping(node, depth)
        else:
            assert isinstance(node, yaml.SequenceNode)
            built = self._sequence(node, depth)
        self.path.discard(id(node))
        return built

    def _check_tag(self, node: yaml.Node, allowed: set[str], tag: str | None = None) -> None:
        tag = tag or node.tag
        if tag not in allowed:
            raise FlowSyntaxError(
                f"YAML tag {shown_tag(tag)!r} is not allowed; flow files hold plain values only "
                "(remove the tag)",
                **_where(_mark(node, self.file)),
            )

    def _mapping(self, node: yaml.MappingNode, depth: int) -> MarkedDict:
        self._check_tag(node, {_MAP})
        result = MarkedDict()
        result.mark = _mark(node, self.file)
        result.key_marks = {}
        result.value_marks = {}
        for key_node, value_node in node.value:
            key_mark = _mark(key_node, self.file)
            if key_node.tag == _MERGE or (key_node.tag == _PLAIN and _implicit_tag(key_node.value) == _MERGE):
                raise FlowSyntaxError(
                    "YAML merge keys ('<<') are not allowed; write the keys out", **_where(key_mark)
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise FlowSyntaxError("mapping keys must be plain words", **_where(key_mark))
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = str(key_node.value)
            if key in result:
                first = result.key_marks[key]
                raise FlowSyntaxError(
                    f"duplicate key {key!r} (first at line {first.line}); keep only one",
                    **_where(key_mark),
                )
            result.key_marks[key] = key_mark
            if depth == 0:
                self.entry = key_mark
            result.value_marks[key] = _mark(value_node, self.file)
            result[key] = self.build(value_node, depth + 1)
        return result

    def _sequence(self, node: yaml.SequenceNode, depth: int) -> MarkedList:
        self._check_tag(node, {_SEQ})
        result = MarkedList()
        result.mark = _mark(node, self.file)
        result.item_marks = []
        for item in node.value:
            result.item_marks.append(_mark(item, self.file))
            if depth == 0:
                self.entry = result.item_marks[-1]
            result.append(self.build(item, depth + 1))
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        text: str = node.value
        tag: str = node.tag
        if tag == _PLAIN:
            tag = _implicit_tag(text)
        self._check_tag(node, _PLAIN_TAGS, tag)
        if node.style or tag == _STR:
            return text
        # YAML 1.1 reads 'yes', 'on', '12:00' and '2024-01-01' as bools, numbers and dates;
        # flow files keep those as the text written.
        if tag == _NULL:
            return None
        if tag == _BOOL:
            low = text.lower()
            return low == "true" if low in ("true", "false") else text
        if tag in (_INT, _FLOAT) and len(text) > MAX_DIGITS and text[-1:].isdigit():
            raise FlowSyntaxError(
                f"the number has {len(text)} characters, more than the {MAX_DIGITS} accepted; "
                "write a smaller number (or quote it if it is a name)",
                **_where(_mark(node, self.file)),
            )
        if tag == _INT and _DECIMAL.match(text):
            return int(text.replace("_", ""))
        if tag == _FLOAT and _FLOATISH.match(text):
            return float(text.replace("_", ""))
        return text


def _where(mark: Mark) -> dict[str, Any]:
    return {"file": mark.file, "line": mark.line, "column": mark.column}


_CONTEXT = re.compile(r"^while (?:parsing|scanning) an? (.+)$")
_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def _line_column(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of the character at ``index``, counting YAML's line breaks."""
    line, start = 1, 0
    for found in _BREAK.finditer(text, 0, index):
        line, start = line + 1, found.end()
    return line, index - start + 1


def _inside(text: str, line: int, column: int) -> tuple[int, int]:
    """``line`` and ``column`` moved back into ``text``.

    libyaml reports an error at the end of a file without a final line break one line past
    it; the end of the last line is where the file really ends.
    """
    lines = _BREAK.split(text)
    if line <= len(lines):
        return line, column
    return len(lines), len(lines[-1]) + 1


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        # Columns count characters everywhere else, so count the characters before the bad byte.
        prefix = raw[line_start : exc.start].decode("utf-8", errors="replace")
        column = len(prefix.removeprefix("\ufeff") if line == 1 else prefix) + 1
        raise FlowSyntaxError(
            f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            file=file,
            line=line,
            column=column,
        ) from None


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    context, begun = exc.context or "", exc.context_mark
    if context.startswith("expected a single document"):
        return "a second YAML document starts here; a flow file holds one (remove the '---' and what follows)"
    match = _CONTEXT.match(context)
    if match is None or begun is None:
        return problem
    thing = match.group(1).replace("simple key", "key")
    return f"{problem} (in the {thing} opened at {begun.line + 1}:{begun.column + 1})"


def _unreadable(exc: ReaderError, text: str, file: str) -> FlowSyntaxError:
    # libyaml counts the position in bytes and PyYAML in characters; the character itself is
    # refused wherever it appears, so its first appearance is the one reported.
    index = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
    line, column = _line_column(text, index if index >= 0 else min(exc.position, len(text)))
    code = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return FlowSyntaxError(
        f"the file holds the control character {code}, which YAML does not allow; remove it",
        file=file,
        line=line,
        column=column,
    )


def _compose(text: str, file: str) -> yaml.Node | None:
    loader = None
    try:
        loader = _Loader(text)
        return cast("yaml.Node | None", loader.get_single_node())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        line, column = _inside(text, line, column)
        message = f"invalid YAML: {_syntax_message(exc)}"
        raise FlowSyntaxError(message, file=file, line=line, column=column) from None
    except ReaderError as exc:
        raise _unreadable(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise FlowSyntaxError(f"invalid YAML: {exc}", file=file, line=1, column=1) from None
    except RecursionError:
        # Only PyYAML's pure-Python composer recurses; libyaml refuses deep nesting itself.
        at = loader.get_mark() if loader is not None and hasattr(loader, "get_mark") else None
        raise FlowSyntaxError(
            f"values are nested more than {MAX_DEPTH} levels deep; flatten the structure",
            file=file,
            line=at.line + 1 if at is not None else 1,
            column=at.column + 1 if at is not None else 1,
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_yaml(text: str | bytes, file: str) -> Any:
    """Parse one YAML document into marked plain values, or raise :class:`FlowSyntaxError`."""
    if len(text) > MAX_BYTES:
        raise FlowSyntaxError(
            f"the file is {len(text)} bytes, more than the {MAX_BYTES} accepted; split it",
            file=file,
            line=1,
            column=1,
        )
    if isinstance(text, bytes):
        text = _decode(text, file)
    text = text.removeprefix("\ufeff")
    node = _compose(text, file)
    if node is None:
        raise FlowSyntaxError("the file is empty; a flow file is a YAML mapping", file=file, line=1, column=1)
    return _Builder(file).build(node, 0)
