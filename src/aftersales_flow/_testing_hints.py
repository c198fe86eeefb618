"""Values that satisfy guards, mined from a flow's rule calls (no hypothesis needed here).

A *hint* is registered under a rule's name: given the rule call's arguments (flow parameters
resolved) and the time, it proposes values for the data fields the rule reads. Values are
proposals, not promises: property tests mix them with random and deliberately broken ones,
so a guard is seen both holding and failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from aftersales_flow._time import parse_duration
from aftersales_flow.model import Flow
from aftersales_flow.rules._expr import Guard, rule_calls
from aftersales_flow.rules._local import to_local
from aftersales_flow.rules.appointment import add_months

HintFunction = Callable[[Mapping[str, Any], datetime], Mapping[str, Sequence[Any]]]
"""A hint: ``(arguments, now) -> {field path: candidate values}``."""


class Hints:
    """Hints by rule name; :data:`DEFAULT_HINTS` has one for every rule of the default registry."""

    def __init__(self, hints: Mapping[str, HintFunction] | None = None) -> None:
        self._hints: dict[str, HintFunction] = dict(hints or {})

    def hint(self, name: str) -> Callable[[HintFunction], HintFunction]:
        """Register the decorated function as the hint of rule ``name`` (replacing any)."""

        def decorator(function: HintFunction) -> HintFunction:
            self._hints[name] = function
            return function

        return decorator

    def get(self, name: str) -> HintFunction | None:
        """The hint of rule ``name``, or None."""
        return self._hints.get(name)

    def copy(self) -> Hints:
        """A new registry with the same hints, to extend without touching this one."""
        return Hints(self._hints)

    def __contains__(self, name: object) -> bool:
        return name in self._hints

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._hints))


DEFAULT_HINTS = Hints()
"""The hints property tests use unless given others."""


def hint(name: str) -> Callable[[HintFunction], HintFunction]:
    """Register a hint for rule ``name`` in :data:`DEFAULT_HINTS` (decorator)."""
    return DEFAULT_HINTS.hint(name)


def _around(value: Any) -> list[Any]:
    """A number and its neighbours, so that every comparison is seen both ways."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [value]
    return [value - 1, value, value + 1]


def _example_of(wanted: Any) -> Any:
    """A value matching a ``where`` / ``require`` condition (a list condition: its first item)."""
    if isinstance(wanted, list | tuple):
        return wanted[0] if wanted else None
    return wanted


@hint("field_true")
def _field_true(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: [True, False]}


@hint("field_equals")
def _field_equals(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: [args["value"]]}


@hint("field_in")
def _field_in(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: list(args["values"])}


@hint("field_compare")
def _field_compare(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    if args.get("other") is not None or args.get("value") is None:
        return {}
    return {args["field"]: _around(args["value"])}


@hint("count_where")
def _count_where(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    item = {key: _example_of(wanted) for key, wanted in (args.get("where") or {}).items()}
    counts = sorted({max(0, n) for n in _around(args["value"]) if isinstance(n, int)})
    return {args["field"]: [[dict(item) for _ in range(min(n, 5))] for n in counts]}


@hint("all_items")
def _all_items(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    where = {key: _example_of(wanted) for key, wanted in (args.get("where") or {}).items()}
    require = {key: _example_of(wanted) for key, wanted in args["require"].items()}
    return {args["field"]: [[{**where, **require}], [where]]}


@hint("time_compare")
def _time_compare(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    bound = now + parse_duration(args.get("offset", "0s"))
    shifts = (timedelta(hours=-1), timedelta(0), timedelta(hours=1), timedelta(days=1))
    return {args["field"]: [(bound + shift).isoformat() for shift in shifts]}


def _signature(role: str, now: datetime, methods: Sequence[str] | None = None) -> dict[str, Any]:
    """A valid signature record of ``role`` (a phone consent carries its recording's reference)."""
    return {
        "signer_role": role,
        "signer_name": "Li Wei",
        "signed_at": now.isoformat(),
        "method": (methods or ["e_sign"])[0],
        "recording_ref": "REC-1",
    }


@hint("signed")
def _signed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    record = _signature(args.get("signer_role", "customer"), now, args.get("methods"))
    return {args["field"]: [record, {**record, "signer_role": "nobody"}]}


@hint("entries_complete")
def _entries_complete(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    entry = {args.get("key", "id"): "E1", **dict.fromkeys(args["keys"], "recorded")}
    return {args["field"]: [[entry], []]}


@hint("kit_installed")
def _kit_installed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    items = list(args["items"])
    return {"protective_kit_installed": [items, items[:-1]]}


@hint("estimate_split")
def _estimate_split(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"estimate_total_labour": [100, 0], "estimate_total_parts": [200, 0]}


@hint("warranty_decided")
def _warranty_decided(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"warranty_status": ["not_applicable", "covered", "not_covered", "pending_oem"]}


def _nest(path: str, value: Any) -> tuple[str, Any]:
    """A dotted path's value as the value of its top field (``a.b: 1`` is ``a: {b: 1}``)."""
    top, *rest = path.split(".")
    for part in reversed(rest):
        value = {part: value}
    return top, value


def flow_guards(flow: Flow) -> list[Guard]:
    """Every guard of the flow: transitions' guards and unless, invariants, deadline and link conditions."""
    found: list[Guard] = list(flow.invariants)
    for transition in (*flow.starts, *flow.transitions):
        found.extend(g for g in (transition.guard, transition.unless) if g is not None)
        found.extend(link.when for link in (*transition.starts, *transition.fires) if link.when is not None)
    for state in flow.states.values():
        found.extend(spec.when for spec in state.deadlines if spec.when is not None)
    return found


def guard_values(
    guards: Sequence[Guard], params: Mapping[str, Any], now: datetime, hints: Hints | None = None
) -> dict[str, list[Any]]:
    """Candidate values by top-level field for every rule call in ``guards`` that has a hint.

    A hint that fails on odd arguments is skipped: hints only help, they never decide.
    """
    registry = hints if hints is not None else DEFAULT_HINTS
    found: dict[str, list[Any]] = {}
    for guard in guards:
        for call in rule_calls(guard):
            function = registry.get(call.name)
            if function is None:
                continue
            try:
                proposed = function(call.resolve(params), now)
            except Exception:  # noqa: BLE001, S112 - a hint that cannot read its arguments proposes nothing
                continue
            for path, values in proposed.items():
                for value in values:
                    top, nested = _nest(path, value)
                    bucket = found.setdefault(top, [])
                    if nested not in bucket:
                        bucket.append(nested)
    return found


# --- the shipped dealership rules --------------------------------------------------------------


@hint("sent_to_all")
def _sent_to_all(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    recipients = list(args["recipients"])
    return {args["field"]: [recipients, recipients[1:]]}


@hint("is_month")
def _is_month(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    earlier = now.replace(day=1) - timedelta(days=1)
    return {args["field"]: [earlier.strftime("%Y-%m"), now.strftime("%Y-%m"), "2026-13"]}


@hint("no_visit_for")
def _no_visit_for(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    days = int(args["days"])
    dates = [(now - timedelta(days=n)).date().isoformat() for n in (days + 1, days + 30, max(days - 1, 0))]
    return {args["field"]: dates}


@hint("attempts_made")
def _attempts_made(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args.get("field", "attempts"): _around(args["at_least"])}


@hint("director_notified")
def _director_notified(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"director_notified": [True, False]}


@hint("level_participants_recorded")
def _level_participants(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    levels: Mapping[str, Sequence[str]] = args["levels"]
    every = [
        {
            "level": int(key.rpartition("_")[2]),
            "members": [{"role": role, "name": f"{role} 1"} for role in roles],
        }
        for key, roles in sorted(levels.items())
    ]
    return {"level_participants": [every, every[:1]]}


def _filled(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    """Values of every type for ``field`` that count as recorded, then blank ones that do not.

    The hint does not know the field's type: values of another type are dropped where the flow
    declares one.
    """
    recorded = [
        "recorded",
        1,
        True,
        now.isoformat(),
        now.date().isoformat(),
        ["recorded"],
        {"recorded": True},
    ]
    return {args["field"]: [*recorded, "", [], {}]}


hint("field_present")(_filled)
hint("payload_has")(_filled)


@hint("actor_has_role")
@hint("acting_level_participant")
@hint("call_time_allowed")
@hint("on_weekday")
def _no_field(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    """The rule reads the actor or the clock, not the data: nothing to propose.

    Likely commands try other actors holding the branch's roles when a guard fails (see
    ``_testing_strategies``), so rules on the actor's roles are met that way.
    """
    return {}


# --- the appointment: slots around the clock -----------------------------------------------------
#
# A hint sees the time the event is fired, not the instance's data, and the slot is recorded when
# the appointment is booked: the later time-window rules (the day-before reminder, the hour-before
# confirmation, the no-show) read that slot at a later clock. Property runs move the clock a few
# minutes per command and by ticks (an hour, one, two or three days), so the slots proposed are
# placed for those moves to land in the rules' windows.


def _day_start(now: datetime, days: int, timezone: str | None) -> datetime:
    """Five minutes into the dealer's local day ``days`` days after today."""
    local = to_local(now, timezone)
    return datetime.combine(local.date() + timedelta(days=days), time(0, 5), tzinfo=local.tzinfo)


def _slots(now: datetime, timezone: str | None) -> list[datetime]:
    return [
        # Early on the third local day: the day-before reminder applies, and its window (the
        # day before the slot) opens one to two days after the booking, where ticks often land.
        _day_start(now, 3, timezone),
        # Three and a half days ahead: a three-day tick, however long the booking took to
        # confirm, lands in the day before the slot (the system sends the reminder).
        now + timedelta(days=3, hours=12),
        # Tomorrow: no day-before reminder; a one-day tick lands in the hour before the slot.
        now + timedelta(days=1, minutes=45),
        # Within the hour: the hour-before window is open at once (same day: a reason is needed).
        now + timedelta(minutes=55),
    ]


def _iso(moments: Sequence[datetime]) -> list[str]:
    return [moment.isoformat() for moment in moments]


@hint("slot_in_future")
def _slot_in_future(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"slot_at": _iso([*_slots(now, args.get("timezone")), now - timedelta(hours=1)])}


@hint("slot_not_same_day")
def _slot_not_same_day(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # Tomorrow holds; within the hour is (mostly) today, which fails unless same-day is allowed.
    slots = _slots(now, args.get("timezone"))
    return {"slot_at": _iso([slots[2], slots[-1]])}


@hint("peak_alternatives_offered")
def _peak_alternatives(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    wanted = int(args["minimum"])
    offered = [(now + timedelta(days=2, hours=n)).isoformat() for n in range(wanted)]
    return {"slot_in_peak": [False, True], "alternatives_offered": [offered, offered[:-1]]}


def _label(fields: Sequence[str], day: str) -> dict[str, Any]:
    return {name: day if name == "appointment_date" else "Li Wei" for name in fields}


@hint("parts_checked")
def _parts_checked(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # Labels dated for each proposed slot's local day: the one the instance's slot falls on holds.
    fields = list(args["label_fields"])
    zone = args.get("timezone")
    days = dict.fromkeys(to_local(slot, zone).date().isoformat() for slot in _slots(now, zone))
    reserved = [[{"part_no": "P1", "label": _label(fields, day)}] for day in days]
    return {
        "no_parts_needed": [True, False],
        "reserved_parts": [*reserved, [{"part_no": "P1"}]],
        "backorders": [
            [{"part_no": "B1", "eta": (now + timedelta(days=2)).isoformat()}],
            [{"part_no": "B1"}],
        ],
        "backorder_reported_to_sa": [True, False],
    }


@hint("day_before_reminder_applies")
def _day_before_reminder_applies(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # booked_at is stamped by the booking event: slots are proposed that many local days after now.
    lead = int(args["min_lead_days"]) + (0 if args.get("inclusive", True) else 1)
    zone = args.get("timezone")
    ahead = [_day_start(now, lead, zone), _day_start(now, max(lead - 1, 0), zone)]
    return {"booked_at": [now.isoformat()], "slot_at": _iso(ahead)}


@hint("within_before_slot")
def _within_before_slot(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    offset = parse_duration(args["offset"])
    return {
        "slot_at": _iso([now + offset * 5 / 6, now + offset + timedelta(hours=1), now - timedelta(minutes=1)])
    }


@hint("no_show_grace_passed")
def _no_show_grace_passed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    grace = parse_duration(args["grace"])
    minute = timedelta(minutes=1)
    return {"slot_at": _iso([now - grace - minute, now - grace + minute])}


@hint("retry_attempt_left")
def _retry_attempt_left(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    most = int(args["max_attempts"])
    return {"attempt_no": sorted({max(most - 1, 1), most})}


@hint("retry_contact_in_window")
def _retry_contact_in_window(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # The missed slot is not known here: the call is proposed today (the deadline fires on the
    # window's first day) and at each end of the window counted from today.
    first, last = min(args["window_days"]), max(args["window_days"])
    days = (0, first, last, last + 1)
    return {"retry_contact_at": _iso([now + timedelta(days=n) for n in days])}


@hint("retry_outreach_linked")
def _retry_outreach_linked(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    most = int(args["max_attempts"])
    return {
        "origin": ["no_show_retry"],
        "previous_appointment_id": ["appointment-0"],
        "attempt_no": sorted({min(2, most), most, most + 1}),
    }


def _local_today(args: Mapping[str, Any], now: datetime) -> date:
    return to_local(now, args.get("timezone")).date()


@hint("service_due_date_ok")
def _service_due_date_ok(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # A service due in 8 days (within the usual reminder lead time), with a sale or last service
    # that makes it due exactly then; a due date one day later breaks the interval.
    due = _local_today(args, now) + timedelta(days=8)
    sold = due - timedelta(days=int(args["first_service"]["days"]))
    serviced = add_months(due, -int(args["regular_service"]["months"]))
    return {
        "origin": ["first_service_reminder", "regular_service_reminder"],
        "service_due_date": [due.isoformat(), (due + timedelta(days=1)).isoformat()],
        "sale_date": [sold.isoformat()],
        "last_service_date": [serviced.isoformat()],
    }


@hint("reminder_lead_window")
def _reminder_lead_window(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    today = _local_today(args, now)
    fewest, most = min(args["lead_days"]), max(args["lead_days"])
    days = (fewest, most, most + 1, fewest - 1)
    return {"service_due_date": [(today + timedelta(days=n)).isoformat() for n in days]}


# --- the complaint -------------------------------------------------------------------------------
#
# Options are numbered O1, O2… in every proposal, so that the customer's choice proposed below
# names an option of whichever proposal the case holds.

_CHOSEN = ("O1", "O2", "O9")
"""Options the customer picks: the first two are in every proposal of two options or more; O9 never is."""


def _resolution_options(kinds: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"option_id": f"O{n}", "resolution_type": kind, "description": kind.replace("_", " ")}
        for n, kind in enumerate(kinds, 1)
    ]


@hint("entry_level")
def _entry_level(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # Channels not listed enter at level 1 (these common ones are kept where the flow declares them).
    level, listed = args["level"], dict(args["entry_levels"])
    unlisted = [c for c in ("inbound_phone", "callback", "online", "on_site") if c not in listed]
    entering = [channel for channel, at in listed.items() if at == level] + (unlisted if level == 1 else [])
    others = [channel for channel, at in listed.items() if at != level] + (unlisted if level != 1 else [])
    return {"channel": [*entering, *others]}


@hint("escalates_to")
def _escalates_to(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"current_level": [args["level"] - 1, args["level"]]}


@hint("resolutions_fit_responsibility")
def _resolutions_fit(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # The responsibility recorded on the case is not known here: options of the types allowed for
    # every responsibility come first, then each responsibility's own, then a type none allows.
    allowed: Mapping[str, Sequence[str]] = args["allowed"]
    kinds = [list(found) for found in allowed.values()]
    common = [kind for kind in kinds[0] if all(kind in found for found in kinds)] if kinds else []
    proposals = [_resolution_options(found) for found in ([common] if common else []) + kinds]
    proposals.append(_resolution_options(["no_such_resolution"]))
    return {"responsibility": [*allowed, "undetermined"], "resolution_options": proposals}


@hint("discount_within_authority")
def _discount_within_authority(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # The lowest limit holds at every level; one above the highest limit breaks every limited level.
    limits = sorted(limit for limit in args["authority"].values() if limit is not None)
    ceilings = [limits[0], limits[-1] + 1] if limits else [0]
    return {"bottom_line": [{"description": "goodwill up to the limit", "max_discount": c} for c in ceilings]}


@hint("bottom_line_recorded")
def _bottom_line_recorded(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    approvers: Mapping[str, Sequence[str]] = args["approvers"]
    roles = dict.fromkeys(role for found in approvers.values() for role in found)
    return {
        "bottom_line": [{"description": "no more than an apology and a free check"}, {}],
        "bottom_line_approval": [*(_signature(role, now) for role in roles), _signature("nobody", now)],
    }


@hint("chosen_option_offered")
@hint("needs_repair_order")
def _chosen_option(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"chosen_option": list(_CHOSEN)}


@hint("rework_scheduled")
def _rework_scheduled(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"resolution_scheduled_for": [(now + timedelta(days=1)).isoformat()]}


@hint("resolution_carried_out")
def _resolution_carried_out(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {
        "repair_order_id": ["complaint-1-RO1"],
        "repair_order_status": ["delivered", "closed", "in_repair"],
        "discount_applied": [True, False],
    }


@hint("satisfaction_confirmed")
def _satisfaction_confirmed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    confirmed = {"words": "all fixed, thank you", "rating": 5, "method": "phone", "anything_else": "no"}
    return {"satisfaction": [confirmed, {"words": "fine"}]}


# --- the callback flows and customer care ---------------------------------------------------------


@hint("before_due_time")
def _before_due_time(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: _iso([now, now - timedelta(days=400)]), args["at"]: [now.isoformat()]}


@hint("callback_attempts_exhausted")
def _callback_attempts_exhausted(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    days = timedelta(days=int(args["max_days"]) + 1)
    return {
        "attempts": [n for n in _around(int(args["max_attempts"])) if n >= 0],
        "delivered_at": _iso([now - days, now]),
    }


@hint("distribution_deadline_met")
def _distribution_deadline_met(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {args["field"]: _iso([now, now - timedelta(days=1)])}


@hint("collection_day_reached")
def _collection_day_reached(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    lag = parse_duration(args["lag"])
    return {args["field"]: _iso([now - lag - timedelta(days=1), now])}


@hint("monthly_report_on_time")
def _monthly_report_on_time(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    last = now.replace(day=1) - timedelta(days=1)
    before = last.replace(day=1) - timedelta(days=1)
    return {args["field"]: [last.strftime("%Y-%m"), before.strftime("%Y-%m")]}


@hint("churn_tier_fits")
def _churn_tier_fits(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    today = _local_today(args, now)
    ago = (int(args["at_risk_after_days"]) + 1, int(args["lost_after_days"]) + 1, 1)
    return {
        args["last_visit"]: [(today - timedelta(days=n)).isoformat() for n in ago],
        args["field"]: ["at_risk", "lost"],
    }


# --- the repair order's lines ------------------------------------------------------------------
#
# Every proposal names lines L1 (original scope), L2 (additional work) and L3 (a declined
# safety item), so that later events update the lines earlier ones wrote.


def _line(
    line_id: str, status: str, now: datetime, methods: Sequence[str] | None, **extra: Any
) -> dict[str, Any]:
    line = {
        "line_id": line_id,
        "description": "brake pads" if line_id == "L1" else "front discs",
        "status": status,
        "origin": "original" if line_id == "L1" else "additional_found",
        "pay_type": "customer",
        "kind": "labour",
        "amount": 100,
        "authorization": _signature("customer", now, methods),
    }
    line.update(extra)
    return {key: value for key, value in line.items() if value is not None}


@hint("no_unauthorized_work")
def _no_unauthorized_work(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    methods = args.get("methods")
    covering = {**_signature("customer", now, methods), "covers": ["L1"]}
    return {
        "lines": [
            [_line("L1", "authorized", now, methods)],
            [_line("L2", "in_progress", now, methods, authorization=None)],
        ],
        "work_order_signature": [covering],
    }


@hint("no_line_proposed")
def _no_line_proposed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    decided = [_line("L1", "authorized", now, None), _line("L2", "authorized", now, None)]
    return {"lines": [decided, [_line("L2", "proposed", now, None, authorization=None, reason="worn")]]}


@hint("has_proposed_line")
def _has_proposed_line(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    origin = args.get("origin", "additional_found")
    proposed = _line("L2", "proposed", now, None, authorization=None, origin=origin, reason="worn")
    return {"lines": [[proposed], [{**proposed, "reason": ""}]]}


@hint("authorized_lines_done")
def _authorized_lines_done(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    done = [_line("L1", "done", now, None), _line("L2", "done", now, None)]
    return {"lines": [done, [_line("L1", "in_progress", now, None)]]}


@hint("declines_signed")
def _declines_signed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    methods = args.get("methods")
    declined = _line("L3", "declined", now, methods, authorization=None, safety_critical=True)
    signed_off = {**declined, "decline_signature": _signature("customer", now, methods)}
    return {"lines": [[signed_off], [declined]]}


@hint("old_parts_collected")
def _old_parts_collected(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"old_parts_collected": [True, False]}


@hint("settlement_within_authorization")
def _settlement_within_authorization(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    # Nothing above what was authorized: 0 always holds, 200 is the two proposed lines authorized.
    return {
        "settlement": [{"total": 0, "method": "cash"}, {"total": 200, "method": "cash"}, {"total": 1_000_000}]
    }


@hint("road_test_passed_if_required")
def _road_test_passed(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {
        "road_test": [
            {"result": "pass", "by_role": "technician"},
            {"result": "fail", "by_role": "technician"},
        ],
        "road_test_required": [False, True],
    }


@hint("will_reach")
def _will_reach(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    value = int(args["value"])
    return {args["field"]: sorted({max(value - 1, 0), max(value - 2, 0)}, reverse=True)}


@hint("selected_for_callback")
def _selected_for_callback(args: Mapping[str, Any], now: datetime) -> Mapping[str, Sequence[Any]]:
    return {"is_repeat_repair": [True, False]}
