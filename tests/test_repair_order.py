"""Scenarios of the shipped repair order (domain.md §2a), from the service desk's point of view."""

from __future__ import annotations

from datetime import timedelta

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from repair_order_steps import (
    FOREMAN,
    MANAGER,
    PARTS,
    QC,
    SA,
    SYSTEM,
    TECH,
    advance_to,
    line,
    open_order,
    signature,
)

DOMAIN_STATES = {
    "draft",
    "checking_in",
    "diagnosing",
    "awaiting_oem_warranty_decision",
    "estimate_presented",
    "authorized",
    "waiting_parts",
    "in_repair",
    "awaiting_additional_authorization",
    "final_inspection",
    "washing",
    "ready_for_delivery",
    "delivering",
    "awaiting_payment",
    "delivered",
    "awaiting_follow_up",
    "closed",
    "cancelled",
}
DOMAIN_EVENTS = {
    "draft_from_appointment",
    "open_walk_in",
    "customer_arrived",
    "complete_check_in",
    "authorize_diagnosis",
    "present_estimate",
    "diagnosis_completed",
    "refer_warranty_to_oem",
    "oem_decision_received",
    "customer_renegotiates",
    "sign_work_order",
    "customer_declines_all",
    "dispatch",
    "parts_unavailable",
    "parts_arrived",
    "release_vehicle_pending_parts",
    "additional_work_found",
    "additional_work_authorized",
    "additional_work_declined",
    "promised_time_changed",
    "repair_completed",
    "qc_passed",
    "qc_failed",
    "wash_done",
    "customer_notified_ready",
    "customer_accepts",
    "customer_rejects_work",
    "payment_received",
    "skip_follow_up",
    "follow_up_closed",
    "cancel",
    "cancel_during_repair",
}

EXTRA_LINE = line(
    "L9",
    "proposed",
    kind="part",
    description="Front brake pads",
    origin="additional_found",
    safety_critical=True,
    amount=680,
    reason="pads at 2 mm",
)


def messages(refusal: af.TransitionRefused) -> list[str]:
    return [reason.message for reason in refusal.reasons]


def test_flow_has_every_state_and_event_of_the_brief(flows: af.FlowSet) -> None:
    """The shipped repair order holds every state and event of domain.md §2a, terminal states included."""
    flow = flows["repair_order"]
    assert set(flow.states) == DOMAIN_STATES
    assert set(flow.events) >= DOMAIN_EVENTS
    assert flow.terminal_states == {"closed", "cancelled"}


def test_every_state_and_event_is_labelled_in_english_and_chinese(flows: af.FlowSet) -> None:
    """Each state and transition carries a non-empty English and Chinese label."""
    flow = flows["repair_order"]
    for state in flow.states.values():
        assert state.label.en.strip() and state.label.zh.strip() and state.label.zh != state.name
    for transition in (*flow.starts, *flow.transitions):
        assert transition.label is not None, transition.event
        assert transition.label.en.strip() and transition.label.zh.strip()


def test_happy_path_reaches_closed_and_replays(engine: af.Engine, clock: SimulatedClock) -> None:
    """A walk-in order runs to closed; its replay equals its head and the store verifies."""
    instance = advance_to(engine, clock, "RO-1", "closed")
    assert instance.version == 14
    assert engine.replay("RO-1") == instance
    assert engine.verify().ok


def test_extra_work_without_signed_authorization_is_refused(engine: af.Engine, clock: SimulatedClock) -> None:
    """Starting additional work before the customer signs for it is refused, naming the missing authorization."""
    advance_to(engine, clock, "RO-1", "in_repair")
    started = {**EXTRA_LINE, "status": "in_progress"}
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("RO-1", "record_work", actor=TECH, payload={"lines": [started]})
    assert messages(refused.value) == [
        "line L9 (Front brake pads) is additional work without the customer's signed authorization"
    ]
    last = engine.history("RO-1")[-1]
    assert (last.event, last.accepted, last.reasons) == ("record_work", False, refused.value.reasons)
    assert all(item["line_id"] != "L9" for item in engine.instance("RO-1").data["lines"])


def test_extra_work_is_authorized_per_line_then_done(engine: af.Engine, clock: SimulatedClock) -> None:
    """Additional work found, authorized by the customer's signature on that line, may then be done."""
    advance_to(engine, clock, "RO-1", "in_repair")
    engine.fire("RO-1", "additional_work_found", actor=TECH, payload={"lines": [EXTRA_LINE]})
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "additional_work_authorized",
            actor=SA,
            payload={
                "lines": [{"line_id": "L9", "status": "authorized"}],
                "promised_completion_at": clock.iso("2h"),
            },
        )
    assert (
        "line L9 (Front brake pads) is additional work without the customer's signed authorization"
        in messages(refused.value)
    )
    consent = signature("customer", "Li Wei", clock.iso(), "recorded_phone_consent", recording_ref="rec-1")
    engine.fire(
        "RO-1",
        "additional_work_authorized",
        actor=SA,
        payload={
            "lines": [{"line_id": "L9", "status": "authorized", "authorization": consent}],
            "promised_completion_at": clock.iso("2h"),
        },
    )
    step = engine.fire(
        "RO-1", "record_work", actor=TECH, payload={"lines": [{"line_id": "L9", "status": "done"}]}
    )
    assert step.target == "in_repair"


def test_phone_consent_needs_a_recording(engine: af.Engine, clock: SimulatedClock) -> None:
    """A phone consent without the recording's reference does not authorize a line."""
    advance_to(engine, clock, "RO-1", "in_repair")
    engine.fire("RO-1", "additional_work_found", actor=TECH, payload={"lines": [EXTRA_LINE]})
    consent = signature("customer", "Li Wei", clock.iso(), "recorded_phone_consent")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "additional_work_authorized",
            actor=SA,
            payload={
                "lines": [{"line_id": "L9", "status": "authorized", "authorization": consent}],
                "promised_completion_at": clock.iso("2h"),
            },
        )
    assert messages(refused.value) == [
        "line L9 (Front brake pads) has a customer authorization that is a phone consent without the "
        "reference of its recording"
    ]


def test_declined_safety_critical_item_needs_a_signature(engine: af.Engine, clock: SimulatedClock) -> None:
    """A declined safety-critical line without the customer's signature is refused; signed, it is accepted."""
    advance_to(engine, clock, "RO-1", "in_repair")
    engine.fire("RO-1", "additional_work_found", actor=TECH, payload={"lines": [EXTRA_LINE]})
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "additional_work_declined",
            actor=SA,
            payload={"lines": [{"line_id": "L9", "status": "declined"}]},
        )
    assert messages(refused.value) == [
        "line L9 (Front brake pads) is a declined safety-critical item whose customer signature is missing"
    ]
    signed = {
        "line_id": "L9",
        "status": "declined",
        "decline_signature": signature("customer", "Li Wei", clock.iso()),
    }
    assert (
        engine.fire("RO-1", "additional_work_declined", actor=SA, payload={"lines": [signed]}).target
        == "in_repair"
    )


def test_technician_cannot_sign_the_work_order_for_the_customer(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A technician may not fire sign_work_order, and a signature in a technician's name is not the customer's."""
    advance_to(engine, clock, "RO-1", "estimate_presented")
    payload = {
        "work_order_signature": signature("technician", "Zhao Gang", clock.iso(), covers=["L1", "L2"]),
        "payment_method": "cash",
        "old_parts_disposition": "customer_takes",
        "wash_opt_in": False,
        "additional_work_clause_explained": True,
        "lines": [{"line_id": "L1", "status": "authorized"}, {"line_id": "L2", "status": "authorized"}],
    }
    with pytest.raises(af.RoleDenied) as as_technician:
        engine.fire("RO-1", "sign_work_order", actor=TECH, payload=payload)
    assert messages(as_technician.value)[0] == (
        "'sign_work_order' needs one of the roles service_advisor; tech-031 holds technician"
    )
    with pytest.raises(af.GuardRejected) as by_advisor:
        engine.fire("RO-1", "sign_work_order", actor=SA, payload=payload)
    assert messages(by_advisor.value) == [
        "the customer's signature on 'work_order_signature' is signed by a technician, not by the customer",
        "line L1 (job L1) is covered by a work-order signature that is signed by a technician, not by the customer",
        "line L2 (job L2) is covered by a work-order signature that is signed by a technician, not by the customer",
    ]
    assert engine.instance("RO-1").state == "estimate_presented"


def test_staff_cannot_sign_in_the_customers_name(engine: af.Engine, clock: SimulatedClock) -> None:
    """A customer signature whose signer id is the acting advisor's own id is refused."""
    advance_to(engine, clock, "RO-1", "estimate_presented")
    forged = {
        "signer_role": "customer",
        "signer_id": SA.id,
        "signed_at": clock.iso(),
        "method": "e_sign",
        "covers": ["L1", "L2"],
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "sign_work_order",
            actor=SA,
            payload={
                "work_order_signature": forged,
                "payment_method": "cash",
                "old_parts_disposition": "customer_takes",
                "wash_opt_in": False,
                "additional_work_clause_explained": True,
                "lines": [
                    {"line_id": "L1", "status": "authorized"},
                    {"line_id": "L2", "status": "authorized"},
                ],
            },
        )
    assert messages(refused.value)[0] == (
        "the customer's signature on 'work_order_signature' is signed by the staff member entering it, "
        "not by the customer"
    )


def test_signing_leaves_no_line_undecided(engine: af.Engine, clock: SimulatedClock) -> None:
    """The work order cannot be signed while a proposed line is neither authorized nor declined."""
    advance_to(engine, clock, "RO-1", "estimate_presented")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "sign_work_order",
            actor=SA,
            payload={
                "work_order_signature": signature("customer", "Li Wei", clock.iso(), covers=["L1"]),
                "payment_method": "cash",
                "old_parts_disposition": "customer_takes",
                "wash_opt_in": False,
                "additional_work_clause_explained": True,
                "lines": [{"line_id": "L1", "status": "authorized"}],
            },
        )
    assert messages(refused.value) == ["line L2 (job L2) is still waiting for the customer's decision"]


def test_delivery_before_a_passed_final_inspection_is_refused(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The car cannot go to delivery from final inspection, nor pass QC on a failed result."""
    advance_to(engine, clock, "RO-1", "final_inspection")
    with pytest.raises(af.IllegalTransition) as early:
        engine.fire(
            "RO-1",
            "customer_notified_ready",
            actor=SA,
            payload={"settlement": {"total": 300}, "settlement_checked_against_estimate": True},
        )
    assert messages(early.value) == [
        "'customer_notified_ready' is not possible in state 'final_inspection'; possible now: qc_passed, qc_failed"
    ]
    with pytest.raises(af.GuardRejected) as failed:
        engine.fire(
            "RO-1",
            "qc_passed",
            actor=QC,
            payload={
                "final_inspection": {"result": "fail"},
                "final_inspection_signature": signature("qc_inspector", "Chen Jing", clock.iso()),
                "unresolved_findings": [],
            },
        )
    assert messages(failed.value) == ["'final_inspection.result' must be 'pass' (it is 'fail')"]


def test_qc_pass_goes_to_washing_only_when_the_customer_wants_a_wash(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """qc_passed branches on wash_opt_in: the happy path (no wash) lands in ready_for_delivery."""
    advance_to(engine, clock, "RO-1", "final_inspection")
    step = engine.fire(
        "RO-1",
        "qc_passed",
        actor=QC,
        payload={
            "final_inspection": {"result": "pass"},
            "final_inspection_signature": signature("qc_inspector", "Chen Jing", clock.iso()),
            "unresolved_findings": [],
        },
    )
    assert step.target == "ready_for_delivery"


def test_repeated_qc_failure_escalates_and_requires_a_road_test(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """The second QC failure (qc_rework_escalation_count=2) must notify someone and flags the escalation."""
    advance_to(engine, clock, "RO-1", "final_inspection")
    done = {
        "self_check_done": True,
        "technician_signoff": signature("technician", "Zhao", clock.iso()),
        "old_parts_collected": True,
    }
    engine.fire("RO-1", "qc_failed", actor=QC, payload={"qc_defects": ["loose bolt"]})
    assert engine.instance("RO-1").data["rework_count"] == 1
    assert "qc_escalation_required" not in engine.instance("RO-1").data
    engine.fire("RO-1", "repair_completed", actor=TECH, payload=done)
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("RO-1", "qc_failed", actor=QC, payload={"qc_defects": ["still loose"]})
    assert "'escalation_notified_to' is not recorded" in messages(refused.value)
    engine.fire(
        "RO-1",
        "qc_failed",
        actor=QC,
        payload={"qc_defects": ["still loose"], "escalation_notified_to": ["technical_director"]},
    )
    data = engine.instance("RO-1").data
    assert (data["rework_count"], data["qc_escalation_required"], data["road_test_required"]) == (
        2,
        True,
        True,
    )


def test_settlement_above_the_authorized_lines_blocks_acceptance(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """A settlement sheet above what the customer authorized is refused at acceptance, with the gap."""
    advance_to(engine, clock, "RO-1", "delivering")
    acceptance = {
        "work_explained": True,
        "old_parts_shown": True,
        "settlement_sheet_signature": signature("customer", "Li Wei", clock.iso()),
        "customer_acceptance": {"words": "ok"},
        "settlement": {"total": 360},
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("RO-1", "customer_accepts", actor=SA, payload=acceptance)
    assert messages(refused.value) == [
        "the settlement total 360.00 exceeds the authorized lines' total 300.00 by 60.00; get the customer's "
        "authorization for the extra or correct the sheet"
    ]


def test_closed_order_accepts_nothing(engine: af.Engine, clock: SimulatedClock) -> None:
    """A closed repair order refuses every event, saying it is final."""
    advance_to(engine, clock, "RO-1", "closed")
    with pytest.raises(af.IllegalTransition) as refused:
        engine.fire("RO-1", "cancel", actor=SA, payload={"cancel_reason": "customer_request"})
    assert messages(refused.value) == [
        "the repair_order is in its final state 'closed' (Closed) and accepts no more events"
    ]


def test_customer_requested_cancellation_needs_the_customers_signature(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Cancelling at the customer's request needs their signature; other reasons do not."""
    open_order(engine, "RO-1")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("RO-1", "cancel", actor=SA, payload={"cancel_reason": "customer_request"})
    assert messages(refused.value) == ["a cancellation the customer asked for needs the customer's signature"]
    open_order(engine, "RO-2")
    assert (
        engine.fire("RO-2", "cancel", actor=SA, payload={"cancel_reason": "parts_unobtainable"}).target
        == "cancelled"
    )


def test_cancel_during_repair_needs_the_service_managers_approval(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Cancelling during repair needs the service manager's signed approval and the customer's signature."""
    advance_to(engine, clock, "RO-1", "in_repair")
    payload = {
        "cancel_reason": "customer_request",
        "customer_cancellation_signature": signature("customer", "Li Wei", clock.iso()),
        "service_manager_approval": signature("service_advisor", "Wang", clock.iso()),
        "vehicle_restored_or_waiver": True,
        "charges_settled": True,
    }
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("RO-1", "cancel_during_repair", actor=SA, payload=payload)
    assert messages(refused.value) == [
        "the service manager's signature on 'service_manager_approval' is signed by a service advisor, "
        "not by the service manager"
    ]
    payload["service_manager_approval"] = signature("service_manager", MANAGER.id, clock.iso())
    assert engine.fire("RO-1", "cancel_during_repair", actor=SA, payload=payload).target == "cancelled"


def test_warranty_referral_waits_for_the_oem(engine: af.Engine, clock: SimulatedClock) -> None:
    """An undecidable warranty case goes to the OEM after the customer is told why, and comes back as an estimate."""
    open_order(engine, "RO-1")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire(
            "RO-1",
            "refer_warranty_to_oem",
            actor=SA,
            payload={"oem_case_ref": "FAW-77", "warranty_status": "pending_oem"},
        )
    assert messages(refused.value) == ["'reason_explained_to_customer' is not confirmed (not recorded)"]
    engine.fire(
        "RO-1",
        "refer_warranty_to_oem",
        actor=SA,
        payload={
            "oem_case_ref": "FAW-77",
            "warranty_status": "pending_oem",
            "reason_explained_to_customer": True,
        },
    )
    oem = af.Actor("faw-service", roles={"oem"})
    step = engine.fire(
        "RO-1",
        "oem_decision_received",
        actor=oem,
        payload={
            "oem_decision": "approved",
            "warranty_status": "covered",
            "lines": [line("L1", "proposed", pay_type="warranty")],
            "estimate_total_labour": 0,
            "estimate_total_parts": 0,
            "promised_completion_at": clock.iso("1d"),
        },
    )
    assert step.target == "estimate_presented"


def test_parts_wait_and_arrival(engine: af.Engine, clock: SimulatedClock) -> None:
    """Missing parts park the order with an ETA the customer knows; arrival returns it to authorized."""
    advance_to(engine, clock, "RO-1", "authorized")
    engine.fire(
        "RO-1",
        "parts_unavailable",
        actor=PARTS,
        payload={
            "backorders": [{"part": "pads", "eta": clock.iso("2d")}],
            "parts_eta": clock.iso("2d"),
            "parts_all_available": False,
            "customer_informed_of_eta": True,
        },
    )
    engine.fire(
        "RO-1",
        "release_vehicle_pending_parts",
        actor=SA,
        payload={"customer_informed": True, "vehicle_safe_to_drive": True},
    )
    assert engine.instance("RO-1").data["vehicle_off_site"] is True
    assert (
        engine.fire("RO-1", "parts_arrived", actor=SYSTEM, payload={"parts_all_available": True}).target
        == "authorized"
    )
    assert (
        engine.fire(
            "RO-1", "dispatch", actor=FOREMAN, payload={"technician_ids": ["t"], "bay_id": "B2"}
        ).target
        == "in_repair"
    )


# --- deadline: the OEM warranty ruling is followed up after oem_decision_followup (2 days) ---------


REFERRAL = {"oem_case_ref": "FAW-77", "warranty_status": "pending_oem", "reason_explained_to_customer": True}


def test_no_oem_ruling_after_two_days_reminds_the_service_advisor(
    engine: af.Engine, clock: SimulatedClock
) -> None:
    """Two days after the referral with no ruling, an SLA breach reminds the SA to chase the OEM; once."""
    open_order(engine, "RO-1")
    clock.advance("30m")
    referred = clock()
    engine.fire("RO-1", "refer_warranty_to_oem", actor=SA, payload=REFERRAL)
    clock.set(referred + timedelta(days=2) - timedelta(seconds=1))
    assert engine.tick() == []
    clock.set(referred + timedelta(days=2))
    steps = engine.tick()
    assert [(s.event, s.source, s.target, s.actor.id, s.at) for s in steps] == [
        (
            "sla_breached",
            "awaiting_oem_warranty_decision",
            "awaiting_oem_warranty_decision",
            "system",
            clock(),
        )
    ]
    event = engine.history("RO-1")[-1]
    assert event.payload == {"deadline": "oem_decision_followup", "due_at": "2026-11-04T08:30:00+00:00"}
    (deadline,) = engine.flows["repair_order"].states["awaiting_oem_warranty_decision"].deadlines
    assert deadline.label is not None
    assert deadline.label.en == "No OEM ruling yet: the service advisor follows up"
    assert engine.tick() == []
    assert engine.instance("RO-1").state == "awaiting_oem_warranty_decision"


def test_an_oem_ruling_in_time_clears_the_follow_up(engine: af.Engine, clock: SimulatedClock) -> None:
    """A ruling within two days leaves nothing to fire."""
    open_order(engine, "RO-1")
    engine.fire("RO-1", "refer_warranty_to_oem", actor=SA, payload=REFERRAL)
    clock.advance("1d")
    engine.fire(
        "RO-1",
        "oem_decision_received",
        actor=SA,
        payload={
            "oem_decision": "rejected",
            "warranty_status": "not_covered",
            "lines": [line("L1", "proposed", pay_type="customer")],
            "estimate_total_labour": 300,
            "estimate_total_parts": 0,
            "promised_completion_at": clock.iso("1d"),
        },
    )
    assert engine.store.pending_deadlines("RO-1") == []
    clock.advance("5d")
    assert engine.tick() == []
