"""docs/reliability.md's tables name real tests: a renamed or deleted test fails here, not silently."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
FILES = {"V": "test_verify.py", "C": "test_checkpoint.py", "L": "test_links.py"}


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _tests_in(name: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / name).read_text(encoding="utf-8"))
    return {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def _named(cell: str) -> list[tuple[str, str]]:
    """``(file letter, test name)`` for each test named in a table cell like "V `a`, `b`, C `c`"."""
    found, letter = [], ""
    for token in re.finditer(r"\b([VCL])(?=\s+`)|`(test_\w+)`", cell):
        if token.group(1):
            letter = token.group(1)
        else:
            found.append((letter, token.group(2)))
    return found


def _tamper_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    rows = []
    for line in _section("Tamper evidence").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and "test_" in cells[2]:
            rows.append((cells[0], _named(cells[2])))
    return rows


def test_the_tamper_table_has_its_rows() -> None:
    """The table lists the tampering cases (a broken parse would make the next test pass vacuously)."""
    rows = _tamper_rows()
    assert len(rows) >= 20
    assert all(named for _, named in rows), [case for case, named in rows if not named]


def test_every_test_the_tamper_table_names_exists() -> None:
    """Each tampering case names tests that exist in the file its letter stands for."""
    missing = [
        f"{case}: {FILES[letter]}::{name}"
        for case, named in _tamper_rows()
        for letter, name in named
        if name not in _tests_in(FILES[letter])
    ]
    assert not missing, missing


def test_every_test_the_document_names_exists() -> None:
    """Any `test_…` named anywhere in the document exists in some test module."""
    every = set().union(*(_tests_in(p.name) for p in (ROOT / "tests").glob("test_*.py")))
    named = set(re.findall(r"`(?:tests/\w+\.py::)?(test_\w+)`", DOC.read_text(encoding="utf-8")))
    assert named, "the document names no test"
    assert named <= every, sorted(named - every)
