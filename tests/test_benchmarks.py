"""The benchmark harness: its quick mode runs end to end and reports every row and target.

No time is asserted: the numbers depend on the machine. The harness runs once, in a
subprocess, as CI runs it (``python benchmarks/run.py --quick``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"

TIME_ROWS = {
    "engine_fire_full",
    "engine_fire_normal",
    "engine_fire_memory",
    "engine_batch",
    "engine_fire_repair_order",
    "engine_options",
    "engine_options_refused",
    "engine_options_in_hand",
    "engine_options_refused_in_hand",
    "transitions_trigger",
    "transitions_trigger_refused",
    "statemachine_send",
    "raw_full",
    "raw_normal",
    "raw_batched",
    "fire_store_small",
    "fire_store_large",
    "verify_store_small",
    "verify_store_large",
}
MEMORY_ROWS = {"memory_engine", "memory_transitions_add_model", "memory_statemachine"}
TARGETS = {
    "fire_full_vs_raw_full",
    "fire_normal_vs_raw_normal",
    "batch_vs_raw_batched",
    "options_vs_transitions",
    "options_read_vs_transitions",
    "fire_normal_vs_statemachine",
    "memory_per_instance",
    "fire_large_vs_small_store",
    "verify_events_per_second",
    "verify_linear",
    "load_all_flows_ms",
    "options_refused_vs_transitions_refused",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The JSON results and the printed table of one quick run."""
    folder = tmp_path_factory.mktemp("benchmarks")
    out = folder / "results.json"
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out), "--dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8")), completed.stdout


def test_quick_mode_measures_every_timed_row(quick_run: tuple[dict[str, Any], str]) -> None:
    """Every timed row is there with a positive median."""
    results, _ = quick_run
    assert results["mode"] == "quick"
    assert results["complete"]
    assert results["errors"] == {}
    rows = results["rows"]
    assert set(rows) >= TIME_ROWS
    for key in TIME_ROWS:
        row = rows[key]
        assert row["available"], (key, row)
        assert row["median_us"] > 0, key
        assert row["per_second"] > 0, key
        assert row["samples"] >= 1, key
    assert rows["verify_store_small"]["verify_ok"]
    assert rows["verify_store_large"]["verify_ok"]


def test_batch_row_runs_engine_batch(quick_run: tuple[dict[str, Any], str]) -> None:
    """The batch row times fires inside engine.batch(), and its target is computed."""
    results, _ = quick_run
    assert results["rows"]["engine_batch"]["available"]
    assert results["targets"]["batch_vs_raw_batched"]["available"]


def test_quick_mode_measures_memory_and_loading(quick_run: tuple[dict[str, Any], str]) -> None:
    """Memory per instance for the engine and both peers, and the time to load the shipped flows."""
    results, _ = quick_run
    rows = results["rows"]
    for key in MEMORY_ROWS:
        assert rows[key]["available"], key
        assert isinstance(rows[key]["bytes_per_instance"], float | int), key
    assert rows["load_all_flows"]["median_ms"] > 0


def test_every_target_is_reported(quick_run: tuple[dict[str, Any], str]) -> None:
    """Each target of the issue has a measured value, its bar and whether it is met."""
    results, stdout = quick_run
    targets = results["targets"]
    assert set(targets) == TARGETS
    for key, item in targets.items():
        assert item["op"] in {">=", "<=", "<"}, key
        assert item["target"] > 0, key
        assert item["label"] in stdout, key
        if item["available"]:
            assert isinstance(item["value"], float | int), key
            assert isinstance(item["met"], bool), key


def test_run_records_machine_sizes_and_profile(quick_run: tuple[dict[str, Any], str]) -> None:
    """The results say what they ran on, the store sizes, and where the time of fire goes."""
    results, _ = quick_run
    machine = results["machine"]
    for key in ("cpu", "cpus", "python", "sqlite", "filesystem", "libraries"):
        assert machine[key], key
    sizes = results["sizes"]
    assert sizes["large"]["events"] > sizes["small"]["events"]
    profile = results["profile"]["bench_cycle"]
    assert profile["available"]
    assert profile["command_us"] > 0
    assert profile["cprofile"]["areas"]
    assert profile["cprofile"]["top_cumulative_aftersales_flow"]


def test_markdown_report_renders_a_results_file(
    quick_run: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """--markdown prints the tables of an earlier run without running anything."""
    results, _ = quick_run
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(RUN), "--markdown", str(saved)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for key in (*TIME_ROWS, *MEMORY_ROWS, "load_all_flows", *TARGETS):
        assert f"`{key}`" in completed.stdout, key
