"""Tests for the parse layer: YAML text to marked plain values (``aftersales_flow._yaml``)."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from aftersales_flow import FlowDefinitionError, FlowSyntaxError, _yaml, load_flow
from aftersales_flow._yaml import MAX_BYTES, MAX_DEPTH, MAX_NODES, Mark, MarkedDict, MarkedList, parse_yaml
from fixture_flows import FLOWS

BROKEN = FLOWS / "yaml"


def syntax_error(name: str) -> FlowSyntaxError:
    with pytest.raises(FlowSyntaxError) as info:
        load_flow(BROKEN / name)
    return info.value


# --- marks ------------------------------------------------------------------------------


def test_marks_are_one_based_line_and_column():
    """Every mapping, key, value and list item remembers its 1-based line and column."""
    doc = parse_yaml("flow: x\nstates:\n  opened: {label: y}\nroles: [a, b]\n", "inline.yaml")
    assert isinstance(doc, MarkedDict)
    assert doc.mark == Mark("inline.yaml", 1, 1)
    assert doc.key_mark("states") == Mark("inline.yaml", 2, 1)
    assert doc.mark_of("flow") == Mark("inline.yaml", 1, 7)
    assert doc["states"].key_mark("opened") == Mark("inline.yaml", 3, 3)
    assert doc["states"].mark_of("opened") == Mark("inline.yaml", 3, 11)
    roles = doc["roles"]
    assert isinstance(roles, MarkedList)
    assert roles == ["a", "b"]
    assert roles.mark == Mark("inline.yaml", 4, 8)
    assert [roles.mark_of(0), roles.mark_of(1)] == [Mark("inline.yaml", 4, 9), Mark("inline.yaml", 4, 12)]


def test_missing_key_or_index_falls_back_to_the_container_mark():
    """Asking for the mark of an absent key or item gives the mark of the container itself."""
    doc = parse_yaml("a: 1\nitems: [x]\n", "inline.yaml")
    assert doc.mark_of("absent") == doc.key_mark("absent") == Mark("inline.yaml", 1, 1)
    assert doc["items"].mark_of(5) == Mark("inline.yaml", 2, 8)


def test_mark_renders_as_file_line_column():
    """A mark prints as ``file:line:col``."""
    assert str(Mark("flows/repair_order.yaml", 42, 9)) == "flows/repair_order.yaml:42:9"


# --- scalars ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "12:00",
        "yes",
        "Yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "2024-01-01",
        "2024-01-01 10:00:00",
        "0x1F",
        "017",
        ".inf",
        "1e3",
    ],
)
def test_yaml_11_traps_stay_text(text):
    """Values YAML 1.1 would turn into booleans, numbers or dates stay the text written."""
    assert parse_yaml(f"value: {text}\n", "inline.yaml") == {"value": text}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        ("0", 0),
        ("12", 12),
        ("-3", -3),
        ("1_000", 1000),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("6.02e+23", 6.02e23),
        ("~", None),
        ("null", None),
        ("", None),
        ('"12"', "12"),
        ("'true'", "true"),
        ("!!str 42", "42"),
    ],
)
def test_plain_scalars_parse(text, value):
    """true/false, whole numbers, decimals and null parse; quoted or !!str values stay text."""
    parsed = parse_yaml(f"value: {text}\n", "inline.yaml")["value"]
    assert parsed == value
    assert type(parsed) is type(value)


def test_mapping_keys_are_always_text():
    """Keys that YAML 1.1 reads as booleans or numbers are kept as the text written."""
    doc = parse_yaml("yes: 1\non: 2\ntrue: 3\n12: 4\n", "inline.yaml")
    assert list(doc) == ["yes", "on", "true", "12"]


def test_utf8_byte_order_mark_is_skipped():
    """A UTF-8 byte order mark at the start of the file is ignored."""
    assert parse_yaml(b"\xef\xbb\xbfflow: x\n", "inline.yaml") == {"flow": "x"}
    assert parse_yaml("\ufeffflow: x\n", "inline.yaml") == {"flow": "x"}


def test_windows_line_ends_are_read():
    """CRLF line ends parse like LF, with the same line numbers."""
    doc = parse_yaml(b"a: 1\r\nb: 2\r\n", "inline.yaml")
    assert doc == {"a": 1, "b": 2}
    assert doc.key_mark("b") == Mark("inline.yaml", 2, 1)


# --- refusals ---------------------------------------------------------------------------


def test_duplicate_key_is_refused_at_the_second_key():
    """A key written twice in one mapping is refused where it repeats, naming the first line."""
    err = syntax_error("duplicate_key.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/duplicate_key.yaml:10:3: duplicate key 'opened' (first at line 8); "
        "keep only one"
    )
    assert (err.file, err.line, err.column) == ("tests/fixtures/flows/yaml/duplicate_key.yaml", 10, 3)


def test_yaml_syntax_error_is_refused_with_its_place():
    """Broken YAML syntax is a FlowSyntaxError at the place the parser stopped."""
    err = syntax_error("syntax_error.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/syntax_error.yaml:7:1: invalid YAML: did not find expected ',' or '}' "
        "(in the flow mapping opened at 6:5)"
    )


def test_two_documents_are_refused():
    """A flow file holds one YAML document; a second one is refused where it starts."""
    err = syntax_error("two_documents.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/two_documents.yaml:3:1: invalid YAML: a second YAML document starts here; "
        "a flow file holds one (remove the '---' and what follows)"
    )


def test_python_tag_is_refused_and_never_run(monkeypatch):
    """A !!python/object/apply tag is refused at the tag, shown as written, and the function is never called."""
    calls: list[object] = []
    monkeypatch.setattr(os, "system", calls.append)
    err = syntax_error("python_tag.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/python_tag.yaml:6:12: YAML tag '!!python/object/apply:os.system' is not "
        "allowed; flow files hold plain values only (remove the tag)"
    )
    assert calls == []


@pytest.mark.parametrize(
    ("text", "tag", "column"),
    [
        ("a: !custom 1\n", "!custom", 4),
        ("a: !!binary aGVsbG8=\n", "!!binary", 4),
        ("a: !!set {x, y}\n", "!!set", 4),
        ("a: !!omap [x: 1]\n", "!!omap", 4),
        ("a: !<tag:yaml.org,2002:binary> aGVsbG8=\n", "!!binary", 4),
    ],
)
def test_non_plain_tags_are_refused(text, tag, column):
    """Custom tags and the non-scalar standard tags (binary, set, omap) are refused, shown as written."""
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml(text, "inline.yaml")
    assert str(info.value) == (
        f"inline.yaml:1:{column}: YAML tag {tag!r} is not allowed; flow files hold plain values only "
        "(remove the tag)"
    )


def test_merge_key_is_refused():
    """A YAML merge key ('<<') is refused at the key."""
    err = syntax_error("merge_key.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/merge_key.yaml:10:5: YAML merge keys ('<<') are not allowed; "
        "write the keys out"
    )


def test_non_scalar_key_is_refused():
    """A mapping key that is a list or mapping is refused."""
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("? [a, b]\n: 1\n", "inline.yaml")
    assert str(info.value) == "inline.yaml:1:3: mapping keys must be plain words"


def test_non_utf8_bytes_are_refused_at_the_bad_byte():
    """A file that is not UTF-8 is refused at the first bad byte, naming it."""
    err = syntax_error("not_utf8.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/not_utf8.yaml:3:16: the file is not UTF-8 (byte 0xe9); save it as UTF-8"
    )


def test_non_utf8_column_counts_characters():
    """The column of a bad byte counts characters, like every other column, not bytes."""
    text = "label: {zh: 咖啡, en: Caf".encode() + b"\xe9}\n"
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml(text, "inline.yaml")
    assert (info.value.line, info.value.column) == (1, 24)


def test_utf16_file_is_refused():
    """A UTF-16 file (with its byte order mark) is refused as not UTF-8."""
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("flow: x\n".encode("utf-16"), "inline.yaml")
    assert str(info.value) == "inline.yaml:1:1: the file is not UTF-8 (byte 0xff); save it as UTF-8"


def test_control_character_is_refused_at_its_place_on_one_line():
    """A control character is refused at its own line and column, in a one-line message."""
    err = syntax_error("control_character.yaml")
    assert (err.line, err.column) == (3, 18)
    assert str(err) == (
        "tests/fixtures/flows/yaml/control_character.yaml:3:18: the file holds the control character "
        "U+0007, which YAML does not allow; remove it"
    )


@pytest.mark.parametrize("loader", [_yaml._Loader, yaml.SafeLoader])
def test_control_character_column_counts_characters(monkeypatch, loader):
    """After non-ASCII text, a control character's column counts characters with either loader."""
    monkeypatch.setattr(_yaml, "_Loader", loader)
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("label: {zh: 咖啡}\nnote: '咖啡\x07'\n", "inline.yaml")
    assert (info.value.line, info.value.column) == (2, 10)


def test_empty_file_is_refused():
    """An empty file is refused at 1:1."""
    err = syntax_error("empty.yaml")
    assert (
        str(err)
        == "tests/fixtures/flows/yaml/empty.yaml:1:1: the file is empty; a flow file is a YAML mapping"
    )


def test_file_of_comments_only_is_refused_as_empty():
    """A file holding only comments is empty too."""
    err = syntax_error("comments_only.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/comments_only.yaml:1:1: the file is empty; a flow file is a YAML mapping"
    )


def test_oversized_file_is_refused_before_parsing():
    """A file larger than MAX_BYTES is refused without being parsed."""
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("#" * (MAX_BYTES + 1), "inline.yaml")
    assert str(info.value) == (
        f"inline.yaml:1:1: the file is {MAX_BYTES + 1} bytes, more than the {MAX_BYTES} accepted; split it"
    )


def test_alias_bomb_is_refused_quickly():
    """A billion-laughs alias bomb is refused within the node budget, in well under a second or two."""
    started = time.perf_counter()
    err = syntax_error("alias_bomb.yaml")
    elapsed = time.perf_counter() - started
    assert err.detail == (
        f"the file expands to more than {MAX_NODES} YAML nodes (an alias bomb?); write each value out instead of "
        "multiplying aliases"
    )
    assert elapsed < 3


def test_alias_bomb_points_at_the_line_that_multiplies():
    """The alias bomb is reported on the line whose aliases exceed the node budget, not inside 'a'."""
    # a..d expand to about 8,300 nodes; e (line 5) multiplies d nine times and passes 20,000.
    assert MAX_NODES == 20_000
    err = syntax_error("alias_bomb.yaml")
    assert (err.file, err.line) == ("tests/fixtures/flows/yaml/alias_bomb.yaml", 5)


def test_too_deep_nesting_is_refused():
    """Values nested deeper than MAX_DEPTH are refused at the first level too deep."""
    err = syntax_error("too_deep.yaml")
    assert MAX_DEPTH == 64
    assert str(err) == (
        "tests/fixtures/flows/yaml/too_deep.yaml:3:74: values are nested more than 64 levels deep; "
        "flatten the structure"
    )


def test_extremely_deep_nesting_is_refused_quickly():
    """Nesting far beyond any stack (100,000 levels) is a FlowSyntaxError, not a crash."""
    started = time.perf_counter()
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "inline.yaml")
    assert info.value.line == 1
    assert time.perf_counter() - started < 3


def test_extremely_deep_nesting_is_refused_by_the_pure_python_loader(monkeypatch):
    """Without libyaml, 100,000 levels of nesting are still a FlowSyntaxError, not a RecursionError."""
    monkeypatch.setattr(_yaml, "_Loader", yaml.SafeLoader)
    with pytest.raises(FlowSyntaxError) as info:
        parse_yaml("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "inline.yaml")
    assert info.value.line == 1
    assert info.value.detail == "values are nested more than 64 levels deep; flatten the structure"


def test_control_character_is_refused_by_the_pure_python_loader(monkeypatch):
    """Without libyaml, a control character is still a FlowSyntaxError, not a raw yaml ReaderError."""
    monkeypatch.setattr(_yaml, "_Loader", yaml.SafeLoader)
    with pytest.raises(FlowSyntaxError) as info:
        load_flow(BROKEN / "control_character.yaml")
    assert (info.value.line, info.value.column) == (3, 18)


def test_self_referencing_alias_is_refused():
    """An alias inside its own anchor (an endless value) is refused as a loop, not followed forever."""
    err = syntax_error("self_alias.yaml")
    assert str(err) == (
        "tests/fixtures/flows/yaml/self_alias.yaml:3:9: an alias in this value refers to the value that "
        "contains it, a loop without end; write the value out without the alias"
    )


def test_an_alias_used_twice_side_by_side_is_not_a_loop():
    """One anchored value used by several aliases next to each other is fine: only self-reference loops."""
    doc = parse_yaml("a: &a [x]\nb: [*a, *a]\nc: {d: *a}\n", "inline.yaml")
    assert doc == {"a": ["x"], "b": [["x"], ["x"]], "c": {"d": ["x"]}}


def test_syntax_errors_are_definition_errors():
    """FlowSyntaxError is a FlowDefinitionError, so callers catch every flow problem in one place."""
    err = syntax_error("empty.yaml")
    assert isinstance(err, FlowDefinitionError)
    assert err.errors == (err,)


def test_the_fast_loader_reads_every_shipped_flow_like_the_safe_loader(monkeypatch):
    """Resolving plain scalars in the builder gives exactly what PyYAML's safe loader's tags give."""
    from pathlib import Path

    files = sorted(Path("flows").rglob("*.yaml"))
    assert files
    fast = {str(p): parse_yaml(p.read_text(encoding="utf-8"), str(p)) for p in files}
    monkeypatch.setattr(_yaml, "_Loader", yaml.SafeLoader)
    for path, value in fast.items():
        assert parse_yaml(Path(path).read_text(encoding="utf-8"), path) == value, path


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: ~", None),
        ("a: null", None),
        ("a:", None),
        ("a: TRUE", True),
        ("a: false", False),
        ("a: yes", "yes"),
        ("a: 12:00", "12:00"),
        ("a: 0x1F", "0x1F"),
        ("a: 1_000", 1000),
        ("a: -7", -7),
        ("a: 1.5", 1.5),
        ("a: 1e5", "1e5"),
        ("a: .inf", ".inf"),
        ("a: 2024-01-01", "2024-01-01"),
        ("a: '12'", "12"),
        ("a: !!str 12", "12"),
    ],
)
def test_plain_scalars_keep_the_documented_meaning(text, value):
    """Plain scalars: null, true/false and decimal numbers are values; YAML 1.1 surprises stay text."""
    assert parse_yaml(text + "\n", "inline.yaml")["a"] == value
