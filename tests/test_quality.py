"""The code is typed (mypy strict) and linted (ruff) as part of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it is part of the 'test' extra")
    return found


def test_mypy_strict_passes_on_src() -> None:
    """mypy --strict (configured in pyproject.toml) reports no error in src/."""
    result = subprocess.run([tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_passes_on_src_tests_examples_and_benchmarks() -> None:
    """ruff check reports nothing on the code the project ships and runs."""
    targets = [p for p in ("src", "tests", "examples", "benchmarks") if (ROOT / p).exists()]
    result = subprocess.run(
        [tool("ruff"), "check", *targets], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
