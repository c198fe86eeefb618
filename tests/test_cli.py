"""The aftersales-flow console script, driven in a subprocess as a user would."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FLOWS

SCRIPT = shutil.which("aftersales-flow", path=str(Path(sys.executable).parent))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the console script is not installed next to this Python"
    return subprocess.run([SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_demo_writes_the_store_and_verifies(tmp_path: Path) -> None:
    """`aftersales-flow demo` walks a repair order to closed on ./aftersales-demo.db and verifies it."""
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aftersales-demo.db").is_file()
    out = result.stdout
    assert "REFUSED  record_work" in out
    assert "line L4 (Front brake pads) is additional work without the customer's signed authorization" in out
    assert "qc_failed" in out
    assert "RO-1001 is 'closed'" in out
    assert out.rstrip().splitlines()[-1].startswith("verify(): OK:")


def test_demo_twice_uses_a_new_order_and_still_verifies(tmp_path: Path) -> None:
    """A second demo run on the same store adds RO-1002 and verify() covers both."""
    assert run("demo", cwd=tmp_path).returncode == 0
    second = run("demo", "--db", "aftersales-demo.db", cwd=tmp_path)
    assert second.returncode == 0
    assert "repair order RO-1002" in second.stdout
    assert "already exists" not in second.stdout  # each run uses its own ids
    assert second.stdout.rstrip().splitlines()[-1].startswith("verify(): OK:")


def test_history_prints_refusals_with_reasons(tmp_path: Path) -> None:
    """`history ID` shows accepted and refused events with their reasons; --json gives one object a line."""
    run("demo", cwd=tmp_path)
    text = run("history", "RO-1001", cwd=tmp_path)
    assert text.returncode == 0
    assert "REFUSED record_work" in text.stdout
    assert "- line L4 (Front brake pads) is additional work without the customer's signed authorization" in text.stdout
    as_json = run("history", "RO-1001", "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert rows[0]["event"] == "open_walk_in"
    assert rows[-1]["to"] == "closed"
    assert any(not row["accepted"] for row in rows)


def test_history_of_an_unknown_instance_fails(tmp_path: Path) -> None:
    """`history` of an id the store does not hold exits 3 with a message."""
    run("demo", cwd=tmp_path)
    result = run("history", "RO-9999", cwd=tmp_path)
    assert result.returncode == 3
    assert "there is no instance 'RO-9999'" in result.stderr


def test_verify_detects_an_edited_row(tmp_path: Path) -> None:
    """`verify` exits 0 on a clean store and 1 naming the instance once a row is edited by hand."""
    run("demo", cwd=tmp_path)
    assert run("verify", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "aftersales-demo.db") as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET actor_id = 'someone else' WHERE seq = 5")
    result = run("verify", cwd=tmp_path)
    assert result.returncode == 1
    assert "PROBLEMS FOUND" in result.stdout
    assert "instance 'RO-1001', event #5" in result.stdout


def test_validate_ok_and_broken(tmp_path: Path) -> None:
    """`validate` accepts the shipped flows and reports a broken file as file:line:col, exiting 1."""
    ok = run("validate", str(FLOWS), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "repair_order" in ok.stdout
    broken = tmp_path / "broken.yaml"
    text = (FLOWS / "repair_order.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("    to: authorized\n", "    to: authorised\n", 1), encoding="utf-8")
    result = run("validate", "broken.yaml", cwd=tmp_path)
    assert result.returncode == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == "    to: authorized")
    assert result.stderr.startswith(f"broken.yaml:{line}:9: transition 'sign_work_order' targets unknown state 'authorised'")
    assert "did you mean 'authorized'?" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("validate",), 2, "Missing argument"),
        (("validate", "missing.yaml"), 1, "missing.yaml: cannot read the flow file"),
        (("history",), 2, "Missing argument"),
        (("verify", "--db", "nowhere.db"), 1, "no store at nowhere.db"),
        (("frobnicate",), 2, "No such command"),
    ],
)
def test_bad_arguments_and_missing_files(tmp_path: Path, args: tuple[str, ...], code: int, needle: str) -> None:
    """Bad arguments and missing files give a clear message and a non-zero exit."""
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code
    assert needle in result.stderr
