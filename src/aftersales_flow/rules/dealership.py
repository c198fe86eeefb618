"""Dealership rules: signatures, per-line authorization, estimates and settlement.

A *signature record* is a mapping ``{signer_role, signer_id | signer_name, signed_at,
method, document_ref, …}``; a phone consent (``recorded_phone_consent``) must also carry a
``recording_ref``. Repair-order *lines* are mappings with ``line_id``, ``description``,
``status`` (``proposed``, ``authorized``, ``declined``, ``in_progress``, ``done``,
``cancelled``), ``origin``, ``pay_type``, ``safety_critical``, ``amount`` and, per line,
``authorization`` / ``decline_signature`` signature records or an ``internal_approval``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aftersales_flow.rules._registry import MISSING, RuleContext, rule
from aftersales_flow.rules.builtin import is_blank

WORKED_STATUSES = ("authorized", "in_progress", "done")
"""Line statuses that mean work is (to be) done on the line."""
ROAD_TESTERS = ("technician", "service_advisor", "qc_inspector")
"""Roles that may do the road test (domain.md §4 #6: technician or SA; the inspector too)."""
INTERNAL_APPROVER_ROLES = ("foreman", "service_advisor", "service_manager", "technical_director")
"""Roles that may approve internal rework of already-authorized work."""


def _lines(ctx: RuleContext) -> list[Mapping[str, Any]]:
    lines = ctx.get("lines")
    return [line for line in lines if isinstance(line, Mapping)] if isinstance(lines, list) else []


def _line_name(line: Mapping[str, Any]) -> str:
    name = f"line {line.get('line_id', '?')}"
    return f"{name} ({line['description']})" if line.get("description") else name


def _role_words(role: Any) -> str:
    text = str(role).replace("_", " ")
    return f"an {text}" if text[:1] in "aeiou" else f"a {text}"


def _approval_problem(approval: Any) -> str | None:
    """Why an internal approval is not valid, or None: a named approver holding an approver role."""
    if not isinstance(approval, Mapping):
        return "no internal approver is recorded"
    if approval.get("approver_role") not in INTERNAL_APPROVER_ROLES:
        roles = ", ".join(r.replace("_", " ") for r in INTERNAL_APPROVER_ROLES)
        return f"the internal approver must be one of: {roles}"
    if is_blank(approval.get("approver_id")):
        return "the internal approver's id is not recorded"
    return None


def signature_problem(
    record: Any, *, signer_role: str, methods: list[str] | None, actor_id: str | None = None
) -> str | None:
    """What is wrong with a signature record, in plain words, or None when it is valid."""
    if is_blank(record):
        return "missing"
    if not isinstance(record, Mapping):
        return "not a signature record"
    role = record.get("signer_role")
    if is_blank(role):
        return f"missing who signed (its signer_role must be {signer_role})"
    if role != signer_role:
        return f"signed by {_role_words(role)}, not by the {signer_role.replace('_', ' ')}"
    if is_blank(record.get("signer_id")) and is_blank(record.get("signer_name")):
        return "missing the signer's name or id"
    if signer_role == "customer" and actor_id is not None and record.get("signer_id") == actor_id:
        return "signed by the staff member entering it, not by the customer"
    if is_blank(record.get("signed_at")):
        return "missing the time of signing"
    method = record.get("method")
    if methods is not None and is_blank(method):
        return f"missing how it was made (method: one of {', '.join(methods)})"
    if methods is not None and method not in methods:
        return f"made by '{method}', which this dealership does not accept (accepted: {', '.join(methods)})"
    if method == "recorded_phone_consent" and is_blank(record.get("recording_ref")):
        return "a phone consent without the reference of its recording"
    return None


@rule("signed", description="'{field}' is signed by the {signer_role}")
def signed(
    ctx: RuleContext, *, field: str, signer_role: str = "customer", methods: list[str] | None = None
) -> str | None:
    """Holds when ``field`` holds a valid signature record of ``signer_role``."""
    problem = signature_problem(
        ctx.get(field), signer_role=signer_role, methods=methods, actor_id=ctx.actor.id
    )
    if problem is None:
        return None
    return f"the {signer_role.replace('_', ' ')}'s signature on '{field}' is {problem}"


def _covered(ctx: RuleContext, line: Mapping[str, Any], methods: list[str] | None) -> str | None:
    """Why a worked-on line is not covered by an authorization, or None when it is."""
    if line.get("pay_type") == "internal_rework":
        problem = _approval_problem(line.get("internal_approval"))
        return None if problem is None else f"is internal rework, but {problem}"
    own = line.get("authorization")
    if not is_blank(own):
        problem = signature_problem(own, signer_role="customer", methods=methods, actor_id=ctx.actor.id)
        return None if problem is None else f"has a customer authorization that is {problem}"
    if line.get("origin") != "additional_found":
        work_order = ctx.get("work_order_signature")
        covers = work_order.get("covers") if isinstance(work_order, Mapping) else None
        if isinstance(covers, list) and line.get("line_id") in covers:
            problem = signature_problem(
                work_order, signer_role="customer", methods=methods, actor_id=ctx.actor.id
            )
            return None if problem is None else f"is covered by a work-order signature that is {problem}"
    if line.get("origin") == "additional_found":
        return "is additional work without the customer's signed authorization"
    return "is not covered by the customer's signature on the work order"


def _payer_approval(ctx: RuleContext, line: Mapping[str, Any]) -> str | None:
    pay_type = line.get("pay_type")
    if pay_type == "warranty":
        if ctx.get("warranty_status") == "covered" or ctx.get("oem_decision") in ("approved", "partial"):
            return None
        return "is billed to warranty without a warranty decision (covered, or the OEM's approval)"
    if pay_type in ("goodwill", "campaign"):
        problem = _approval_problem(line.get("internal_approval"))
        return None if problem is None else f"is billed as {pay_type}, but {problem}"
    return None


@rule(
    "no_unauthorized_work",
    description="every repair line worked on is authorized by the customer's signature",
)
def no_unauthorized_work(ctx: RuleContext, *, methods: list[str] | None = None) -> list[str]:
    """The central rule: no line is worked on before the customer's signature covers it.

    A line counts as worked on from ``authorized`` on. It is covered by its own customer
    authorization, or by the work-order signature's ``covers`` list (original scope only);
    internal rework needs an internal approver instead. Warranty, goodwill and campaign
    lines also need the warranty decision or an internal approver.
    """
    problems = []
    for line in _lines(ctx):
        if line.get("status") not in WORKED_STATUSES:
            continue
        reason = _covered(ctx, line, methods) or _payer_approval(ctx, line)
        if reason:
            problems.append(f"{_line_name(line)} {reason}")
    return problems


@rule("no_line_proposed", description="every proposed line is authorized or declined")
def no_line_proposed(ctx: RuleContext) -> list[str]:
    """Holds when the customer has decided on every proposed line."""
    return [
        f"{_line_name(line)} is still waiting for the customer's decision"
        for line in _lines(ctx)
        if line.get("status") == "proposed"
    ]


@rule("has_proposed_line", description="at least one new line is proposed, with its reason and price")
def has_proposed_line(ctx: RuleContext, *, origin: str = "additional_found") -> list[str]:
    """Holds when a line of ``origin`` is proposed, each with a reason and an amount."""
    proposed = [
        line for line in _lines(ctx) if line.get("status") == "proposed" and line.get("origin") == origin
    ]
    if not proposed:
        return [f"no new line with origin '{origin}' is proposed"]
    problems = []
    for line in proposed:
        for key in ("description", "reason", "amount"):
            if is_blank(line.get(key)):
                problems.append(f"{_line_name(line)} needs its '{key}'")
    return problems


@rule("declines_signed", description="declined safety-critical lines carry the customer's signature")
def declines_signed(
    ctx: RuleContext, *, all_declines: bool = False, methods: list[str] | None = None
) -> list[str]:
    """Every declined safety-critical line (every declined line with ``all_declines``) is signed."""
    problems = []
    for line in _lines(ctx):
        if line.get("status") != "declined" or not (all_declines or line.get("safety_critical")):
            continue
        problem = signature_problem(
            line.get("decline_signature"), signer_role="customer", methods=methods, actor_id=ctx.actor.id
        )
        if problem:
            kind = "safety-critical " if line.get("safety_critical") else ""
            problems.append(
                f"{_line_name(line)} is a declined {kind}item whose customer signature is {problem}"
            )
    return problems


@rule("authorized_lines_done", description="every authorized line is done")
def authorized_lines_done(ctx: RuleContext) -> list[str]:
    """Holds when no authorized line is left undone."""
    return [
        f"{_line_name(line)} is authorized but not done"
        for line in _lines(ctx)
        if line.get("status") in ("authorized", "in_progress")
    ]


@rule("old_parts_collected", description="replaced old parts are collected")
def old_parts_collected(ctx: RuleContext) -> str | None:
    """When any part line is done, the old parts must have been collected."""
    replaced = any(line.get("kind") == "part" and line.get("status") == "done" for line in _lines(ctx))
    if replaced and ctx.get("old_parts_collected") is not True:
        return "parts were replaced but the old parts are not recorded as collected"
    return None


@rule("estimate_split", description="the estimate is split into labour and parts")
def estimate_split(ctx: RuleContext) -> list[str]:
    """Both subtotals of the estimate are recorded as numbers."""
    problems = []
    for key, word in (("estimate_total_labour", "labour"), ("estimate_total_parts", "parts")):
        value = ctx.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"the estimate's {word} subtotal ('{key}') is not recorded")
    return problems


@rule("warranty_decided", description="the warranty status is decided (not pending)")
def warranty_decided(ctx: RuleContext) -> str | None:
    """The warranty status is known and not waiting for diagnosis or the OEM."""
    status = ctx.get("warranty_status")
    if status is MISSING or status is None:
        return "the warranty status is not determined"
    if status in ("pending_diagnosis", "pending_oem"):
        return f"the warranty status is still '{status}'; decide it (or refer to the OEM) first"
    return None


@rule("kit_installed", description="the protective kit ({items}) is fitted")
def kit_installed(ctx: RuleContext, *, items: list[str]) -> str | None:
    """Every piece of the brand's protective kit is recorded as fitted."""
    fitted = ctx.get("protective_kit_installed")
    fitted_set = set(fitted) if isinstance(fitted, list) else set()
    missing = [item for item in items if item not in fitted_set]
    if missing:
        return f"the protective kit is not complete: {', '.join(missing)} not fitted"
    return None


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _authorized_amount(ctx: RuleContext) -> Decimal:
    """The customer-paid lines authorized or worked on, summed exactly (amounts carry cents)."""
    total = Decimal(0)
    for line in _lines(ctx):
        if line.get("status") in WORKED_STATUSES and line.get("pay_type", "customer") == "customer":
            amount = line.get("amount")
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                total += Decimal(str(amount))
    return total


@rule(
    "settlement_within_authorization",
    description="the settlement does not exceed what the customer authorized (+ {threshold})",
)
def settlement_within_authorization(ctx: RuleContext, *, threshold: float = 0) -> str | None:
    """The settlement total is at most the customer-paid authorized lines plus ``threshold``.

    Extra work shows up as authorized additional lines; an amount above them was never
    authorized by the customer and blocks delivery.
    """
    settlement = ctx.get("settlement")
    total = settlement.get("total") if isinstance(settlement, Mapping) else None
    if not isinstance(total, int | float) or isinstance(total, bool):
        return "the settlement sheet's total is not recorded"
    authorized = _authorized_amount(ctx)
    excess = Decimal(str(total)) - authorized
    if excess > Decimal(str(threshold)):
        return (
            f"the settlement total {_money(Decimal(str(total)))} exceeds the authorized lines' total "
            f"{_money(authorized)} by {_money(excess)}; get the customer's authorization for the extra "
            "or correct the sheet"
        )
    return None


@rule("road_test_passed_if_required", description="a required road test has passed")
def road_test_passed_if_required(ctx: RuleContext) -> str | None:
    """When ``road_test_required`` is true, ``road_test.result`` must be ``pass``."""
    if ctx.get("road_test_required") is not True:
        return None
    test = ctx.get("road_test")
    if not isinstance(test, Mapping) or test.get("result") != "pass":
        return "a road test is required and has not passed"
    if test.get("by_role") not in ROAD_TESTERS:
        return "the road test must record who drove it: a technician, the service advisor or the QC inspector"
    return None


@rule("will_reach", description="'{field}' reaches {value} with this event")
def will_reach(ctx: RuleContext, *, field: str, value: int) -> str | None:
    """Holds when the counter ``field``, raised by one by this event, reaches ``value``."""
    current = ctx.get(field)
    count = (current if isinstance(current, int) and not isinstance(current, bool) else 0) + 1
    return None if count >= value else f"this is number {count} of '{field}', not yet {value}"


def _sample_fraction(instance_id: str) -> float:
    """A stable number in [0, 1) drawn from the order's id: the same order always draws the same."""
    digest = hashlib.sha256(instance_id.encode()).hexdigest()
    return int(digest[:8], 16) / 0x1_0000_0000


def always_call_reason(ctx: RuleContext) -> str | None:
    """Why the order must get a follow-up call whatever the sample (domain.md §4 #3), or None."""
    if ctx.get("is_repeat_repair") is True:
        return "repeat_repair"
    for line in _lines(ctx):
        if line.get("pay_type") == "internal_rework" or line.get("origin") == "complaint_rework":
            return "rework_or_complaint_order"
    for flag in ("new_car_first_visit", "lost_customer_return"):
        if ctx.get(flag) is True:
            return flag
    return None


@rule("selected_for_callback", description="the order is selected for a follow-up call (ratio {ratio})")
def selected_for_callback(ctx: RuleContext, *, ratio: float) -> str | None:
    """Holds for every always-call order, and for a stable ``ratio`` share of the others.

    The share is drawn from the order's id, so the selection is repeatable and, over many
    orders, meets the brief's at-least-half rule when ``ratio`` is 0.5 or more.
    """
    if always_call_reason(ctx) is not None or _sample_fraction(ctx.instance_id) < ratio:
        return None
    return "the order was not drawn for a follow-up call"
