"""The README's Python example runs as written, and its commands are the ones CI runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_python_example_runs_and_prints_what_it_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every python block of the README runs from the repository root; printed lines match its comments."""
    monkeypatch.chdir(ROOT)
    for code in blocks("python"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        expected = [line.strip()[2:] for line in code.splitlines() if line.strip().startswith("# ")]
        assert out.getvalue().splitlines() == expected


def test_quick_start_has_exactly_the_two_commands() -> None:
    """The quick start holds two shell commands: the demo and the test suite."""
    commands = [b.strip() for b in blocks("sh")]
    assert len(commands) == 2
    assert commands[0].endswith("aftersales-flow demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's test command verbatim."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert blocks("sh")[1].strip() in ci
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_mentions_only_existing_docs() -> None:
    """Every local link of the README points at a file that exists."""
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_readme_flow_snippet_matches_the_shipped_flow() -> None:
    """The abridged YAML in the README is taken from the shipped repair order, line for line."""
    shipped = (ROOT / "flows" / "repair_order.yaml").read_text(encoding="utf-8")
    snippet = blocks("yaml")[0].splitlines()[1:]  # the 'transitions:' header stands for the section
    for line in snippet:
        assert line.strip() in shipped, line


def test_demo_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    """The README promises ./aftersales-demo.db: the demo's default store is relative."""
    from aftersales_flow.cli import demo

    default = next(p.default for p in demo.params if p.name == "db")
    assert default == "aftersales-demo.db"
    assert not Path(str(default)).is_absolute()


def test_rules_reference_is_up_to_date() -> None:
    """docs/rules.md is exactly what the generator makes from the registry (regenerate when stale)."""
    from aftersales_flow.reference import render_rules

    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == render_rules(), (
        "docs/rules.md is stale: run `python -m aftersales_flow.reference rules > docs/rules.md`"
    )
