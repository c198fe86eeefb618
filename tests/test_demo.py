"""The demo: a repair order from walk-in to closed, every refusal printed with reasons, then verify()."""

from __future__ import annotations

from pathlib import Path

import aftersales_flow as af
from aftersales_flow.demo import run_demo


def test_demo_walks_to_closed_and_verifies(tmp_path: Path) -> None:
    """run_demo closes RO-1001 through extra work, a failed QC and rework, and verify() is clean."""
    lines: list[str] = []
    report = run_demo(tmp_path / "demo.db", echo=lines.append)
    assert report.ok
    text = "\n".join(lines)
    for needle in (
        "REFUSED  record_work",
        "is additional work without the customer's signed authorization",
        "a phone consent without the reference of its recording",
        "ok       qc_failed",
        "a road test is required and has not passed",
        "exceeds the authorized lines' total 1,480.00 by 260.00",
        "ok       follow_up_closed",
    ):
        assert needle in text, needle
    with af.SQLiteStore(tmp_path / "demo.db") as store:
        engine = af.Engine(af.load_flows("flows"), store)
        instance = engine.instance("RO-1001")
        assert instance.state == "closed"
        assert engine.replay("RO-1001") == instance
        refused = [e for e in engine.history("RO-1001") if not e.accepted]
        assert [e.event for e in refused] == [
            "complete_check_in",
            "record_work",
            "additional_work_authorized",
            "qc_passed",
            "customer_accepts",
        ]


def test_demo_runs_with_normal_synchronous(tmp_path: Path) -> None:
    """The demo also runs on a store with synchronous=NORMAL."""
    assert run_demo(tmp_path / "fast.db", echo=lambda _: None, synchronous="NORMAL").ok


def test_demo_week_runs_on_deadlines_scans_and_links(tmp_path: Path) -> None:
    """The week shows scans, a reminder, a no-show and its retry, an escalation, all fired by deadlines."""
    lines: list[str] = []
    assert run_demo(tmp_path / "demo.db", echo=lines.append).ok
    text = "\n".join(lines)
    for needle in (
        "scan     OUT-LFV3A23C1N3001001-",
        "customer_identified      -> identified",
        "(run again: 0 opened",
        "day_before_reminder      (fired by its deadline) -> day_before_reminded",
        "slot_missed              (fired by its deadline) -> no_show",
        "schedule_retry           (fired by its deadline) -> closed_no_show",
        "escalate                 (fired by its deadline) -> level_2_handling",
        "escalate                 (fired by its deadline) -> level_3_handling",
        "sla_breached             (deadline breached) -> booked",
        "(the arrival drafted and checked in repair order AP-2011-RO: 'checking_in')",
        "Summary",
    ):
        assert needle in text, needle
    with af.SQLiteStore(tmp_path / "demo.db") as store:
        engine = af.Engine(af.load_flows("flows"), store)
        assert engine.children("RO-1001") == ["RO-1001-CB"]
        assert engine.instance("RO-1001-CB").state == "completed_ok"
        assert engine.instance("CP-3011").state == "level_3_handling"
