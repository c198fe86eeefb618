"""A shipped flow at work: a repair order from walk-in to closed, as commands.

The same happy path the test suite walks (tests/repair_order_steps.py), kept here so the
benchmarks do not import the tests. It shows what a command costs with the real rules,
payloads and the ``no_unauthorized_work`` invariant, next to the small benchmark flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

SA = af.Actor("sa-017", roles={"service_advisor"})
TECH = af.Actor("tech-031", roles={"technician"})
FOREMAN = af.Actor("foreman-02", roles={"foreman"})
QC = af.Actor("qc-05", roles={"qc_inspector"})
CASHIER = af.Actor("cashier-01", roles={"cashier"})
SYSTEM = af.Actor("scheduler", roles={"system"})

OPENING = {"customer": {"name": "Li Wei", "phone": "138"}, "vehicle": {"vin": "LFV0000000000001"}}


def _signature(role: str, who: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"signer_role": role, "signer_name": who, "signed_at": at, "method": "e_sign", **extra}


def _line(line_id: str, status: str, **extra: Any) -> dict[str, Any]:
    base = {
        "line_id": line_id,
        "kind": "labour",
        "description": f"job {line_id}",
        "status": status,
        "origin": "customer_request",
        "pay_type": "customer",
        "amount": 100,
    }
    return {**base, **extra}


PATH: list[tuple[str, af.Actor, Callable[[SimulatedClock], dict[str, Any]]]] = [
    (
        "complete_check_in",
        SA,
        lambda c: {
            "protective_kit_installed": ["seat", "steering_wheel", "floor_mat", "gear_lever"],
            "walk_around": {"damage": []},
            "documents_received": ["maintenance_booklet"],
            "customer_concern_verbatim": "noise when braking",
        },
    ),
    (
        "present_estimate",
        SA,
        lambda c: {
            "lines": [_line("L1", "proposed"), _line("L2", "proposed", kind="part", amount=200)],
            "fault_confirmed": True,
            "warranty_status": "not_applicable",
            "parts_availability_checked": True,
            "estimate_total_labour": 100,
            "estimate_total_parts": 200,
            "promised_completion_at": c.iso("4h"),
        },
    ),
    (
        "sign_work_order",
        SA,
        lambda c: {
            "work_order_signature": _signature("customer", "Li Wei", c.iso(), covers=["L1", "L2"]),
            "payment_method": "cash",
            "old_parts_disposition": "customer_takes",
            "wash_opt_in": False,
            "additional_work_clause_explained": True,
            "lines": [{"line_id": "L1", "status": "authorized"}, {"line_id": "L2", "status": "authorized"}],
        },
    ),
    (
        "dispatch",
        FOREMAN,
        lambda c: {"technician_ids": ["tech-031"], "bay_id": "B1", "parts_all_available": True},
    ),
    (
        "record_work",
        TECH,
        lambda c: {"lines": [{"line_id": "L1", "status": "done"}, {"line_id": "L2", "status": "done"}]},
    ),
    (
        "repair_completed",
        TECH,
        lambda c: {
            "self_check_done": True,
            "old_parts_collected": True,
            "technician_signoff": _signature("technician", "Zhao Gang", c.iso()),
        },
    ),
    (
        "qc_passed",
        QC,
        lambda c: {
            "final_inspection": {"result": "pass"},
            "final_inspection_signature": _signature("qc_inspector", "Chen Jing", c.iso()),
            "unresolved_findings": [],
        },
    ),
    (
        "internal_handover",
        FOREMAN,
        lambda c: {
            "parking_spot": "P-1",
            "service_pack_prepared": True,
            "sa_briefed": True,
            "sa_vehicle_check_done": True,
        },
    ),
    (
        "customer_notified_ready",
        SA,
        lambda c: {"settlement": {"total": 300}, "settlement_checked_against_estimate": True},
    ),
    (
        "customer_accepts",
        SA,
        lambda c: {
            "work_explained": True,
            "old_parts_shown": True,
            "settlement_sheet_signature": _signature("customer", "Li Wei", c.iso()),
            "customer_acceptance": {"words": "fine"},
        },
    ),
    (
        "payment_received",
        CASHIER,
        lambda c: {"payment": {"amount": 300, "method": "cash"}, "invoice_no": "INV-1"},
    ),
    ("schedule_follow_up", SYSTEM, lambda c: {"selected_for_callback": True}),
    ("follow_up_closed", SYSTEM, lambda c: {"follow_up_result": "completed_ok"}),
]
COMMANDS_PER_ORDER = 1 + len(PATH)


def run_order(engine: af.Engine, clock: SimulatedClock, order_id: str) -> int:
    """Open ``order_id`` and walk it to ``closed``; returns the number of commands sent."""
    engine.start("repair_order", order_id, event="open_walk_in", actor=SA, payload=OPENING)
    for event, actor, payload in PATH:
        clock.advance("10m")
        engine.fire(order_id, event, actor=actor, payload=payload(clock))
    return COMMANDS_PER_ORDER
