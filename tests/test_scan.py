"""Reminder and lost-customer scans over vehicle records: due dates, lead windows, once only, per brand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

import aftersales_flow as af
from aftersales_flow.scan import ServiceRecord, SQLiteVehicleRecords, add_months, km_reached_on, service_due
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS

PARAMS = {"first_service": {"days": 60, "km": 2000}, "regular_service": {"km": 5000, "months": 6}}
CUSTOMER = {"name": "Li Wei", "phone": "138"}


def record(**changes: object) -> ServiceRecord:
    base: dict[str, object] = {
        "vin": "LFV1",
        "customer": CUSTOMER,
        "vehicle": {"plate": "粤A1"},
        "sale_date": date(2026, 9, 20),
    }
    return ServiceRecord(**{**base, **changes})  # type: ignore[arg-type]


def at_local_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def test_first_service_is_due_60_days_after_the_sale() -> None:
    """Without readings the first service falls due 60 days after the sale."""
    assert service_due(record(), PARAMS) == ("first_service_reminder", date(2026, 11, 19))


def test_first_service_comes_earlier_when_2000_km_come_first() -> None:
    """40 km a day from two readings reaches 2000 km before day 60."""
    driven = record(readings=((date(2026, 9, 30), 400.0), (date(2026, 10, 10), 800.0)))
    assert km_reached_on(driven, 2000) == date(2026, 11, 9)
    assert service_due(driven, PARAMS) == ("first_service_reminder", date(2026, 11, 9))


def test_regular_service_by_months_or_km() -> None:
    """A regular service is due 6 months after the last, or at +5000 km if that comes first."""
    served = record(last_service_date=date(2026, 3, 31), last_service_km=2000.0)
    assert service_due(served, PARAMS) == ("regular_service_reminder", date(2026, 9, 30))
    busy = record(
        last_service_date=date(2026, 8, 1),
        last_service_km=2000.0,
        readings=((date(2026, 8, 1), 2000.0), (date(2026, 8, 31), 5000.0)),
    )
    assert service_due(busy, PARAMS) == ("regular_service_reminder", date(2026, 9, 20))
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


def test_vehicle_records_round_trip(tmp_path: object) -> None:
    """The demo's SQLite records keep every field."""
    records = SQLiteVehicleRecords(":memory:")
    original = record(
        last_service_date=date(2026, 3, 31), last_service_km=2000.0, readings=((date(2026, 3, 31), 2000.0),)
    )
    records.put(original)
    assert list(records.records()) == [original]


def make_engine(brand: str | None, clock: SimulatedClock, *records: ServiceRecord) -> af.Engine:
    vehicles = SQLiteVehicleRecords(":memory:")
    for item in records:
        vehicles.put(item)
    return af.Engine(
        af.load_flows(FLOWS, brand=brand), af.SQLiteStore(":memory:"), clock=clock, vehicles=vehicles
    )


def test_scan_opens_the_first_service_reminder_in_its_lead_window_once(clock: SimulatedClock) -> None:
    """11 days before due nothing opens; 10 days before, one outreach appointment; scanning again, nothing."""
    clock.set(at_local_noon(date(2026, 11, 8)))
    engine = make_engine(None, clock, record())
    assert engine.scan() == []
    clock.set(at_local_noon(date(2026, 11, 9)))
    steps = engine.scan()
    assert [(s.flow, s.instance_id, s.event, s.target) for s in steps] == [
        ("appointment", "OUT-LFV1-2026-11-19", "create_outreach", "outreach_pending")
    ]
    data = engine.instance("OUT-LFV1-2026-11-19").data
    assert (data["origin"], data["service_due_date"], data["vehicle"]["vin"]) == (
        "first_service_reminder",
        "2026-11-19",
        "LFV1",
    )
    assert engine.scan() == []
    clock.set(at_local_noon(date(2026, 11, 12)))
    assert engine.scan() == []
    assert len(engine.events_since(0)) == 1


def test_a_late_scan_still_opens_with_its_reason(clock: SimulatedClock) -> None:
    """Found 3 days before due (inside the window's end), the outreach records why it is late."""
    clock.set(at_local_noon(date(2026, 11, 16)))
    engine = make_engine(None, clock, record())
    [step] = engine.scan()
    assert engine.instance(step.instance_id).data["lead_time_override_reason"] == (
        "found by the reminder scan 3 days before due"
    )


@pytest.mark.parametrize(
    ("brand", "day", "tier"), [("baoya", date(2027, 3, 19), "lost"), ("faw", date(2027, 9, 20), "lost")]
)
def test_lost_customer_scan_uses_the_brands_threshold(
    clock: SimulatedClock, brand: str, day: date, tier: str
) -> None:
    """Baoya opens a lost-customer case after 180 days unseen, FAW after 365; the day before, nothing."""
    seen = record(last_service_date=date(2026, 9, 20), last_visit_date=date(2026, 9, 20))
    engine = make_engine(brand, clock, seen)
    clock.set(at_local_noon(date.fromordinal(day.toordinal() - 1)))
    assert [s.flow for s in engine.scan() if s.flow == "lost_customer_case"] == []
    clock.set(at_local_noon(day))
    lost = [s for s in engine.scan() if s.flow == "lost_customer_case"]
    assert [s.instance_id for s in lost] == ["LC-LFV1-2026-09-20"]
    assert engine.instance("LC-LFV1-2026-09-20").data["churn_tier"] == tier
    assert [s for s in engine.scan() if s.flow == "lost_customer_case"] == []


def test_scan_without_records_is_an_error(engine: af.Engine) -> None:
    """scan() needs vehicle records."""
    with pytest.raises(af.InvalidCommand, match="needs vehicle records"):
        engine.scan()
