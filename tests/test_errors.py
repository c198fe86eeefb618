"""The error hierarchy and the messages of definition errors."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import aftersales_flow as af


def test_every_error_derives_from_the_base() -> None:
    """Definition errors, refusals and store errors are all AftersalesFlowError."""
    for cls in (
        af.FlowDefinitionError,
        af.UnknownStateError,
        af.TransitionRefused,
        af.GuardRejected,
        af.StoreBusy,
        af.StoreCorrupt,
        af.InvalidCommand,
        af.InstanceNotFound,
    ):
        assert issubclass(cls, af.AftersalesFlowError)
    for cls in (
        af.IllegalTransition,
        af.GuardRejected,
        af.RoleDenied,
        af.PayloadRejected,
        af.VersionConflict,
        af.UnknownInstance,
        af.DuplicateInstance,
        af.IdempotencyKeyReused,
    ):
        assert issubclass(cls, af.TransitionRefused)


def test_definition_error_message_starts_with_the_location() -> None:
    """file:line:col, then what is wrong; several errors one per line; they survive pickling."""
    one = af.UnknownStateError("bad state", file="f.yaml", line=3, column=7)
    assert str(one) == "f.yaml:3:7: bad state"
    two = af.FlowDefinitionError(
        "bad state",
        file="f.yaml",
        line=3,
        column=7,
        errors=[one, af.UnknownRoleError("bad role", file="f.yaml", line=9, column=2)],
    )
    assert str(two) == "f.yaml:3:7: bad state\nf.yaml:9:2: bad role"
    assert str(pickle.loads(pickle.dumps(two))) == str(two)


def test_refusal_message_lists_the_reasons() -> None:
    """A refusal's message names the instance, the event, the state and every reason."""
    step = af.Step(
        instance_id="RO-1",
        flow="repair_order",
        flow_version=1,
        event="dispatch",
        source="authorized",
        target=None,
        version=4,
        actor=af.SYSTEM,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        accepted=False,
    )
    refusal = af.GuardRejected(
        step, [af.Reason(code="a", message="no bay"), af.Reason(code="b", message="no technician")]
    )
    assert str(refusal) == "RO-1: 'dispatch' refused in state 'authorized': no bay; no technician"


def test_a_refused_start_says_so_rather_than_naming_no_state() -> None:
    """A refusal of a start command (no state yet) reads 'refused as a start', not "in state 'None'"."""
    step = af.Step(
        seq=1,
        instance_id="RO-9",
        flow="repair_order",
        flow_version=1,
        event="walk_in",
        source=None,
        target=None,
        version=0,
        actor=af.SYSTEM,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        accepted=False,
    )
    refusal = af.PayloadRejected(step, [af.Reason(code="missing_field", message="'plate' is required")])
    assert str(refusal) == "RO-9: 'walk_in' refused as a start: 'plate' is required"
