"""The demo's second part: a week at the dealership on the simulated clock, run by deadlines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aftersales_flow.engine import Engine
from aftersales_flow.errors import TransitionRefused
from aftersales_flow.scan import ServiceRecord, SQLiteVehicleRecords
from aftersales_flow.testing import SimulatedClock
from aftersales_flow.values import Actor

CS = Actor("cs-04 Zhou Yan", roles={"cs_specialist"})
SA = Actor("sa-017 Wang Li", roles={"service_advisor"})
DIRECTOR = Actor("csd-01 Huang Min", roles={"cs_director"})
LOCAL = timedelta(hours=8)  # the demo dealer is in Asia/Shanghai


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A dealer-local wall-clock time as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - LOCAL


def _booking(name: str, slot: datetime) -> dict[str, Any]:
    return {
        "customer": {"name": name, "phone": "138-0000-0000"},
        "vehicle": {"plate": "粤A·20231", "model": "Sagitar"},
        "service_need": "regular service",
        "slot_at": slot.isoformat(),
        "slot_in_peak": False,
        "slot_not_overlapping": True,
        "documents_reminder_given": True,
    }


def _confirmation(name: str, slot: datetime) -> dict[str, Any]:
    day = (slot + LOCAL).date().isoformat()
    return {
        "service_items": ["oil and filter"],
        "reserved_parts": [
            {"part_no": "06L115562", "label": {"customer_name": name, "appointment_date": day}}
        ],
        "capacity_ok": True,
        "technician_id": "tech-031",
        "bay_id": "B2",
        "results_entered_in_register": True,
    }


class Week:
    """Runs the week and narrates it."""

    def __init__(
        self, engine: Engine, clock: SimulatedClock, echo: Callable[[str], None], run: int = 1
    ) -> None:
        self.engine, self.clock, self.echo = engine, clock, echo
        self.run_no = run  # each demo run on the same store uses its own ids
        self.monday = date(2026, 11, 9)
        self.fired: Counter[str] = Counter()
        self.ap1, self.ap2, self.cp = f"AP-2{run:02d}1", f"AP-2{run:02d}2", f"CP-3{run:02d}1"

    def at(self, when: datetime) -> None:
        """Move the clock to ``when`` and run every deadline that fell due on the way, narrating."""
        while True:
            due = [d for d in self.engine.due(when) if d.due_at <= when]
            if not due:
                break
            first = min(d.due_at for d in due)
            self.clock.set(max(first, self.clock()))
            for step in self.engine.tick(self.clock()):
                kind = "deadline breached" if step.event == "sla_breached" else "fired by its deadline"
                self.fired["sla_breached" if step.event == "sla_breached" else "fired"] += 1
                stamp = (self.clock() + LOCAL).strftime("%a %H:%M")
                self.echo(
                    f"  {stamp}  tick     {step.instance_id:<22} {step.event:<24} ({kind}) -> {step.target}"
                )
        self.clock.set(max(when, self.clock()))

    def do(
        self,
        instance: str,
        event: str,
        actor: Actor,
        payload: dict[str, Any] | None = None,
        *,
        start: str = "",
    ) -> bool:
        stamp = (self.clock() + LOCAL).strftime("%a %H:%M")
        try:
            if start:
                step = self.engine.start(start, instance, event=event, actor=actor, payload=payload)
            else:
                step = self.engine.fire(instance, event, actor=actor, payload=payload)
        except TransitionRefused as refusal:
            self.echo(f"  {stamp}  REFUSED  {instance:<22} {event:<24} {refusal.reasons[0].message}")
            return False
        self.echo(f"  {stamp}  ok       {instance:<22} {event:<24} -> {step.target}")
        return True

    def run(self) -> None:
        mon = self.monday
        day = timedelta(days=1)
        self.clock.set(local(mon, 8, 0))
        self.echo("\nA week at the dealership (Mon 9 - Sun 15 Nov 2026, Asia/Shanghai), run by deadlines")
        self._scan(mon)
        self._bookings(mon)
        self._complaint(mon)
        self.echo(
            "\n  # Tuesday: Zhao Qiang does not come (a no-show on its deadline); the complaint escalates."
        )
        self.at(local(mon + day, 20, 0))
        self.echo(
            "\n  # Wednesday: Li Wei's day-before reminder goes out by itself; no one proposes a resolution."
        )
        self.at(local(mon + 2 * day, 20, 0))
        self._arrival(mon + 3 * day)
        self.echo(
            "\n  # The rest of the week: the level-3 deadline, and Zhao Qiang's retry call three days on."
        )
        self.at(local(mon + 6 * day, 20, 0))

    def _scan(self, mon: date) -> None:
        self.echo(
            "\n  # The nightly scan over the vehicle records opens reminder calls and a lost-customer case."
        )
        records = SQLiteVehicleRecords(":memory:")
        customer = {"name": "Chen Jie", "phone": "139-0000-1111"}
        records.put(
            ServiceRecord(
                vin=f"LFV3A23C1N30{self.run_no:02d}001", customer=customer, sale_date=mon - timedelta(days=52)
            )
        )
        records.put(
            ServiceRecord(
                vin=f"LFV3A23C1N30{self.run_no:02d}002",
                customer={"name": "Ma Lin", "phone": "137-0000-2222"},
                sale_date=date(2024, 3, 1),
                last_service_date=mon - timedelta(days=175),
                last_service_km=21000,
            )
        )
        records.put(
            ServiceRecord(
                vin=f"LFV3A23C1N30{self.run_no:02d}003",
                customer={"name": "Guo Fei", "phone": "136-0000-3333"},
                sale_date=date(2023, 5, 1),
                last_service_date=mon - timedelta(days=200),
            )
        )
        for step in self.engine.scan(self.clock(), vehicles=records):
            self.echo(f"  Mon 08:00  scan     {step.instance_id:<22} {step.event:<24} -> {step.target}")
        again = self.engine.scan(self.clock(), vehicles=records)
        self.echo(f"  Mon 08:00  scan     (run again: {len(again)} opened; once per vehicle and due date)")

    def _bookings(self, mon: date) -> None:
        self.echo("\n  # Two bookings: Li Wei for Thursday 09:00, Zhao Qiang for Tuesday 14:00.")
        thursday = local(mon + timedelta(days=3), 9)
        tuesday = local(mon + timedelta(days=1), 14)
        self.clock.set(local(mon, 9, 30))
        self.do(self.ap1, "inbound_request", CS, _booking("Li Wei", thursday), start="appointment")
        self.do(self.ap2, "inbound_request", CS, _booking("Zhao Qiang", tuesday), start="appointment")
        self.clock.set(local(mon, 10, 10))
        self.do(self.ap1, "internal_confirmation_done", SA, _confirmation("Li Wei", thursday))
        self.echo(
            "  (the second booking's internal confirmation is late: its 1-hour deadline will record a breach)"
        )
        self.at(local(mon, 11, 0))
        self.do(self.ap2, "internal_confirmation_done", SA, _confirmation("Zhao Qiang", tuesday))

    def _arrival(self, thursday: date) -> None:
        self.echo("\n  # Thursday: the hour-before call, then Li Wei arrives and the repair order opens.")
        self.at(local(thursday, 8, 10))
        self.do(
            self.ap1,
            "hour_before_confirmation",
            SA,
            {"expected_arrival_time": local(thursday, 8, 55).isoformat(), "board_updated": True},
        )
        self.at(local(thursday, 8, 55))
        self.do(self.ap1, "customer_arrived", SA)
        children = self.engine.children(self.ap1)
        order = self.engine.instance(children[0]) if children else None
        if order is not None:
            self.echo(f"  (the arrival drafted and checked in repair order {order.id}: '{order.state}')")

    def _complaint(self, mon: date) -> None:
        self.echo(
            "\n  # An on-site complaint on Monday 15:00: the director must be told before anything else."
        )
        self.at(local(mon, 15, 0))
        payload = {
            "channel": "on_site",
            "customer": {"name": "Sun Hao", "phone": "135-0000-4444"},
            "vehicle": {"vin": "LFV3A23C1N3000009"},
            "complaint_text": "the rattle is back two days after the repair",
            "received_at": self.clock().isoformat(),
        }
        self.do(self.cp, "register", SA, payload, start="complaint")
        self.do(self.cp, "start_investigation", DIRECTOR, {"investigation_notes": "met in room 2"})
        self.do(self.cp, "notify_director", SA, {"director_notified_to": "csd-01"})
        self.do(self.cp, "start_investigation", DIRECTOR, {"investigation_notes": "met in room 2"})
        members = [
            {"role": "cs_director", "person_id": "csd-01"},
            {"role": "service_advisor", "person_id": "sa-017"},
            {"role": "callback_agent", "person_id": "cb-02"},
        ]
        self.do(
            self.cp,
            "assign_level",
            DIRECTOR,
            {"job_history_reviewed": True, "level_participants": [{"level": 1, "members": members}]},
        )


def summary(engine: Engine, echo: Callable[[str], None], fired: Counter[str]) -> None:
    """Per flow: instances by state, refusals by reason; deadlines fired and breached."""
    states: dict[str, Counter[str]] = {}
    refusals: dict[str, Counter[str]] = {}
    for head in engine.store.iter_heads():
        states.setdefault(head.flow, Counter())[head.state] += 1
    for row in engine.store.iter_events():
        if not row["accepted"] and row["flow"]:
            for reason in json.loads(row["reasons"])[:1]:
                refusals.setdefault(row["flow"], Counter())[reason["code"]] += 1
    echo("\nSummary")
    for flow in sorted(states):
        by_state = ", ".join(f"{state} {count}" for state, count in sorted(states[flow].items()))
        refused = ", ".join(f"{code} {count}" for code, count in refusals.get(flow, Counter()).most_common())
        echo(f"  {flow:<20} {by_state}" + (f"; refused: {refused}" if refused else ""))
    echo(f"  deadlines: {fired['fired']} fired their event, {fired['sla_breached']} recorded an SLA breach")
