"""Every error the library raises, rooted at :class:`AftersalesFlowError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aftersales_flow.values import Reason, Step


class AftersalesFlowError(Exception):
    """Base class of every error raised by aftersales_flow."""


# --- flow definitions -------------------------------------------------------------------


class FlowDefinitionError(AftersalesFlowError):
    """A flow file is wrong; the message starts with ``file:line:col`` and says how to fix it.

    A problem of a whole file or folder (unreadable, missing) has no line: its message
    starts with ``file:`` alone and :attr:`line` and :attr:`column` are 0.

    When a file has several problems, the raised error carries all of them in
    :attr:`errors` (each itself a ``FlowDefinitionError`` subclass) and its message lists
    every one, one per line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "<unknown>",
        line: int = 0,
        column: int = 0,
        errors: Sequence[FlowDefinitionError] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.detail = message
        self.errors: tuple[FlowDefinitionError, ...] = tuple(errors) or (self,)
        super().__init__(self._render())

    @property
    def location(self) -> str:
        """``file:line:col`` of the problem (1-based line and column), or only ``file`` without a line."""
        return f"{self.file}:{self.line}:{self.column}" if self.line > 0 else self.file

    def _render(self) -> str:
        if len(self.errors) > 1 or self.errors[0] is not self:
            lines = [f"{e.location}: {e.detail}" for e in self.errors]
            return "\n".join(lines)
        return f"{self.location}: {self.detail}"

    def __reduce__(self) -> tuple[object, ...]:
        # A lone error lists itself in `errors`; only a combined error pickles the ones it holds.
        held = () if self.errors == (self,) else self.errors
        return (_rebuild_definition_error, (type(self), self.detail, self.file, self.line, self.column, held))


def _rebuild_definition_error(
    cls: type[FlowDefinitionError],
    message: str,
    file: str,
    line: int,
    column: int,
    errors: Sequence[FlowDefinitionError] = (),
) -> FlowDefinitionError:
    return cls(message, file=file, line=line, column=column, errors=errors)


class FlowSyntaxError(FlowDefinitionError):
    """The file is not acceptable YAML: bad syntax, duplicate keys, tags, aliases out of bounds."""


class FlowShapeError(FlowDefinitionError):
    """A key is unknown, missing or has a value of the wrong type."""


class FlowMeaningError(FlowDefinitionError):
    """The flow is well formed but does not make sense: unknown names, broken graph."""


class UnknownStateError(FlowMeaningError):
    """A transition or start event names a state the flow does not declare."""


class UnknownRuleError(FlowMeaningError):
    """A guard names a rule that is not registered, or gives it wrong parameters."""


class UnknownRoleError(FlowMeaningError):
    """A transition names a role the flow does not declare."""


class UnknownParameterError(FlowMeaningError):
    """A guard or overlay refers to a parameter the flow does not declare."""


class UnknownFieldError(FlowMeaningError):
    """A transition requires or accepts a data field the flow does not declare."""


class GraphError(FlowMeaningError):
    """Unreachable states, dead ends, no reachable terminal state."""


class AmbiguousTransitionError(FlowMeaningError):
    """One event has several branches from one state that guards do not tell apart."""


class UnknownFlowLinkError(FlowMeaningError):
    """A transition starts or fires on a flow, event or field that the flow set does not have."""


class OverlayError(FlowMeaningError):
    """A brand overlay cannot be applied to its base flow."""


class DuplicateFlowError(FlowMeaningError):
    """Two files of one flows folder define flows of the same name."""


class UnknownFlowError(AftersalesFlowError, KeyError):
    """A flow name that the loaded flow set does not contain."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown flow"


class InvalidCommand(AftersalesFlowError, ValueError):
    """A command's arguments are unusable (an empty instance id, a payload that is not a mapping)."""


class InstanceNotFound(AftersalesFlowError, LookupError):
    """A read (``instance``, ``history``, ``replay``…) names an instance the store does not hold."""


# --- refusals ----------------------------------------------------------------------------


class TransitionRefused(AftersalesFlowError):
    """A command was refused; the refusal is already in the audit store.

    Carries the refused :class:`~aftersales_flow.Step` and every :class:`~aftersales_flow.Reason`.
    """

    def __init__(self, step: Step, reasons: Sequence[Reason]) -> None:
        self.step = step
        self.reasons: tuple[Reason, ...] = tuple(reasons)
        listed = "; ".join(r.message for r in self.reasons) or "refused"
        where = "as a start" if step.source is None else f"in state '{step.source}'"
        super().__init__(f"{step.instance_id}: '{step.event}' refused {where}: {listed}")


class IllegalTransition(TransitionRefused):
    """The event does not exist from the current state (or the state is terminal)."""


class GuardRejected(TransitionRefused):
    """One or more guards failed."""


class RoleDenied(TransitionRefused):
    """The actor holds none of the roles permitted to fire the event."""


class PayloadRejected(TransitionRefused):
    """A required field is missing, a field is undeclared, or a value has the wrong type."""


class VersionConflict(TransitionRefused):
    """``expected_version`` does not match the stored version of the instance."""


class UnknownInstance(TransitionRefused):
    """No instance with this id exists."""


class DuplicateInstance(TransitionRefused):
    """``start`` was called with the id of an instance that already exists."""


class IdempotencyKeyReused(TransitionRefused):
    """An idempotency key was reused for a different command."""


# --- stores ------------------------------------------------------------------------------


class StoreError(AftersalesFlowError):
    """The audit store could not complete an operation; nothing was written."""


class StoreBusy(StoreError):
    """Another writer held the store's lock past the busy timeout."""


class StoreCorrupt(StoreError):
    """The store's file is not a usable aftersales_flow database."""
