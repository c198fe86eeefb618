"""Tests for the dealership rules: signatures, per-line authorization, estimates, settlement.

The module under test is ``aftersales_flow.rules.dealership``; the central invariant is the
repair order's "no unauthorized work" rule (domain.md §2a).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.dealership import (
    INTERNAL_APPROVER_ROLES,
    WORKED_STATUSES,
    authorized_lines_done,
    declines_signed,
    estimate_split,
    has_proposed_line,
    kit_installed,
    no_line_proposed,
    no_unauthorized_work,
    old_parts_collected,
    road_test_passed_if_required,
    settlement_within_authorization,
    signature_problem,
    signed,
    warranty_decided,
    will_reach,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SA = af.Actor("sa-1", roles={"service_advisor"})
METHODS = ["wet_ink_scan", "e_sign", "recorded_phone_consent"]

SIGNATURE: dict[str, Any] = {
    "signer_role": "customer",
    "signer_name": "Wang Li",
    "signed_at": "2026-11-02T08:30:00+08:00",
    "method": "e_sign",
    "document_ref": "RO-1/work-order",
}
"""A valid customer signature record."""


def _sig(**changes: Any) -> dict[str, Any]:
    """The valid signature with ``changes``; a change to None removes the key."""
    record = {**SIGNATURE, **changes}
    return {k: v for k, v in record.items() if v is not None}


def _ctx(data: Mapping[str, Any] | None = None, *, actor: af.Actor = SA) -> RuleContext:
    return RuleContext(
        data=data or {},
        before={},
        payload={},
        params={},
        now=NOW,
        actor=actor,
        instance_id="RO-1",
        flow="repair_order",
        state="in_repair",
        event="x",
    )


def _line(line_id: str = "L1", **fields: Any) -> dict[str, Any]:
    line = {
        "line_id": line_id,
        "description": "front brake pads",
        "kind": "part",
        "status": "authorized",
        "origin": "customer_request",
        "pay_type": "customer",
        "amount": 100,
    }
    line.update(fields)
    return line


def _work_order(*covers: str, **changes: Any) -> dict[str, Any]:
    return {**_sig(**changes), "covers": list(covers)}


# --- signature_problem ---------------------------------------------------------------------


def test_valid_signature_has_no_problem() -> None:
    """A record with role, signer, time and an accepted method is valid."""
    assert signature_problem(SIGNATURE, signer_role="customer", methods=METHODS, actor_id="sa-1") is None


def test_signer_id_instead_of_name_is_enough() -> None:
    """The signer may be named by id instead of name."""
    record = _sig(signer_name=None, signer_id="C-88")
    assert signature_problem(record, signer_role="customer", methods=METHODS) is None


@pytest.mark.parametrize("record", [None, "", {}, []])
def test_blank_signature_is_missing(record: Any) -> None:
    """No record, or an empty one, is 'missing'."""
    assert signature_problem(record, signer_role="customer", methods=METHODS) == "missing"


@pytest.mark.parametrize("record", ["signed", 1, ["customer"]])
def test_non_mapping_is_not_a_signature_record(record: Any) -> None:
    """A value that is not a mapping is 'not a signature record'."""
    assert signature_problem(record, signer_role="customer", methods=METHODS) == "not a signature record"


def test_wrong_signer_role() -> None:
    """A record signed in another role names that role and the one wanted."""
    record = _sig(signer_role="technician")
    assert signature_problem(record, signer_role="customer", methods=METHODS) == (
        "signed by a technician, not by the customer"
    )


def test_signer_role_not_given() -> None:
    """A record without a signer role is refused as not saying who signed."""
    record = _sig(signer_role=None)
    problem = signature_problem(record, signer_role="qc_inspector", methods=None)
    assert problem == "missing who signed (its signer_role must be qc_inspector)"


def test_no_signer_name_or_id() -> None:
    """A record naming no signer is refused."""
    record = _sig(signer_name=None)
    assert signature_problem(record, signer_role="customer", methods=METHODS) == (
        "missing the signer's name or id"
    )


def test_staff_signing_as_customer() -> None:
    """A customer signature whose signer id is the acting staff member's id is refused."""
    record = _sig(signer_id="sa-1")
    assert signature_problem(record, signer_role="customer", methods=METHODS, actor_id="sa-1") == (
        "signed by the staff member entering it, not by the customer"
    )


def test_staff_may_enter_their_own_staff_signature() -> None:
    """The staff check applies to customer signatures only: a technician enters their own sign-off."""
    record = _sig(signer_role="technician", signer_id="t-7", method=None)
    assert signature_problem(record, signer_role="technician", methods=None, actor_id="t-7") is None


def test_no_signed_at() -> None:
    """A record without the time of signing is refused."""
    record = _sig(signed_at=None)
    assert signature_problem(record, signer_role="customer", methods=METHODS) == "missing the time of signing"


def test_method_not_accepted() -> None:
    """A method outside the dealership's accepted list is refused, listing the accepted ones."""
    record = _sig(method="verbal")
    assert signature_problem(record, signer_role="customer", methods=METHODS) == (
        "made by 'verbal', which this dealership does not accept "
        "(accepted: wet_ink_scan, e_sign, recorded_phone_consent)"
    )


def test_method_not_recorded_is_refused_when_methods_are_listed() -> None:
    """A record without a method is refused when the dealership lists accepted methods."""
    record = _sig(method=None)
    problem = signature_problem(record, signer_role="customer", methods=METHODS)
    assert problem == "missing how it was made (method: one of wet_ink_scan, e_sign, recorded_phone_consent)"


def test_any_method_when_none_listed() -> None:
    """Without a methods list any method (or none) is accepted."""
    assert signature_problem(_sig(method="verbal"), signer_role="customer", methods=None) is None
    assert signature_problem(_sig(method=None), signer_role="customer", methods=None) is None


def test_phone_consent_needs_a_recording_ref() -> None:
    """A recorded phone consent must carry the reference of its recording."""
    record = _sig(method="recorded_phone_consent")
    assert signature_problem(record, signer_role="customer", methods=METHODS) == (
        "a phone consent without the reference of its recording"
    )
    record["recording_ref"] = "CALL-2026-11-02-0012"
    assert signature_problem(record, signer_role="customer", methods=METHODS) is None


def test_phone_consent_needs_recording_even_without_methods_list() -> None:
    """The recording check applies when no methods list is given."""
    record = _sig(method="recorded_phone_consent")
    assert signature_problem(record, signer_role="customer", methods=None) == (
        "a phone consent without the reference of its recording"
    )


# --- signed --------------------------------------------------------------------------------


def test_signed_holds_for_a_valid_record() -> None:
    """A valid customer signature in the field holds."""
    ctx = _ctx({"work_order_signature": SIGNATURE})
    assert signed(ctx, field="work_order_signature", methods=METHODS) is None


def test_signed_names_field_and_problem() -> None:
    """A failure names the signer role, the field and the problem."""
    assert signed(_ctx(), field="work_order_signature") == (
        "the customer's signature on 'work_order_signature' is missing"
    )


def test_signed_other_signer_role() -> None:
    """``signer_role`` asks for a staff signature, shown without underscores."""
    ctx = _ctx({"final_inspection_signature": _sig(signer_role="technician")})
    assert signed(ctx, field="final_inspection_signature", signer_role="qc_inspector") == (
        "the qc inspector's signature on 'final_inspection_signature' is signed by a technician, "
        "not by the qc inspector"
    )


def test_signed_refuses_the_acting_staff_as_customer() -> None:
    """The acting person cannot enter a customer signature with their own id."""
    ctx = _ctx({"decline_signature": _sig(signer_id="sa-1")})
    assert signed(ctx, field="decline_signature") == (
        "the customer's signature on 'decline_signature' is signed by the staff member entering it, "
        "not by the customer"
    )


# --- no_unauthorized_work: coverage --------------------------------------------------------


def test_original_scope_line_covered_by_work_order() -> None:
    """An original-scope line listed in the work-order signature's ``covers`` is authorized."""
    ctx = _ctx({"lines": [_line("L1")], "work_order_signature": _work_order("L1")})
    assert no_unauthorized_work(ctx, methods=METHODS) == []


def test_original_scope_line_not_in_covers() -> None:
    """A worked line the work-order signature does not list is unauthorized."""
    ctx = _ctx({"lines": [_line("L1"), _line("L2")], "work_order_signature": _work_order("L1")})
    assert no_unauthorized_work(ctx, methods=METHODS) == [
        "line L2 (front brake pads) is not covered by the customer's signature on the work order"
    ]


def test_original_scope_without_work_order_signature() -> None:
    """Without a work-order signature no original-scope line is covered."""
    ctx = _ctx({"lines": [_line("L1", description=None)]})
    assert no_unauthorized_work(ctx) == [
        "line L1 is not covered by the customer's signature on the work order"
    ]


def test_work_order_signature_must_be_valid() -> None:
    """A work-order signature that is itself faulty covers nothing, and the message says why."""
    ctx = _ctx({"lines": [_line("L1")], "work_order_signature": _work_order("L1", signed_at=None)})
    assert no_unauthorized_work(ctx, methods=METHODS) == [
        "line L1 (front brake pads) is covered by a work-order signature that is missing the time of signing"
    ]


def test_work_order_signature_by_the_acting_staff_covers_nothing() -> None:
    """A work-order 'customer' signature entered under the acting staff id covers nothing."""
    ctx = _ctx({"lines": [_line("L1")], "work_order_signature": _work_order("L1", signer_id="sa-1")})
    assert no_unauthorized_work(ctx) == [
        "line L1 (front brake pads) is covered by a work-order signature that is "
        "signed by the staff member entering it, not by the customer"
    ]


def test_additional_line_needs_its_own_authorization() -> None:
    """Additional work found during the repair is not covered by the work order, even if listed."""
    line = _line("L9", origin="additional_found", description="rear wiper blade")
    ctx = _ctx({"lines": [line], "work_order_signature": _work_order("L9")})
    assert no_unauthorized_work(ctx, methods=METHODS) == [
        "line L9 (rear wiper blade) is additional work without the customer's signed authorization"
    ]


def test_additional_line_with_its_own_authorization() -> None:
    """A per-line customer authorization covers additional work."""
    line = _line("L9", origin="additional_found", authorization=_sig(method="wet_ink_scan"))
    assert no_unauthorized_work(_ctx({"lines": [line]}), methods=METHODS) == []


def test_phone_authorization_needs_a_recording() -> None:
    """A per-line phone consent without its recording reference is not an authorization."""
    line = _line("L9", origin="additional_found", authorization=_sig(method="recorded_phone_consent"))
    assert no_unauthorized_work(_ctx({"lines": [line]}), methods=METHODS) == [
        "line L9 (front brake pads) has a customer authorization that is "
        "a phone consent without the reference of its recording"
    ]


def test_own_authorization_with_unaccepted_method() -> None:
    """A per-line authorization by a method the dealership does not accept is refused."""
    line = _line("L9", origin="additional_found", authorization=_sig(method="verbal"))
    problems = no_unauthorized_work(_ctx({"lines": [line]}), methods=METHODS)
    assert len(problems) == 1
    assert problems[0].startswith(
        "line L9 (front brake pads) has a customer authorization that is made by 'verbal'"
    )


def test_own_authorization_signed_by_staff() -> None:
    """A per-line 'customer' authorization signed in a staff role is refused."""
    line = _line("L9", origin="additional_found", authorization=_sig(signer_role="service_advisor"))
    problems = no_unauthorized_work(_ctx({"lines": [line]}))
    assert len(problems) == 1
    assert "not by the customer" in problems[0]


def test_faulty_own_authorization_is_not_rescued_by_the_work_order() -> None:
    """A line with a faulty authorization of its own is refused even when the work order lists it."""
    line = _line("L1", authorization=_sig(signed_at=None))
    ctx = _ctx({"lines": [line], "work_order_signature": _work_order("L1")})
    assert no_unauthorized_work(ctx) == [
        "line L1 (front brake pads) has a customer authorization that is missing the time of signing"
    ]


@pytest.mark.parametrize("status", ["proposed", "declined", "cancelled"])
def test_lines_not_worked_on_need_no_authorization(status: str) -> None:
    """Proposed, declined and cancelled lines are not worked on, so they need no signature."""
    line = _line("L9", origin="additional_found", status=status)
    assert no_unauthorized_work(_ctx({"lines": [line]})) == []


@pytest.mark.parametrize("status", WORKED_STATUSES)
def test_worked_statuses_need_authorization(status: str) -> None:
    """Authorized, in-progress and done lines all count as worked on."""
    line = _line("L9", origin="additional_found", status=status)
    assert len(no_unauthorized_work(_ctx({"lines": [line]}))) == 1


def test_every_unauthorized_line_is_named() -> None:
    """Each unauthorized line gets its own message, in line order."""
    lines = [_line("L1"), _line("L2", origin="additional_found"), _line("L3")]
    ctx = _ctx({"lines": lines, "work_order_signature": _work_order("L1")})
    problems = no_unauthorized_work(ctx)
    assert [p.split(" ")[1] for p in problems] == ["L2", "L3"]


@pytest.mark.parametrize("lines", [None, "L1", [], ["L1", None]])
def test_no_lines_means_no_unauthorized_work(lines: Any) -> None:
    """Without line mappings there is nothing to check."""
    assert no_unauthorized_work(_ctx({"lines": lines})) == []


# --- no_unauthorized_work: internal rework and who pays ------------------------------------


@pytest.mark.parametrize("role", INTERNAL_APPROVER_ROLES)
def test_internal_rework_with_an_internal_approver(role: str) -> None:
    """Internal rework is covered by an approver role's internal approval instead of the customer."""
    line = _line(
        "L5", pay_type="internal_rework", internal_approval={"approver_role": role, "approver_id": "x-1"}
    )
    assert no_unauthorized_work(_ctx({"lines": [line]})) == []


@pytest.mark.parametrize(
    "approval",
    [
        None,
        {"approver_role": "technician", "approver_id": "t-1"},
        {"approver_role": "foreman"},
        {"approver_role": "foreman", "approver_id": ""},
        "approved",
    ],
)
def test_internal_rework_without_a_valid_approver(approval: Any) -> None:
    """Internal rework without an approver role and id is refused, whatever customer signatures exist."""
    line = _line("L5", pay_type="internal_rework", internal_approval=approval, authorization=SIGNATURE)
    ctx = _ctx({"lines": [line], "work_order_signature": _work_order("L5")})
    [problem] = no_unauthorized_work(ctx)
    assert problem in {
        "line L5 (front brake pads) is internal rework, but no internal approver is recorded",
        "line L5 (front brake pads) is internal rework, but the internal approver must be one of: "
        "foreman, service advisor, service manager, technical director",
        "line L5 (front brake pads) is internal rework, but the internal approver's id is not recorded",
    }


@pytest.mark.parametrize(
    "data", [{"warranty_status": "covered"}, {"oem_decision": "approved"}, {"oem_decision": "partial"}]
)
def test_warranty_line_with_a_warranty_decision(data: dict[str, Any]) -> None:
    """A customer-authorized warranty line holds once coverage is decided or the OEM approved."""
    line = _line("L3", pay_type="warranty")
    ctx = _ctx({**data, "lines": [line], "work_order_signature": _work_order("L3")})
    assert no_unauthorized_work(ctx) == []


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"warranty_status": "pending_oem"},
        {"warranty_status": "not_covered"},
        {"oem_decision": "rejected"},
    ],
)
def test_warranty_line_without_a_warranty_decision(data: dict[str, Any]) -> None:
    """A warranty line without coverage or the OEM's approval is refused."""
    line = _line("L3", pay_type="warranty")
    ctx = _ctx({**data, "lines": [line], "work_order_signature": _work_order("L3")})
    assert no_unauthorized_work(ctx) == [
        "line L3 (front brake pads) is billed to warranty without a warranty decision "
        "(covered, or the OEM's approval)"
    ]


def test_warranty_line_still_needs_the_customer_signature() -> None:
    """Warranty coverage does not replace the customer's authorization of the work."""
    line = _line("L3", pay_type="warranty")
    ctx = _ctx({"warranty_status": "covered", "lines": [line]})
    assert no_unauthorized_work(ctx) == [
        "line L3 (front brake pads) is not covered by the customer's signature on the work order"
    ]


@pytest.mark.parametrize("pay_type", ["goodwill", "campaign"])
def test_goodwill_and_campaign_need_internal_approval(pay_type: str) -> None:
    """Goodwill and campaign lines need an internal approver as well as the customer's signature."""
    line = _line("L4", pay_type=pay_type)
    ctx = _ctx({"lines": [line], "work_order_signature": _work_order("L4")})
    assert no_unauthorized_work(ctx) == [
        f"line L4 (front brake pads) is billed as {pay_type}, but no internal approver is recorded"
    ]
    line["internal_approval"] = {"approver_role": "service_manager", "approver_id": "sm-1"}
    assert no_unauthorized_work(ctx) == []


def test_goodwill_approval_must_come_from_an_approver_role() -> None:
    """A goodwill line 'approved' by someone outside the approver roles is not internally approved."""
    expected = {
        "ok": "no internal approver is recorded",
        "technician": "the internal approver must be one of: foreman, service advisor, service manager, "
        "technical director",
    }
    for key, approval in (("technician", {"approver_role": "technician", "approver_id": "t-1"}), ("ok", "ok")):
        line = _line("L4", pay_type="goodwill", internal_approval=approval)
        ctx = _ctx({"lines": [line], "work_order_signature": _work_order("L4")})
        assert no_unauthorized_work(ctx) == [f"line L4 (front brake pads) is billed as goodwill, but {expected[key]}"]


def test_goodwill_approval_does_not_replace_the_customer_signature() -> None:
    """An internally approved goodwill line still needs the customer's authorization."""
    line = _line(
        "L4", pay_type="goodwill", internal_approval={"approver_role": "foreman", "approver_id": "f-1"}
    )
    assert no_unauthorized_work(_ctx({"lines": [line]})) == [
        "line L4 (front brake pads) is not covered by the customer's signature on the work order"
    ]


# --- no_line_proposed / has_proposed_line --------------------------------------------------


def test_no_line_proposed_holds_when_every_line_is_decided() -> None:
    """Lines authorized or declined leave nothing pending."""
    lines = [_line("L1"), _line("L2", status="declined")]
    assert no_line_proposed(_ctx({"lines": lines})) == []


def test_no_line_proposed_names_each_pending_line() -> None:
    """Each proposed line is waiting for the customer's decision."""
    lines = [_line("L1", status="proposed"), _line("L2"), _line("L3", status="proposed", description="")]
    assert no_line_proposed(_ctx({"lines": lines})) == [
        "line L1 (front brake pads) is still waiting for the customer's decision",
        "line L3 is still waiting for the customer's decision",
    ]


def test_has_proposed_line_holds_with_a_complete_proposal() -> None:
    """A proposed additional line with description, reason and amount holds."""
    line = _line("L9", status="proposed", origin="additional_found", reason="pads at 2 mm")
    assert has_proposed_line(_ctx({"lines": [line]})) == []


def test_has_proposed_line_fails_without_a_proposal() -> None:
    """No proposed line of the origin fails, naming the origin."""
    lines = [_line("L1", status="proposed"), _line("L9", origin="additional_found")]
    assert has_proposed_line(_ctx({"lines": lines})) == [
        "no new line with origin 'additional_found' is proposed"
    ]


def test_has_proposed_line_names_missing_details() -> None:
    """Each proposed line missing its reason, description or amount is named; zero is an amount."""
    lines = [
        _line("L9", status="proposed", origin="additional_found", description="", amount=None),
        _line("L10", status="proposed", origin="additional_found", reason="worn", amount=0),
    ]
    assert has_proposed_line(_ctx({"lines": lines})) == [
        "line L9 needs its 'description'",
        "line L9 needs its 'reason'",
        "line L9 needs its 'amount'",
    ]


def test_has_proposed_line_other_origin() -> None:
    """``origin`` picks which proposed lines count."""
    line = _line("L1", status="proposed", origin="recommended", reason="due at 60,000 km")
    assert has_proposed_line(_ctx({"lines": [line]}), origin="recommended") == []


# --- declines_signed -----------------------------------------------------------------------


def test_declined_safety_critical_line_needs_a_signature() -> None:
    """A declined safety-critical line without the customer's signature is named."""
    line = _line("L2", status="declined", safety_critical=True)
    assert declines_signed(_ctx({"lines": [line]})) == [
        "line L2 (front brake pads) is a declined safety-critical item whose customer signature is missing"
    ]


def test_declined_safety_critical_line_with_signature() -> None:
    """A valid decline signature satisfies the rule."""
    line = _line("L2", status="declined", safety_critical=True, decline_signature=SIGNATURE)
    assert declines_signed(_ctx({"lines": [line]}), methods=METHODS) == []


def test_decline_signature_entered_by_the_acting_staff() -> None:
    """A decline 'signed' under the acting staff member's id is refused."""
    line = _line("L2", status="declined", safety_critical=True, decline_signature=_sig(signer_id="sa-1"))
    assert declines_signed(_ctx({"lines": [line]})) == [
        "line L2 (front brake pads) is a declined safety-critical item whose customer signature is "
        "signed by the staff member entering it, not by the customer"
    ]


def test_other_declines_need_no_signature_by_default() -> None:
    """A declined line that is not safety-critical needs no signature unless all declines do."""
    line = _line("L2", status="declined", safety_critical=False)
    assert declines_signed(_ctx({"lines": [line]})) == []


def test_all_declines_needs_every_decline_signed() -> None:
    """With ``all_declines`` every declined line must be signed."""
    lines = [_line("L2", status="declined"), _line("L3", status="declined", safety_critical=True)]
    assert declines_signed(_ctx({"lines": lines}), all_declines=True) == [
        "line L2 (front brake pads) is a declined item whose customer signature is missing",
        "line L3 (front brake pads) is a declined safety-critical item whose customer signature is missing",
    ]


def test_declines_signed_ignores_lines_not_declined() -> None:
    """Safety-critical lines that are authorized or proposed are not declines."""
    lines = [_line("L2", safety_critical=True), _line("L3", status="proposed", safety_critical=True)]
    assert declines_signed(_ctx({"lines": lines}), all_declines=True) == []


# --- authorized_lines_done / old_parts_collected -------------------------------------------


def test_authorized_lines_done_holds_when_all_done() -> None:
    """Done, declined and cancelled lines leave nothing to do."""
    lines = [_line("L1", status="done"), _line("L2", status="declined"), _line("L3", status="cancelled")]
    assert authorized_lines_done(_ctx({"lines": lines})) == []


def test_authorized_lines_done_names_unfinished_lines() -> None:
    """Authorized and in-progress lines are named as not done."""
    lines = [_line("L1"), _line("L2", status="in_progress"), _line("L3", status="done")]
    assert authorized_lines_done(_ctx({"lines": lines})) == [
        "line L1 (front brake pads) is authorized but not done",
        "line L2 (front brake pads) is authorized but not done",
    ]


def test_old_parts_must_be_collected_after_a_part_is_replaced() -> None:
    """A done part line needs ``old_parts_collected`` true."""
    lines = [_line("L1", kind="part", status="done")]
    message = "parts were replaced but the old parts are not recorded as collected"
    assert old_parts_collected(_ctx({"lines": lines})) == message
    assert old_parts_collected(_ctx({"lines": lines, "old_parts_collected": False})) == message
    assert old_parts_collected(_ctx({"lines": lines, "old_parts_collected": True})) is None


def test_no_old_parts_without_a_replaced_part() -> None:
    """Labour lines and part lines not done replace no part."""
    lines = [_line("L1", kind="labour", status="done"), _line("L2", kind="part", status="authorized")]
    assert old_parts_collected(_ctx({"lines": lines})) is None


# --- estimate_split / warranty_decided / kit_installed -------------------------------------


def test_estimate_split_holds_with_both_subtotals() -> None:
    """Labour and parts subtotals as numbers (zero included) hold."""
    ctx = _ctx({"estimate_total_labour": 0, "estimate_total_parts": 812.5})
    assert estimate_split(ctx) == []


def test_estimate_split_names_each_missing_subtotal() -> None:
    """Each missing or non-numeric subtotal is named; True is not a number."""
    ctx = _ctx({"estimate_total_labour": "350", "estimate_total_parts": True})
    assert estimate_split(ctx) == [
        "the estimate's labour subtotal ('estimate_total_labour') is not recorded",
        "the estimate's parts subtotal ('estimate_total_parts') is not recorded",
    ]
    assert len(estimate_split(_ctx())) == 2


@pytest.mark.parametrize("status", ["covered", "not_covered", "not_applicable"])
def test_warranty_decided_holds_for_a_decision(status: str) -> None:
    """A decided warranty status holds."""
    assert warranty_decided(_ctx({"warranty_status": status})) is None


@pytest.mark.parametrize("data", [{}, {"warranty_status": None}])
def test_warranty_status_not_determined(data: dict[str, Any]) -> None:
    """No warranty status is 'not determined'."""
    assert warranty_decided(_ctx(data)) == "the warranty status is not determined"


@pytest.mark.parametrize("status", ["pending_diagnosis", "pending_oem"])
def test_warranty_status_pending(status: str) -> None:
    """A pending status must be decided or referred first."""
    assert warranty_decided(_ctx({"warranty_status": status})) == (
        f"the warranty status is still '{status}'; decide it (or refer to the OEM) first"
    )


def test_kit_installed_holds_when_every_piece_is_fitted() -> None:
    """Every item of the brand's kit recorded as fitted holds; extra pieces do not matter."""
    ctx = _ctx({"protective_kit_installed": ["seat", "floor_mat", "steering_wheel", "gear_lever", "fender"]})
    assert kit_installed(ctx, items=["seat", "steering_wheel", "floor_mat", "gear_lever"]) is None


def test_kit_installed_names_missing_pieces() -> None:
    """Missing pieces are listed in the kit's order."""
    ctx = _ctx({"protective_kit_installed": ["seat"]})
    assert kit_installed(ctx, items=["seat", "steering_wheel", "floor_mat"]) == (
        "the protective kit is not complete: steering_wheel, floor_mat not fitted"
    )


@pytest.mark.parametrize("fitted", [None, "seat", {"seat": True}])
def test_kit_installed_without_a_list(fitted: Any) -> None:
    """A value that is not a list fits nothing."""
    assert kit_installed(_ctx({"protective_kit_installed": fitted}), items=["seat"]) == (
        "the protective kit is not complete: seat not fitted"
    )


# --- settlement_within_authorization -------------------------------------------------------


def _settled(total: Any, lines: list[dict[str, Any]]) -> RuleContext:
    return _ctx({"settlement": {"total": total}, "lines": lines})


def test_settlement_within_authorized_lines() -> None:
    """A total at most the customer-paid authorized and done lines holds."""
    lines = [_line("L1", amount=300, status="done"), _line("L2", amount=200.5, status="authorized")]
    assert settlement_within_authorization(_settled(500.5, lines)) is None
    assert settlement_within_authorization(_settled(400, lines)) is None


def test_settlement_above_authorized_lines() -> None:
    """A total above the authorized lines is refused with both totals and the difference."""
    lines = [_line("L1", amount=300, status="done")]
    assert settlement_within_authorization(_settled(350, lines)) == (
        "the settlement total 350.00 exceeds the authorized lines' total 300.00 by 50.00; "
        "get the customer's authorization for the extra or correct the sheet"
    )


def test_settlement_threshold_allows_a_margin() -> None:
    """``threshold`` lets the total exceed the authorized lines by up to that amount."""
    lines = [_line("L1", amount=300, status="done")]
    assert settlement_within_authorization(_settled(320, lines), threshold=20) is None
    assert settlement_within_authorization(_settled(320.01, lines), threshold=20) is not None


def test_settlement_counts_only_customer_paid_authorized_lines() -> None:
    """Warranty, goodwill, proposed, declined and cancelled lines do not add to what the customer authorized."""
    lines = [
        _line("L1", amount=300, status="done"),
        _line("L2", amount=1000, status="done", pay_type="warranty"),
        _line("L3", amount=1000, status="done", pay_type="goodwill"),
        _line("L4", amount=1000, status="proposed"),
        _line("L5", amount=1000, status="declined"),
        _line("L6", amount=1000, status="cancelled"),
        _line("L7", amount=True, status="done"),
        _line("L8", amount="1000", status="done"),
    ]
    assert settlement_within_authorization(_settled(300, lines)) is None
    assert settlement_within_authorization(_settled(301, lines)) == (
        "the settlement total 301.00 exceeds the authorized lines' total 300.00 by 1.00; "
        "get the customer's authorization for the extra or correct the sheet"
    )


def test_settlement_line_without_pay_type_is_customer_paid() -> None:
    """A line without ``pay_type`` is paid by the customer."""
    line = _line("L1", amount=300, status="done")
    del line["pay_type"]
    assert settlement_within_authorization(_settled(300, [line])) is None


@pytest.mark.parametrize("settlement", [None, {}, {"total": None}, {"total": "300"}, {"total": True}, 300])
def test_settlement_total_not_recorded(settlement: Any) -> None:
    """Without a numeric total on the settlement sheet the rule refuses."""
    ctx = _ctx({"settlement": settlement, "lines": [_line("L1", status="done")]})
    assert settlement_within_authorization(ctx) == "the settlement sheet's total is not recorded"


def test_settlement_equal_to_authorized_cents_is_within() -> None:
    """A total equal to the sum of the authorized lines is within, cents and all.

    Summing 100.1 + 200.2 in binary floating point gives 300.29999999999995, so a settlement of
    exactly 300.3 is refused today as exceeding by 5.68434e-14.
    """
    lines = [_line("L1", amount=100.1, status="done"), _line("L2", amount=200.2, status="done")]
    assert settlement_within_authorization(_settled(300.3, lines)) is None


def test_settlement_message_shows_amounts_to_the_cent() -> None:
    """The refusal shows the totals to the cent with thousands separators, never rounded or in e-notation."""
    lines = [_line("L1", amount=12000, status="done")]
    message = settlement_within_authorization(_settled(12345.67, lines))
    assert message is not None
    assert "total 12,345.67 exceeds the authorized lines' total 12,000.00 by 345.67" in message
    message = settlement_within_authorization(_settled(1_234_567, lines))
    assert message is not None
    assert "total 1,234,567.00 exceeds" in message


# --- road_test_passed_if_required / will_reach ---------------------------------------------


@pytest.mark.parametrize("data", [{}, {"road_test_required": False}, {"road_test_required": "yes"}])
def test_road_test_not_required(data: dict[str, Any]) -> None:
    """Without ``road_test_required`` true no road test is needed."""
    assert road_test_passed_if_required(_ctx(data)) is None


@pytest.mark.parametrize(
    "test", [None, {"result": "fail", "by_role": "technician"}, {"by_role": "technician"}]
)
def test_required_road_test_not_passed(test: Any) -> None:
    """A required road test that is missing or did not pass is refused."""
    ctx = _ctx({"road_test_required": True, "road_test": test})
    assert road_test_passed_if_required(ctx) == "a road test is required and has not passed"


@pytest.mark.parametrize("role", ["technician", "service_advisor", "qc_inspector"])
def test_required_road_test_passed(role: str) -> None:
    """A passed road test by a technician, service advisor or QC inspector holds."""
    ctx = _ctx({"road_test_required": True, "road_test": {"result": "pass", "by_role": role}})
    assert road_test_passed_if_required(ctx) is None


@pytest.mark.parametrize("role", [None, "cashier"])
def test_road_test_by_the_wrong_person(role: str | None) -> None:
    """A passed road test by someone else (or no one named) is refused."""
    ctx = _ctx({"road_test_required": True, "road_test": {"result": "pass", "by_role": role}})
    assert road_test_passed_if_required(ctx) == (
        "the road test must record who drove it: a technician, the service advisor or the QC inspector"
    )


def test_will_reach_counts_this_event() -> None:
    """The counter is raised by one for this event before comparing."""
    assert will_reach(_ctx({"rework_count": 1}), field="rework_count", value=2) is None
    assert will_reach(_ctx({"rework_count": 5}), field="rework_count", value=2) is None


@pytest.mark.parametrize("current", [None, True, "1", 0])
def test_will_reach_starts_from_zero_without_a_count(current: Any) -> None:
    """A missing or non-integer counter counts as zero, so this event makes it one."""
    data = {} if current is None else {"rework_count": current}
    assert will_reach(_ctx(data), field="rework_count", value=2) == "this is number 1 of 'rework_count', not yet 2"
    assert will_reach(_ctx(data), field="rework_count", value=1) is None


# --- registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "signed",
        "no_unauthorized_work",
        "no_line_proposed",
        "has_proposed_line",
        "declines_signed",
        "authorized_lines_done",
        "old_parts_collected",
        "estimate_split",
        "warranty_decided",
        "kit_installed",
        "settlement_within_authorization",
        "road_test_passed_if_required",
        "will_reach",
    ],
)
def test_dealership_rules_are_registered(name: str) -> None:
    """Every dealership rule is in the default registry with a description."""
    spec = DEFAULT_REGISTRY.get(name)
    assert spec is not None
    assert spec.description
