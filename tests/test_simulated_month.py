"""A simulated month at a dealership, per brand: every deadline of the brief fires at its time, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import aftersales_flow as af
from aftersales_flow._time import parse_duration
from aftersales_flow.model import thaw
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS
from repair_order_steps import SA as RO_SA
from repair_order_steps import open_order
from test_appointment import book, confirm
from test_complaint import register
from test_follow_up_call import schedule
from test_new_car_care import hand_over

SHANGHAI = ZoneInfo("Asia/Shanghai")
STEP = timedelta(minutes=5)
MONDAY = datetime(2026, 11, 2, 8, 0, tzinfo=SHANGHAI)
SLOT = datetime(2026, 11, 5, 9, 0, tzinfo=SHANGHAI)  # the appointments' Thursday slot
DELIVERED = datetime(2026, 11, 2, 15, 0, tzinfo=SHANGHAI)  # the follow-up call's delivery


def days(value: object) -> timedelta:
    assert isinstance(value, int)
    return timedelta(days=value)


def _duration(text: object) -> timedelta:
    assert isinstance(text, str)
    return parse_duration(text)


def out_of_blackouts(moment: datetime) -> datetime:
    """The brief's call rule: a call due in 09:00-11:00 or 16:00-18:30 local moves to the window's end."""
    local = moment.astimezone(SHANGHAI)
    for start, end in (((9, 0), (11, 0)), ((16, 0), (18, 30))):
        if local.replace(hour=start[0], minute=start[1]) <= local < local.replace(hour=end[0], minute=end[1]):
            return local.replace(hour=end[0], minute=end[1], second=0, microsecond=0)
    return local


@pytest.mark.parametrize("brand", ["baoya", "faw"])
def test_a_month_of_deadlines(brand: str) -> None:
    """Tick every 5 minutes for a month: each expected deadline fires once, in the step of its due time."""
    flows = af.load_flows(FLOWS, brand=brand)
    clock = SimulatedClock(MONDAY.astimezone(UTC))
    engine = af.Engine(flows, af.SQLiteStore(":memory:"), clock=clock)
    appointment = thaw(flows["appointment"].params)
    complaint = thaw(flows["complaint"].params)
    callback = thaw(flows["follow_up_call"].params)
    new_car = thaw(flows["new_car_care"].params)
    repair = thaw(flows["repair_order"].params)

    book(engine, "AP-LATE")  # never confirmed: the internal confirmation breaches
    book(engine, "AP-NOSHOW")
    confirm(engine, "AP-NOSHOW")  # reminded the day before, then missed, then a retry
    if brand == "baoya":  # Baoya's manual: the service history is prepared before the reminder
        sa = af.Actor("sa-017", roles={"service_advisor"})
        engine.fire("AP-NOSHOW", "reminder_prepared", actor=sa, payload={"service_history_prepared": True})
    register(engine, clock, "C-1")  # an on-site complaint nobody answers
    hand_over(engine, "NC-1")  # a new car nobody calls in its first month
    open_order(engine, "RO-OEM")  # a warranty case referred to the OEM, whose ruling is slow
    engine.fire(
        "RO-OEM",
        "refer_warranty_to_oem",
        actor=RO_SA,
        payload={
            "oem_case_ref": "OEM-1",
            "warranty_status": "pending_oem",
            "reason_explained_to_customer": True,
            "warranty_basis": {"invoice_date": "2025-12-01", "mileage": 18000},
        },
    )
    clock.set(MONDAY.astimezone(UTC))
    expected = [
        ("AP-LATE", "sla_breached", MONDAY + _duration(appointment["internal_confirmation_max"])),
        ("AP-NOSHOW", "day_before_reminder", SLOT - _duration(appointment["day_before_reminder_offset"])),
        ("AP-NOSHOW", "slot_missed", SLOT + _duration(appointment["no_show_grace"])),
        ("AP-NOSHOW", "schedule_retry", SLOT + days(appointment["no_show_retry_delay_days"])),
        ("C-1", "sla_breached", MONDAY + _duration(complaint["complaint_first_response_max"])),
        ("NC-1", "sla_breached", MONDAY + days(new_car["new_car_first_call_days"])),
        ("RO-OEM", "sla_breached", MONDAY + _duration(repair["oem_decision_followup"])),
    ]
    expected += [
        ("FC-1", "sla_breached", out_of_blackouts(DELIVERED + days(callback["callback_due_days"]))),
        ("FC-1", "give_up", DELIVERED + days(callback["callback_max_days"])),
    ]

    def run_until(moment: datetime) -> None:
        while clock() < moment:
            clock.advance(STEP)
            engine.tick(clock())

    run_until(datetime(2026, 11, 3, 14, 0, tzinfo=SHANGHAI))
    schedule(engine, clock, "FC-1")  # the call for Monday 15:00's delivery is scheduled Tuesday 14:00
    run_until(MONDAY + timedelta(days=31))
    fired: dict[tuple[str, str], list[datetime]] = {}
    for event in engine.events_since(0, limit=100_000):
        if event.actor.id == "system" and event.accepted:
            fired.setdefault((event.instance_id, event.event), []).append(event.at)
    for instance, event, due in expected:
        times = fired.get((instance, event), [])
        assert len(times) == 1, (brand, instance, event, times)
        assert due <= times[0] < due + STEP, (brand, instance, event, times[0], due)
    assert engine.verify().ok


def test_the_brands_differ_where_their_manuals_do() -> None:
    """FAW's callback is due on day 7, Baoya's on day 3: the month above checks each at its own time."""
    baoya = thaw(af.load_flows(FLOWS, brand="baoya")["follow_up_call"].params)
    faw = thaw(af.load_flows(FLOWS, brand="faw")["follow_up_call"].params)
    assert (baoya["callback_due_days"], faw["callback_due_days"]) == (3, 7)
