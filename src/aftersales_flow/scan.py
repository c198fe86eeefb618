"""Reminder and lost-customer scans over the integrator's vehicle service records.

The integrator supplies :class:`ServiceRecord` values through any object with a
``records()`` method (the :class:`VehicleRecords` protocol); :class:`SQLiteVehicleRecords`
is a small implementation for demos and tests. :meth:`Engine.scan` opens, per brand
parameters, an outreach ``appointment`` for a first or regular service coming due and a
``lost_customer_case`` for a customer not seen for too long — once per vehicle and due date.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any, Protocol

import attrs
import sqlite_utils

from aftersales_flow._frozen import freeze, thaw


@attrs.frozen(kw_only=True)
class ServiceRecord:
    """What the dealership system knows of one vehicle and its customer."""

    vin: str
    customer: Mapping[str, Any] = attrs.field(converter=freeze)
    vehicle: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)
    sale_date: date
    last_service_date: date | None = None
    last_service_km: float | None = None
    last_visit_date: date | None = None
    """The last workshop visit of any kind (defaults to the last service, then the sale)."""
    readings: tuple[tuple[date, float], ...] = ()
    """Odometer readings (date, km), oldest first."""

    @property
    def last_seen(self) -> date:
        """The last day the vehicle was in the workshop (or sold)."""
        return self.last_visit_date or self.last_service_date or self.sale_date

    @property
    def mileage(self) -> float | None:
        """The latest odometer reading."""
        return self.readings[-1][1] if self.readings else None


class VehicleRecords(Protocol):
    """Where :meth:`Engine.scan` reads the vehicles from."""

    def records(self) -> Iterable[ServiceRecord]:
        """Every vehicle to consider."""


def km_reached_on(record: ServiceRecord, km: float) -> date | None:
    """When the odometer is projected to show ``km``, from the last two readings; None if unknown.

    The daily distance is estimated from the last two readings (domain brief §2e [default]);
    with fewer readings, or none moving forward, the time-based rule applies alone.
    """
    if len(record.readings) < 2:
        return None
    (first_day, first_km), (last_day, last_km) = record.readings[-2], record.readings[-1]
    days = (last_day - first_day).days
    if days <= 0 or last_km <= first_km:
        return None
    if last_km >= km:
        return last_day
    per_day = (last_km - first_km) / days
    return last_day + timedelta(days=int((km - last_km) / per_day))


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(f"cannot add {months} months to {day}")  # pragma: no cover


def service_due(record: ServiceRecord, params: Mapping[str, Any]) -> tuple[str, date]:
    """The next service for the vehicle: its origin and due date, whichever limit comes first."""
    if record.last_service_date is None:
        first = params["first_service"]
        by_time = record.sale_date + timedelta(days=first["days"])
        by_km = km_reached_on(record, first["km"])
        return "first_service_reminder", min(d for d in (by_time, by_km) if d is not None)
    regular = params["regular_service"]
    by_time = add_months(record.last_service_date, regular["months"])
    by_km = None
    if record.last_service_km is not None:
        by_km = km_reached_on(record, record.last_service_km + regular["km"])
    return "regular_service_reminder", min(d for d in (by_time, by_km) if d is not None)


class SQLiteVehicleRecords:
    """Vehicle service records in a small SQLite table (for the demo and tests)."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        self.db = sqlite_utils.Database(os.fspath(path))
        if "vehicles" not in self.db.table_names():
            self.db.table("vehicles").create({"vin": str, "record": str}, pk="vin")

    def put(self, record: ServiceRecord) -> None:
        """Add or update a vehicle's record."""
        text = json.dumps(
            {
                "customer": thaw(record.customer),
                "vehicle": thaw(record.vehicle),
                "sale_date": record.sale_date.isoformat(),
                "last_service_date": record.last_service_date.isoformat()
                if record.last_service_date
                else None,
                "last_service_km": record.last_service_km,
                "last_visit_date": record.last_visit_date.isoformat() if record.last_visit_date else None,
                "readings": [[day.isoformat(), km] for day, km in record.readings],
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        self.db.execute("INSERT OR REPLACE INTO vehicles (vin, record) VALUES (?, ?)", [record.vin, text])
        self.db.conn.commit()

    def records(self) -> Iterator[ServiceRecord]:
        """Every stored vehicle, by VIN."""
        for vin, text in self.db.execute("SELECT vin, record FROM vehicles ORDER BY vin").fetchall():
            data = json.loads(text)
            yield ServiceRecord(
                vin=vin,
                customer=data["customer"],
                vehicle=data["vehicle"],
                sale_date=date.fromisoformat(data["sale_date"]),
                last_service_date=_day(data["last_service_date"]),
                last_service_km=data["last_service_km"],
                last_visit_date=_day(data["last_visit_date"]),
                readings=tuple((date.fromisoformat(d), float(km)) for d, km in data["readings"]),
            )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
