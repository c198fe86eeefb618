"""The two shipped brands, Baoya and FAW: their overlays load and change what their manuals say."""

from __future__ import annotations

from datetime import timedelta

import pytest

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS
from repair_order_steps import SA as RO_SA
from repair_order_steps import open_order
from test_appointment import CS, at, book, confirm
from test_lost_customer_case import CONTACT, FOUND
from test_lost_customer_case import SA as LC_SA
from test_lost_customer_case import SYSTEM as SCAN


def brand_engine(brand: str, clock: SimulatedClock) -> af.Engine:
    return af.Engine(af.load_flows(FLOWS, brand=brand), af.SQLiteStore(":memory:"), clock=clock)


@pytest.mark.parametrize("brand", ["baoya", "faw"])
def test_brand_loads_every_flow(flows: af.FlowSet, brand: str) -> None:
    """A brand sees every base flow, with its own overlays applied and named."""
    branded = af.load_flows(FLOWS, brand=brand)
    assert branded.names == flows.names
    assert branded.brand == brand
    overlaid = {p.stem for p in (FLOWS / "brands" / brand).glob("*.yaml")}
    assert {f.name for f in branded if f.brand == brand} == overlaid


def test_baoya_day_before_call_needs_the_service_history_prepared(clock: SimulatedClock) -> None:
    """Baoya's manual: the day-before reminder waits until the register data and service history are ready."""
    engine = brand_engine("baoya", clock)
    book(engine, "AP-1")
    confirm(engine, "AP-1")
    at(clock, "2026-11-04T10:00:00+08:00")
    with pytest.raises(af.GuardRejected) as refused:
        engine.fire("AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True})
    assert [r.message for r in refused.value.reasons] == [
        "prepare the register data and the service history before the day-before call (Baoya manual)"
    ]
    step = engine.fire(
        "AP-1",
        "day_before_reminder",
        actor=CS,
        payload={"customer_reached": True, "service_history_prepared": True},
    )
    assert step.target == "day_before_reminded"


def test_the_base_day_before_call_has_no_such_condition(engine: af.Engine, clock: SimulatedClock) -> None:
    """Without the Baoya overlay the same reminder is accepted, and the Baoya field is not even taken."""
    book(engine, "AP-1")
    confirm(engine, "AP-1")
    at(clock, "2026-11-04T10:00:00+08:00")
    with pytest.raises(af.PayloadRejected):
        engine.fire(
            "AP-1",
            "day_before_reminder",
            actor=CS,
            payload={"customer_reached": True, "service_history_prepared": True},
        )
    assert engine.fire(
        "AP-1", "day_before_reminder", actor=CS, payload={"customer_reached": True}
    ).target == ("day_before_reminded")


CHECK_IN = {
    "protective_kit_installed": ["seat", "steering_wheel", "floor_mat"],
    "walk_around": {"damage": []},
    "documents_received": ["maintenance_booklet"],
    "customer_concern_verbatim": "noise",
}


def test_faw_fits_a_three_piece_kit(engine: af.Engine, clock: SimulatedClock) -> None:
    """FAW's 3-piece kit completes check-in there; the base 4-piece kit needs the gear-lever cover too."""
    open_order(engine, "RO-1")
    with pytest.raises(af.GuardRejected, match="gear_lever not fitted"):
        engine.fire("RO-1", "complete_check_in", actor=RO_SA, payload=CHECK_IN)
    faw = brand_engine("faw", clock)
    open_order(faw, "RO-1")
    assert faw.fire("RO-1", "complete_check_in", actor=RO_SA, payload=CHECK_IN).target == "checking_in"


def test_faw_referral_carries_the_warranty_basis(clock: SimulatedClock) -> None:
    """FAW's referral to its service department must carry the warranty basis as well as the case number."""
    faw = brand_engine("faw", clock)
    open_order(faw, "RO-1")
    payload = {
        "oem_case_ref": "FAW-77",
        "warranty_status": "pending_oem",
        "reason_explained_to_customer": True,
    }
    with pytest.raises(af.PayloadRejected) as refused:
        faw.fire("RO-1", "refer_warranty_to_oem", actor=RO_SA, payload=payload)
    assert [r.message for r in refused.value.reasons] == [
        "'refer_warranty_to_oem' must record 'warranty_basis'"
    ]
    basis = {"invoice_date": "2025-12-01", "mileage": 18000}
    step = faw.fire(
        "RO-1", "refer_warranty_to_oem", actor=RO_SA, payload={**payload, "warranty_basis": basis}
    )
    assert step.target == "awaiting_oem_warranty_decision"


@pytest.mark.parametrize(("brand", "opens"), [("baoya", True), ("faw", False)])
def test_lost_customer_threshold_per_brand(clock: SimulatedClock, brand: str, opens: bool) -> None:
    """A customer unseen for 200 days is lost for Baoya (180 days) but not yet for FAW (365 days)."""
    engine = brand_engine(brand, clock)
    payload = {**FOUND, "churn_tier": "lost"}
    if opens:
        assert engine.start(
            "lost_customer_case", "LC-1", event="customer_identified", actor=SCAN, payload=payload
        )
    else:
        with pytest.raises(af.GuardRejected):
            engine.start(
                "lost_customer_case", "LC-1", event="customer_identified", actor=SCAN, payload=payload
            )


@pytest.mark.parametrize("brand", ["baoya", "faw"])
def test_lost_customer_post_visit_callback_deadline_per_brand(clock: SimulatedClock, brand: str) -> None:
    """Each brand's lost-customer case (Baoya 180 days, FAW 365 days to open) times the post-visit call
    with its own callback_due_days (3 days under both; neither overlay changes it)."""
    engine = brand_engine(brand, clock)
    flow = engine.flows["lost_customer_case"]
    assert flow.brand == brand
    days = flow.params["callback_due_days"]
    payload = {**FOUND, "last_visit_on": "2025-10-01", "churn_tier": "lost"}
    engine.start("lost_customer_case", "LC-1", event="customer_identified", actor=SCAN, payload=payload)
    engine.fire("LC-1", "contact_made", actor=LC_SA, payload=CONTACT)
    engine.fire("LC-1", "invite", actor=LC_SA, payload={"offer_type": "voucher"})
    clock.advance("2d")
    engine.fire("LC-1", "customer_visited", actor=LC_SA, payload={"repair_order_id": "RO-9"})
    visited = clock()
    clock.set(visited + timedelta(days=days) - timedelta(seconds=1))
    assert engine.tick() == []
    clock.set(visited + timedelta(days=days))
    assert [(s.event, s.target, s.at) for s in engine.tick()] == [("sla_breached", "returned", clock())]
    assert engine.tick() == []
