"""Every program in examples/ runs as `python examples/X.py` and prints what it promises.

The brand-overlay guide (docs/brand-overlays.md) is checked here too: its overlay is the example's,
and the outputs it shows are what the commands print.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aftersales_flow as af
from conftest import FLOWS, ROOT

EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
GUIDE = (ROOT / "docs" / "brand-overlays.md").read_text(encoding="utf-8")
LANSHAN = EXAMPLES / "brands" / "lanshan" / "repair_order.yaml"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_FLOW_", "HYPOTHESIS"))}
    return {**env, **extra}


def example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python examples/NAME ARGS…`` with the suite's Python, from ``cwd``."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli(*args: str, cwd: Path, columns: int = 120) -> subprocess.CompletedProcess[str]:
    """The ``aftersales-flow`` console script installed next to the suite's Python."""
    script = shutil.which("aftersales-flow", path=str(BIN))
    assert script is not None, "the console script is not installed next to this Python"
    return subprocess.run(
        [script, *args],
        cwd=cwd,
        env=clean_env(COLUMNS=str(columns)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- each example runs and says what it did ---------------------------------------------------

EXPECTED = {
    "dealership_service.py": [
        "Mon 09:30 refused: the customer was not reminded to bring the vehicle papers and service records",
        "Mon 10:10 subscriber: 4 texts queued, position #5",
        "Wed 14:00 tick: day_before_reminder AP-101, day_before_reminder AP-102",
        "Wed 14:00 the subscriber died while handling event #7; position #6",
        "Wed 14:01 restarted: 1 text queued, position #7",
        "Wed 14:02 again: 0 texts queued",
        "Texts, each once:",
        "  #2   138-0000-0001  Li Wei, your service appointment for Thu 12 Nov 09:00 is booked.",
        "  #3   137-0000-0002  Zhao Qiang, your service appointment for Thu 12 Nov 14:00 is booked.",
        "  #4   138-0000-0001  Li Wei, parts and a technician are reserved for Thu 12 Nov 09:00.",
        "  #5   137-0000-0002  Zhao Qiang, parts and a technician are reserved for Thu 12 Nov 14:00.",
        "  #6   138-0000-0001  Li Wei, see you tomorrow, Thu 12 Nov 09:00. Please bring your service book.",
        "  #7   137-0000-0002  Zhao Qiang, see you tomorrow, Thu 12 Nov 14:00. Please bring your service book.",
    ],
    "custom_rule.py": [
        "courtesy_car v1: hand_over needs licence_valid_through(field='due_back_at', "
        "margin_days=params.licence_margin_days, timezone=params.timezone)",
        "refused by licence_valid_through: the driving licence expires on 2026-11-15; lending the car "
        "until 2026-11-12 needs it valid until 2026-11-19 at least (a 7-day margin)",
        "hand_over: requested -> on_loan",
        "history: request ok, hand_over refused, hand_over ok",
    ],
    "brand_property_test.py": ["lanshan/repair_order: every promise kept (19 states, 45 transitions)"],
}
"""What each example prints, line for line, run in an empty folder."""


def test_every_example_is_run_by_the_suite() -> None:
    """Each program in examples/ has its expected output here, so none is left out of the suite."""
    assert set(EXPECTED) == {path.name for path in EXAMPLES.glob("*.py")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_it_did(name: str, tmp_path: Path) -> None:
    """`python examples/NAME` exits 0 from any folder within seconds and prints its short report."""
    started = time.monotonic()
    result = example(name, cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == EXPECTED[name]
    assert result.stderr == ""
    assert took < 30, f"{name} took {took:.1f} s; examples stay short"
    left = [path.name for path in tmp_path.iterdir() if path.name != ".hypothesis"]  # hypothesis' own cache
    assert left == []  # the examples write nothing into the working folder


def test_brand_property_test_without_the_test_extra_says_what_to_install(tmp_path: Path) -> None:
    """Without hypothesis and pytest (`pip install .` alone), the property-test example names the extra, no traceback."""
    (tmp_path / "pytest.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pytest'\", name='pytest')\n", encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "brand_property_test.py")],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "No module named 'pytest'\nthis example needs the 'test' extra: pip install 'aftersales_flow[test]'\n"
    )


# --- the outbox subscriber ----------------------------------------------------------------------


def test_dealership_service_resumes_from_its_stored_position_in_a_new_process(tmp_path: Path) -> None:
    """Run twice on one folder, the subscriber starts where it stopped: each event is texted once, none is missed."""
    first = example("dealership_service.py", str(tmp_path), cwd=tmp_path)
    second = example("dealership_service.py", str(tmp_path), cwd=tmp_path)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert "Mon 10:10 subscriber: 4 texts queued, position #12" in second.stdout  # not the first run's again
    texts = [line for line in second.stdout.splitlines() if line.startswith("  #")]
    first_texts = [line for line in first.stdout.splitlines() if line.startswith("  #")]
    assert texts[: len(first_texts)] == first_texts
    assert len(texts) == 12
    seqs = [int(line.split()[0][1:]) for line in texts]
    assert len(set(seqs)) == len(seqs)
    with af.SQLiteStore(tmp_path / "aftersales.db") as store:
        engine = af.Engine(af.FlowSet({}), store)
        events = engine.events_since(0)
        texted = [e.seq for e in events if e.accepted and e.event != "sla_breached"]
        with contextlib.closing(sqlite3.connect(tmp_path / "notifier.db")) as notifier:
            (position,) = notifier.execute("SELECT seq FROM position").fetchone()
        assert position == events[-1].seq
        assert engine.events_since(position) == []
    assert seqs == texted  # every accepted event of these appointments is one text, in order
    assert any(not e.accepted for e in events)  # the refused bookings were read and skipped


# --- the custom rule ----------------------------------------------------------------------------


def test_custom_rule_flow_loads_on_the_command_line_with_its_rules() -> None:
    """The courtesy car flow names the example's rule: validate fails without --rules and passes with it."""
    flow = str(EXAMPLES / "courtesy_car.yaml")
    without = cli("validate", flow, cwd=ROOT)
    assert without.returncode == 1
    assert "guard names unknown rule 'licence_valid_through'" in without.stderr
    with_rules = cli("validate", flow, "--rules", "examples/custom_rule.py", cwd=ROOT)
    assert (with_rules.returncode, with_rules.stdout) == (0, f"{flow}: ok (courtesy_car v1, 4 states)\n")
    shown = cli("show", flow, "--rules", "examples/custom_rule.py", "--json", cwd=ROOT)
    assert "the driving licence is valid 7 days past due_back_at" in shown.stdout


# --- the brand-overlay guide ----------------------------------------------------------------------


def fenced(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of Markdown ``text`` as ``(language, body)``, in order."""
    found: list[tuple[str, str]] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines(keepends=True):
        if language is None and line.startswith("```"):
            language, body = line[3:].strip(), []
        elif language is not None and line.rstrip() == "```":
            found.append((language, "".join(body)))
            language = None
        elif language is not None:
            body.append(line)
    return found


def blocks(language: str = "") -> list[str]:
    """The guide's fenced blocks of ``language`` (no language: plain output blocks)."""
    return [body for lang, body in fenced(GUIDE) if lang == language]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding my-flows: the shipped flows copied, with Lanshan's overlay added (guide, section 1)."""
    folder = tmp_path_factory.mktemp("guide")
    shutil.copytree(FLOWS, folder / "my-flows")
    (folder / "my-flows" / "brands" / "lanshan").mkdir()
    shutil.copy(LANSHAN, folder / "my-flows" / "brands" / "lanshan" / "repair_order.yaml")
    return folder


def test_guide_overlay_is_the_example_overlay() -> None:
    """The whole overlay shown in the guide is examples/brands/lanshan/repair_order.yaml, and each step is part of it."""
    text = LANSHAN.read_text(encoding="utf-8")
    yaml_blocks = blocks("yaml")
    assert text in yaml_blocks
    for block in yaml_blocks:
        for line in block.splitlines():
            assert line.strip() in text, line


def test_guide_validate_output_is_real(workspace: Path) -> None:
    """The guide's `validate` output of the finished overlay is what the command prints."""
    result = cli("validate", "my-flows", "--brand", "lanshan", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert f"$ aftersales-flow validate my-flows --brand lanshan\n{result.stdout}" in blocks()


def test_guide_broken_overlays_give_the_errors_it_shows(workspace: Path, tmp_path: Path) -> None:
    """Each deliberate mistake of the guide ("Line N written as `…`") makes `validate` print the block that follows it."""
    mistakes = [
        (found[1], found[2], next(body for lang, body in fenced(GUIDE[found.end() :]) if not lang))
        for found in re.finditer(r"Line (\d+) written as `([^`]+)`", GUIDE)
    ]
    assert len(mistakes) == 3
    good = LANSHAN.read_text(encoding="utf-8").splitlines(keepends=True)
    folder = tmp_path / "broken"
    shutil.copytree(workspace / "my-flows", folder / "my-flows")
    overlay = folder / "my-flows" / "brands" / "lanshan" / "repair_order.yaml"
    for number, written, shown in mistakes:
        lines = list(good)
        line = lines[int(number) - 1]
        lines[int(number) - 1] = line[: len(line) - len(line.lstrip())] + written + "\n"
        overlay.write_text("".join(lines), encoding="utf-8")
        result = cli("validate", "my-flows", "--brand", "lanshan", cwd=folder)
        assert result.returncode == 1
        assert shown == f"$ aftersales-flow validate my-flows --brand lanshan\n{result.stderr}", (
            f"docs/brand-overlays.md is stale for line {number}; `validate` now prints:\n{result.stderr}"
        )


def test_guide_show_and_graph_excerpts_are_real(workspace: Path) -> None:
    """The guide's excerpts of `show --lang zh` (100 columns wide) and of the Mermaid graph are in their outputs."""
    common = ("repair_order", "--flows", "my-flows", "--brand", "lanshan")
    shown = cli("show", *common, "--lang", "zh", cwd=workspace, columns=100)
    drawn = cli("graph", *common, cwd=workspace)
    assert (shown.returncode, drawn.returncode) == (0, 0), shown.stderr + drawn.stderr
    excerpt = next(b for b in blocks() if b.startswith("维修委托书"))
    for line in excerpt.splitlines():
        if line != "…":
            assert line in shown.stdout.splitlines(), line
    mermaid = next(b for b in blocks() if "-->" in b)
    for line in mermaid.splitlines():
        assert line in drawn.stdout.splitlines(), line


def test_guide_python_runs_and_prints_what_it_says(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's Python block runs next to my-flows; the printed lines are its comments."""
    monkeypatch.chdir(workspace)
    (code,) = blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "brand-overlays.md", "exec"), {"__name__": "guide"})
    expected = [line.strip()[2:] for line in code.splitlines() if line.strip().startswith("# ")]
    assert out.getvalue().splitlines() == expected


def test_guide_property_test_output_is_the_examples() -> None:
    """The property test's output shown in the guide is the example's own."""
    (line,) = EXPECTED["brand_property_test.py"]
    assert f"$ python examples/brand_property_test.py\n{line}\n" in blocks()


# --- typing ---------------------------------------------------------------------------------------


def test_examples_and_this_module_pass_mypy_strict() -> None:
    """mypy --strict reports nothing in examples/ (the code integrators copy), here, nor in test_cli."""
    mypy = shutil.which("mypy", path=str(BIN)) or shutil.which("mypy")
    assert mypy is not None, "mypy is part of the 'test' extra"
    env = clean_env(MYPYPATH=os.pathsep.join(["src", "tests"]))
    result = subprocess.run(
        # src/ is checked by test_quality; here its modules are read for their types only.
        [mypy, "--strict", "--follow-imports=silent", "examples", "tests/test_examples.py", "tests/test_cli.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
