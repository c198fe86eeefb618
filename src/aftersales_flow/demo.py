"""The demo: a realistic repair order from walk-in to closed, on the embedded SQLite store.

Extra work is found and refused until the customer authorizes it, the final inspection
fails and the car is reworked, the settlement is checked against what was authorized, and
the order is paid, delivered and followed up. Every step and every refusal is printed with
its reasons; the run ends with ``verify()`` of the whole store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from aftersales_flow._demo_week import LOCAL, Week, local, summary
from aftersales_flow.engine import Engine
from aftersales_flow.errors import TransitionRefused
from aftersales_flow.loader import load_flows
from aftersales_flow.paths import shipped_flows
from aftersales_flow.sqlite_store import SQLiteStore
from aftersales_flow.testing import SimulatedClock
from aftersales_flow.values import Actor, VerifyReport

SA = Actor("sa-017 Wang Li", roles={"service_advisor"})
TECH = Actor("tech-031 Zhao Gang", roles={"technician"})
FOREMAN = Actor("foreman-02 Liu Qiang", roles={"foreman"})
QC = Actor("qc-05 Chen Jing", roles={"qc_inspector"})
CASHIER = Actor("cashier-01 Sun Mei", roles={"cashier"})
SYSTEM = Actor("scheduler", roles={"system"})
AGENT = Actor("cb-02 Lin Na", roles={"callback_agent"})


def _signature(role: str, who: str, at: str, method: str = "e_sign", **extra: Any) -> dict[str, Any]:
    return {"signer_role": role, "signer_name": who, "signed_at": at, "method": method, **extra}


class _Walk:
    """Fires the demo's commands and narrates each outcome."""

    def __init__(self, engine: Engine, clock: SimulatedClock, echo: Callable[[str], None]) -> None:
        self.engine = engine
        self.clock = clock
        self.echo = echo
        self.accepted = 0
        self.refused = 0

    def note(self, text: str) -> None:
        self.echo(f"\n  # {text}")

    def step(
        self,
        instance_id: str,
        event: str,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        *,
        start: str | None = None,
        advance: str = "5m",
    ) -> bool:
        self.clock.advance(advance)
        at = (self.clock() + LOCAL).strftime("%a %H:%M")
        try:
            if start is not None:
                step = self.engine.start(start, instance_id, event=event, actor=actor, payload=payload)
            else:
                step = self.engine.fire(instance_id, event, actor=actor, payload=payload)
        except TransitionRefused as refusal:
            self.refused += 1
            self.echo(f"  {at}  REFUSED  {event:<28} by {actor.id} ({type(refusal).__name__})")
            for reason in refusal.reasons:
                self.echo(f"               - {reason.message}")
            return False
        self.accepted += 1
        self.echo(f"  {at}  ok       {event:<28} {step.source or '(new)'} -> {step.target}  v{step.version}")
        return True


def _free_id(engine: Engine, prefix: str, first: int) -> str:
    number = first
    while engine.store.head(f"{prefix}-{number}") is not None or engine.store.events(f"{prefix}-{number}"):
        number += 1
    return f"{prefix}-{number}"


def run_demo(
    db: str | os.PathLike[str] = "aftersales-demo.db",
    *,
    echo: Callable[[str], None] = print,
    flows_dir: str | os.PathLike[str] | None = None,
    synchronous: str = "FULL",
) -> VerifyReport:
    """Walk one repair order through the whole process on the store at ``db``; return verify()."""
    flows = load_flows(flows_dir or shipped_flows())
    clock = SimulatedClock(local(date(2026, 11, 2), 8, 30))  # Monday 08:30 at the dealer
    with SQLiteStore(db, synchronous=synchronous) as store:
        engine = Engine(flows, store, clock=clock)
        ro = _free_id(engine, "RO", 1001)
        walk = _Walk(engine, clock, echo)
        echo(f"aftersales_flow demo: repair order {ro} on {os.fspath(db)}")
        echo("(times are the dealer's local time, Asia/Shanghai; the store keeps UTC)")
        _reception(walk, ro, clock)
        _repair(walk, ro, clock)
        _quality(walk, ro, clock)
        _delivery(walk, ro, clock)
        week = Week(engine, clock, echo, run=int(ro.split("-")[1]) - 1000)
        week.run()
        summary(engine, echo, week.fired)
        report = engine.verify()
        instance = engine.instance(ro)
        history = engine.history(ro)
        echo(
            f"\n{ro} is '{instance.state}' at version {instance.version}; its history holds "
            f"{len(history)} events ({sum(not e.accepted for e in history)} refused attempts)."
        )
        echo(f"Commands: {walk.accepted} accepted, {walk.refused} refused.")
        verdict = "OK" if report.ok else "PROBLEMS FOUND"
        echo(f"verify(): {verdict}: {report.checked} audit events in {report.instances} instances checked.")
        for problem in report.problems:
            echo(f"  - {problem}")
        return report


def _reception(walk: _Walk, ro: str, clock: SimulatedClock) -> None:
    walk.note("Step 3: a walk-in customer; reception, walk-around and the customer's own words.")
    walk.step(
        ro,
        "open_walk_in",
        SA,
        {
            "customer": {"name": "Mr. Li Wei", "phone": "138-0000-1234"},
            "vehicle": {
                "vin": "LFV2A21K5N3000123",
                "plate": "粤A·12345",
                "model": "Sagitar 1.4T",
                "mileage_in": 20480,
            },
            "customer_concern_verbatim": (
                "Squeal from the front when braking, and it is due for its 20,000 km service."
            ),
        },
        start="repair_order",
    )
    check_in = {
        "protective_kit_installed": ["seat", "steering_wheel", "floor_mat"],
        "walk_around": {"damage": ["scratch rear bumper"], "fuel": "1/2", "belongings": ["umbrella"]},
        "documents_received": ["vehicle_registration_certificate", "maintenance_booklet"],
    }
    walk.step(ro, "complete_check_in", SA, check_in)
    walk.note("The gear-lever cover was forgotten; fitted in front of the customer.")
    walk.step(
        ro,
        "complete_check_in",
        SA,
        {**check_in, "protective_kit_installed": ["seat", "steering_wheel", "floor_mat", "gear_lever"]},
    )
    walk.note("The estimate, split into labour and parts, with the promised time.")
    walk.step(
        ro,
        "present_estimate",
        SA,
        {
            "lines": [
                {
                    "line_id": "L1",
                    "kind": "labour",
                    "description": "20,000 km service",
                    "status": "proposed",
                    "origin": "customer_request",
                    "pay_type": "customer",
                    "amount": 380,
                },
                {
                    "line_id": "L2",
                    "kind": "part",
                    "description": "Oil and filter",
                    "status": "proposed",
                    "origin": "customer_request",
                    "pay_type": "customer",
                    "amount": 420,
                },
                {
                    "line_id": "L3",
                    "kind": "labour",
                    "description": "Air-conditioning cleaning",
                    "status": "proposed",
                    "origin": "recommended",
                    "pay_type": "customer",
                    "amount": 260,
                },
            ],
            "fault_confirmed": True,
            "warranty_status": "not_applicable",
            "parts_availability_checked": True,
            "estimate_total_labour": 640,
            "estimate_total_parts": 420,
            "promised_completion_at": clock.iso("4h"),
        },
    )
    walk.note("The customer declines the recommended A/C cleaning and signs the work order.")
    walk.step(
        ro,
        "sign_work_order",
        SA,
        {
            "work_order_signature": _signature("customer", "Li Wei", clock.iso(), covers=["L1", "L2"]),
            "payment_method": "wechat_pay",
            "old_parts_disposition": "customer_takes",
            "wash_opt_in": True,
            "additional_work_clause_explained": True,
            "lines": [
                {"line_id": "L1", "status": "authorized"},
                {"line_id": "L2", "status": "authorized"},
                {"line_id": "L3", "status": "declined"},
            ],
        },
    )


def _repair(walk: _Walk, ro: str, clock: SimulatedClock) -> None:
    walk.note("Step 4: dispatch and repair.")
    walk.step(
        ro, "dispatch", FOREMAN, {"technician_ids": ["tech-031"], "bay_id": "B4", "parts_all_available": True}
    )
    walk.step(
        ro,
        "record_work",
        TECH,
        {"lines": [{"line_id": "L1", "status": "done"}, {"line_id": "L2", "status": "done"}]},
        advance="50m",
    )
    walk.note(
        "The technician finds worn front brake pads (safety-critical) and wants to start on them at once."
    )
    walk.step(
        ro,
        "record_work",
        TECH,
        {
            "lines": [
                {
                    "line_id": "L4",
                    "kind": "part",
                    "description": "Front brake pads",
                    "status": "in_progress",
                    "origin": "additional_found",
                    "pay_type": "customer",
                    "safety_critical": True,
                    "amount": 680,
                    "reason": "pads at 2 mm",
                }
            ]
        },
    )
    walk.step(
        ro,
        "additional_work_found",
        TECH,
        {
            "lines": [
                {
                    "line_id": "L4",
                    "kind": "part",
                    "description": "Front brake pads",
                    "status": "proposed",
                    "origin": "additional_found",
                    "pay_type": "customer",
                    "safety_critical": True,
                    "amount": 680,
                    "reason": "pads at 2 mm",
                }
            ]
        },
    )
    walk.note("The service advisor phones the customer; a consent without its recording is not enough.")
    walk.step(
        ro,
        "additional_work_authorized",
        SA,
        {
            "lines": [
                {
                    "line_id": "L4",
                    "status": "authorized",
                    "authorization": _signature("customer", "Li Wei", clock.iso(), "recorded_phone_consent"),
                }
            ],
            "promised_completion_at": clock.iso("3h"),
        },
    )
    walk.step(
        ro,
        "additional_work_authorized",
        SA,
        {
            "lines": [
                {
                    "line_id": "L4",
                    "status": "authorized",
                    "authorization": _signature(
                        "customer",
                        "Li Wei",
                        clock.iso(),
                        "recorded_phone_consent",
                        recording_ref="rec-2026-11-02-0931",
                    ),
                }
            ],
            "promised_completion_at": clock.iso("3h"),
            "customer_notified": True,
        },
    )
    walk.step(ro, "record_work", TECH, {"lines": [{"line_id": "L4", "status": "done"}]}, advance="40m")
    walk.step(
        ro,
        "repair_completed",
        TECH,
        {
            "self_check_done": True,
            "old_parts_collected": True,
            "technician_signoff": _signature("technician", "Zhao Gang", clock.iso()),
        },
    )


def _quality(walk: _Walk, ro: str, clock: SimulatedClock) -> None:
    walk.note("Step 5: the final inspection finds a loose caliper bolt; rework, then a road test.")
    walk.step(
        ro,
        "qc_failed",
        QC,
        {
            "qc_defects": ["front-left caliper bolt under torque"],
            "final_inspection": {"result": "fail", "inspector": "qc-05"},
        },
    )
    walk.step(
        ro,
        "record_work",
        TECH,
        {
            "lines": [
                {
                    "line_id": "R1",
                    "kind": "labour",
                    "description": "Re-torque caliper bolts",
                    "status": "done",
                    "origin": "complaint_rework",
                    "pay_type": "internal_rework",
                    "amount": 0,
                    "internal_approval": {"approver_role": "foreman", "approver_id": "foreman-02"},
                }
            ]
        },
        advance="20m",
    )
    walk.step(
        ro,
        "repair_completed",
        TECH,
        {
            "self_check_done": True,
            "old_parts_collected": True,
            "technician_signoff": _signature("technician", "Zhao Gang", clock.iso()),
        },
    )
    walk.step(
        ro,
        "qc_passed",
        QC,
        {
            "final_inspection": {"result": "pass", "inspector": "qc-05"},
            "final_inspection_signature": _signature("qc_inspector", "Chen Jing", clock.iso()),
            "unresolved_findings": [],
        },
    )
    walk.step(
        ro,
        "qc_passed",
        QC,
        {
            "final_inspection": {"result": "pass", "inspector": "qc-05"},
            "final_inspection_signature": _signature("qc_inspector", "Chen Jing", clock.iso()),
            "unresolved_findings": [],
            "road_test": {"result": "pass", "by_role": "technician", "by": "tech-031"},
        },
        advance="15m",
    )
    walk.step(ro, "wash_done", TECH, advance="25m")
    walk.step(
        ro,
        "internal_handover",
        FOREMAN,
        {
            "parking_spot": "P-12",
            "service_pack_prepared": True,
            "sa_briefed": True,
            "sa_vehicle_check_done": True,
        },
    )


def _delivery(walk: _Walk, ro: str, clock: SimulatedClock) -> None:
    walk.note("Step 6: delivery; the settlement must not exceed what the customer authorized.")
    walk.step(
        ro,
        "customer_notified_ready",
        SA,
        {
            "settlement": {"labour": 380, "parts": 1100, "total": 1740},
            "settlement_checked_against_estimate": True,
        },
    )
    acceptance = {
        "work_explained": True,
        "old_parts_shown": True,
        "settlement_sheet_signature": _signature("customer", "Li Wei", clock.iso("30m")),
        "customer_acceptance": {"words": "Brakes are quiet now, thank you."},
    }
    walk.step(ro, "customer_accepts", SA, acceptance, advance="30m")
    walk.note("The sheet held an unauthorized 260 (the declined A/C cleaning); corrected to 1480.")
    walk.step(
        ro,
        "customer_accepts",
        SA,
        {**acceptance, "settlement": {"labour": 380, "parts": 1100, "total": 1480}},
    )
    walk.step(
        ro,
        "payment_received",
        CASHIER,
        {
            "payment": {"method": "wechat_pay", "amount": 1480},
            "invoice_no": "INV-2026-088123",
            "next_service_due": {"km": 25480, "date": "2027-05-02"},
        },
    )
    walk.note("Step 7: the order had rework, so it is always called back; its deadline draws it at once.")
    for step in walk.engine.tick():
        at = (clock() + LOCAL).strftime("%a %H:%M")
        walk.echo(f"  {at}  tick     {step.event:<28} {step.source} -> {step.target}")
    for child in walk.engine.children(ro):
        walk.echo(f"               (started {walk.engine.instance(child).flow} {child})")
    walk.note(
        "Two days later the callback agent calls; 09:00-11:00 and 16:00-18:30 are the customer's rest times."
    )
    call = {
        "rating": 9,
        "no_objection": True,
        "script_id": "CB-STD",
        "script_version": "3",
        "customer_comments": "brakes are quiet",
    }
    clock.set(clock().replace(hour=1, minute=30) + timedelta(days=2))  # 09:30 in Shanghai: a blackout
    walk.step(f"{ro}-CB", "call_completed", AGENT, call, advance="0s")
    walk.step(f"{ro}-CB", "call_completed", AGENT, call, advance="4h")
    walk.step(ro, "follow_up_closed", SYSTEM, {"follow_up_result": "completed_ok"})
