"""A dealership service that runs appointments and texts customers from the audit log.

The audit log is the outbox (docs/integrating.md): the SMS subscriber reads
``engine.events_since(seq)`` and remembers the last ``seq`` it handled in its own database, in
the same transaction as the text it queues. A crash before that commit leaves the event for the
next run; a crash after it leaves nothing to redo. Each event is handled exactly once, across
restarts, and events fired by deadlines (the day-before reminder) are texted like any other.

Run it: ``python examples/dealership_service.py`` (a scratch folder), or give a folder to keep
the stores and run it again: ``python examples/dealership_service.py /tmp/dealer``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aftersales_flow as af
from aftersales_flow.paths import shipped_flows
from aftersales_flow.testing import SimulatedClock

DEALER_TIME = ZoneInfo("Asia/Shanghai")
CS = af.Actor("cs-04", roles={"cs_specialist"})
SA = af.Actor("sa-017", roles={"service_advisor"})

TEXTS = {
    "inbound_request": "{name}, your service appointment for {slot} is booked.",
    "internal_confirmation_done": "{name}, parts and a technician are reserved for {slot}.",
    "day_before_reminder": "{name}, see you tomorrow, {slot}. Please bring your service book.",
}
"""The accepted appointment events a customer is texted about."""


class Crash(Exception):
    """Stands for the subscriber's process dying (a power cut, a kill -9)."""


class SmsSubscriber:
    """Reads the audit log after its stored position and queues one text per event worth one."""

    def __init__(self, engine: af.Engine, path: Path) -> None:
        self.engine = engine
        self.db = sqlite3.connect(path)
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS position (one PRIMARY KEY CHECK (one = 1), seq)")
            self.db.execute("INSERT OR IGNORE INTO position VALUES (1, 0)")
            self.db.execute("CREATE TABLE IF NOT EXISTS sms (seq INTEGER PRIMARY KEY, phone, text)")

    @property
    def position(self) -> int:
        """The ``seq`` of the last audit event handled (0: none yet)."""
        return int(self.db.execute("SELECT seq FROM position").fetchone()[0])

    def poll(self, *, crash_at: int | None = None) -> int:
        """Handle every event after the stored position; return how many texts were queued."""
        queued = 0
        while batch := self.engine.events_since(self.position, limit=100):
            for event in batch:
                with self.db:  # one transaction: the text and the new position, or neither
                    text = self.text_for(event)
                    if text is not None:
                        self.db.execute("INSERT INTO sms VALUES (?, ?, ?)", (event.seq, *text))
                        queued += 1
                    if event.seq == crash_at:
                        raise Crash(f"the subscriber died while handling event #{event.seq}")
                    self.db.execute("UPDATE position SET seq = ?", (event.seq,))
        return queued

    def text_for(self, event: af.AuditEvent) -> tuple[str, str] | None:
        """The phone number and text for an event, or None: refused attempts are not news."""
        if not event.accepted or event.event not in TEXTS:
            return None
        data = self.engine.instance(event.instance_id).data  # the customer's contact details
        slot = datetime.fromisoformat(data["slot_at"]).astimezone(DEALER_TIME)
        text = TEXTS[event.event].format(name=data["customer"]["name"], slot=f"{slot:%a %d %b %H:%M}")
        return data["customer"]["phone"], text

    def close(self) -> None:
        """Close the subscriber's database."""
        self.db.close()

    def queued(self) -> list[tuple[int, str, str]]:
        """Every queued text with the audit ``seq`` it came from (an SMS gateway sends them)."""
        return list(self.db.execute("SELECT seq, phone, text FROM sms ORDER BY seq"))


def texts(count: int) -> str:
    """'1 text', '2 texts'."""
    return f"{count} text" + ("" if count == 1 else "s")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A dealer wall-clock time in November 2026 (Monday is the 9th)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=DEALER_TIME)


def booking(name: str, phone: str, slot: datetime, *, reminded: bool = True) -> dict[str, object]:
    """An inbound booking's payload; ``reminded``: told to bring the vehicle papers."""
    return {
        "customer": {"name": name, "phone": phone},
        "vehicle": {"plate": "粤A·20231"},
        "service_need": "regular service",
        "slot_at": slot.isoformat(),
        "slot_in_peak": False,
        "slot_not_overlapping": True,
        "documents_reminder_given": reminded,
    }


def confirmation(name: str, slot: datetime) -> dict[str, object]:
    label = {"customer_name": name, "appointment_date": slot.date().isoformat()}
    return {
        "service_items": ["oil and filter"],
        "reserved_parts": [{"part_no": "06L115562", "label": label}],
        "capacity_ok": True,
        "results_entered_in_register": True,
    }


def free_ids(engine: af.Engine) -> tuple[str, str]:
    """Two appointment ids not used yet: a second run on the same folder books new ones."""
    run_no = 1
    while True:
        try:
            engine.instance(f"AP-{run_no}01")
        except af.InstanceNotFound:
            return f"AP-{run_no}01", f"AP-{run_no}02"
        run_no += 1


def run(folder: Path) -> list[tuple[int, str, str]]:
    """The service's store and subscriber in ``folder``: what they did, and the texts queued so far."""
    clock = SimulatedClock(local(9, 9, 30))
    with af.SQLiteStore(folder / "aftersales.db") as store:
        return week(af.Engine(af.load_flows(shipped_flows()), store, clock=clock), clock, folder)


def week(engine: af.Engine, clock: SimulatedClock, folder: Path) -> list[tuple[int, str, str]]:
    """A dealership's Monday to Wednesday, with the SMS subscriber dying once and restarting."""
    li, zhao = free_ids(engine)
    thursday_9, thursday_14 = local(12, 9), local(12, 14)

    try:
        engine.start("appointment", li, event="inbound_request", actor=CS,
                     payload=booking("Li Wei", "138-0000-0001", thursday_9, reminded=False))
    except af.GuardRejected as refusal:
        print(f"Mon 09:30 refused: {refusal.reasons[0].message}")
    engine.start("appointment", li, event="inbound_request", actor=CS,
                 payload=booking("Li Wei", "138-0000-0001", thursday_9))
    engine.start("appointment", zhao, event="inbound_request", actor=CS,
                 payload=booking("Zhao Qiang", "137-0000-0002", thursday_14))
    clock.set(local(9, 10, 10))
    engine.fire(li, "internal_confirmation_done", actor=SA, payload=confirmation("Li Wei", thursday_9))
    engine.fire(zhao, "internal_confirmation_done", actor=SA, payload=confirmation("Zhao Qiang", thursday_14))

    sms = SmsSubscriber(engine, folder / "notifier.db")
    print(f"Mon 10:10 subscriber: {texts(sms.poll())} queued, position #{sms.position}")

    # Wednesday afternoon the scheduler's tick sends both day-before reminders (their deadlines).
    clock.set(local(11, 14, 0))
    fired = engine.tick()
    print(f"Wed 14:00 tick: {', '.join(f'{s.event} {s.instance_id}' for s in fired)}")
    try:
        sms.poll(crash_at=fired[1].seq)
    except Crash as crash:
        print(f"Wed 14:00 {crash}; position #{sms.position}")
        sms.close()  # the process is gone, and its uncommitted transaction with it
    restarted = SmsSubscriber(engine, folder / "notifier.db")  # a new process reads the stored position
    print(f"Wed 14:01 restarted: {texts(restarted.poll())} queued, position #{restarted.position}")
    print(f"Wed 14:02 again: {texts(restarted.poll())} queued")
    assert engine.verify().ok
    queued = restarted.queued()
    restarted.close()
    return queued


def main() -> None:
    if len(sys.argv) > 1:
        folder = Path(sys.argv[1])
        folder.mkdir(parents=True, exist_ok=True)
        queued = run(folder)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            queued = run(Path(scratch))
    print("Texts, each once:")
    for seq, phone, text in queued:
        print(f"  #{seq:<3} {phone}  {text}")


if __name__ == "__main__":
    main()
