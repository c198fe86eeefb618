"""An integrator's own guard rule, registered by name and used by a flow of their own.

Guards name rules. The library's rules cover the common checks (docs/rules.md); a dealer's
software adds its own with ``@af.rule``. Here a courtesy car is handed over only to a customer
whose driving licence stays valid until the car is due back, plus the dealer's margin
(examples/courtesy_car.yaml). Importing this module registers the rule, so the command line can
load the flow too:

    aftersales-flow validate examples/courtesy_car.yaml --rules examples/custom_rule.py
    aftersales-flow show examples/courtesy_car.yaml --rules examples/custom_rule.py

Run it: ``python examples/custom_rule.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock

FLOW = Path(__file__).resolve().parent / "courtesy_car.yaml"


@af.rule("licence_valid_through", description="the driving licence is valid {margin_days} days past {field}")
def licence_valid_through(
    ctx: af.RuleContext, *, field: str, margin_days: int, timezone: str = "UTC"
) -> str | None:
    """Holds when ``driving_licence.valid_until`` is on or after the local day of ``field`` + the margin.

    A rule takes the context, then its parameters as keyword-only arguments (checked against
    their annotations when a flow loads); it returns None when it holds, else what is wrong.
    """
    due = ctx.get(field)
    if not isinstance(due, str):
        return f"'{field}' is not recorded"
    licence = ctx.get("driving_licence")
    valid_until = licence.get("valid_until") if isinstance(licence, Mapping) else None
    try:
        expires = date.fromisoformat(valid_until) if isinstance(valid_until, str) else None
    except ValueError:
        expires = None
    if expires is None:
        return "the driving licence's expiry date is not recorded as 'valid_until' (YYYY-MM-DD)"
    needed = datetime.fromisoformat(due).astimezone(ZoneInfo(timezone)).date() + timedelta(days=margin_days)
    if expires < needed:
        return (
            f"the driving licence expires on {expires}; lending the car until {due[:10]} needs it "
            f"valid until {needed} at least (a {margin_days}-day margin)"
        )
    return None


def main() -> None:
    flow = af.load_flow(FLOW)  # the flow names the rule: it loads because the rule is registered
    print(f"{flow.name} v{flow.version}: hand_over needs {flow.transitions[0].guard!r}")
    clock = SimulatedClock(datetime(2026, 11, 9, 1, 0, tzinfo=UTC))  # Monday 09:00 in Shanghai
    engine = af.Engine(af.FlowSet({flow.name: flow}), af.SQLiteStore(":memory:"), clock=clock)
    sa = af.Actor("sa-017", roles={"service_advisor"})

    engine.start("courtesy_car", "CC-1", event="request", actor=sa,
                 payload={"repair_order_id": "RO-1001", "customer": {"name": "Li Wei"}})
    loan = {"plate": "粤A·L0001", "due_back_at": "2026-11-12T18:00:00+08:00"}
    try:
        engine.fire("CC-1", "hand_over", actor=sa,
                    payload={**loan, "driving_licence": {"number": "4401", "valid_until": "2026-11-15"}})
    except af.GuardRejected as refusal:
        reason = refusal.reasons[0]
        print(f"refused by {reason.rule}: {reason.message}")
    step = engine.fire("CC-1", "hand_over", actor=sa,
                       payload={**loan, "driving_licence": {"number": "4401", "valid_until": "2032-05-01"}})
    print(f"{step.event}: {step.source} -> {step.target}")
    trail = [f"{e.event} {'ok' if e.accepted else 'refused'}" for e in engine.history("CC-1")]
    print("history:", ", ".join(trail))


if __name__ == "__main__":
    main()
