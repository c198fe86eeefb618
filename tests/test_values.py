"""Values handed out by the engine: actors, reasons, steps, reports."""

from __future__ import annotations

from datetime import UTC, datetime

import aftersales_flow as af


def test_actor_roles_are_a_frozenset_and_a_single_role_is_one_role() -> None:
    """Roles become a frozenset; a plain string is one role, not its letters."""
    assert af.Actor("sa-1", roles="service_advisor").roles == frozenset({"service_advisor"})
    assert af.Actor("sa-1", roles=["a", "b", "a"]).roles == frozenset({"a", "b"})
    assert af.Actor("sa-1").to_dict() == {"id": "sa-1", "roles": [], "on_behalf_of": None, "channel": None}


def test_reason_to_dict() -> None:
    """A reason serialises with its code, message, rule and field."""
    reason = af.Reason(code="missing_field", message="'x' is missing", rule="payload", field="x")
    assert reason.to_dict() == {
        "code": "missing_field",
        "message": "'x' is missing",
        "rule": "payload",
        "field": "x",
    }


def test_verify_report_is_truthy_only_when_ok() -> None:
    """A report is true when no problem was found; a problem prints the instance and event."""
    assert af.VerifyReport(ok=True, checked=1, instances=1)
    problem = af.VerifyProblem(instance_id="RO-1", kind="edited", message="changed", seq=5, event="dispatch")
    assert not af.VerifyReport(ok=False, checked=1, instances=1, problems=(problem,))
    assert str(problem) == "instance 'RO-1', event #5 (dispatch): changed"


def test_steps_are_frozen() -> None:
    """A step cannot be changed after the fact."""
    step = af.Step(
        instance_id="RO-1",
        flow="f",
        flow_version=1,
        event="e",
        source=None,
        target="a",
        version=1,
        actor=af.SYSTEM,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert step.accepted
    assert step.reasons == ()
