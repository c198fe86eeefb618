"""aftersales_flow: a car dealership's after-sales work as explicit, audited state machines.

>>> import aftersales_flow as af
>>> flows = af.load_flows("flows")                      # doctest: +SKIP
>>> engine = af.Engine(flows, af.SQLiteStore(":memory:"))  # doctest: +SKIP
"""

from aftersales_flow.checkpoint import Checkpoint
from aftersales_flow.engine import Engine
from aftersales_flow.errors import (
    AftersalesFlowError,
    AmbiguousTransitionError,
    DuplicateFlowError,
    DuplicateInstance,
    FlowDefinitionError,
    FlowMeaningError,
    FlowShapeError,
    FlowSyntaxError,
    GraphError,
    GuardRejected,
    IdempotencyKeyReused,
    IllegalTransition,
    InstanceNotFound,
    InvalidCommand,
    OverlayError,
    PayloadRejected,
    RoleDenied,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    TransitionRefused,
    UnknownFieldError,
    UnknownFlowError,
    UnknownInstance,
    UnknownParameterError,
    UnknownRoleError,
    UnknownRuleError,
    UnknownStateError,
    VersionConflict,
)
from aftersales_flow.loader import available_brands, load_flow, load_flows
from aftersales_flow.model import FieldSpec, Flow, FlowSet, Transition
from aftersales_flow.rules import RuleContext, RuleRegistry, rule
from aftersales_flow.sqlite_store import SQLiteStore
from aftersales_flow.states import Label, State
from aftersales_flow.states.deadline import Deadline
from aftersales_flow.values import (
    SYSTEM,
    Actor,
    AuditEvent,
    Instance,
    Option,
    Reason,
    Step,
    VerifyProblem,
    VerifyReport,
)

__version__ = "0.1.0"

__all__ = [
    "SYSTEM",
    "Actor",
    "AftersalesFlowError",
    "AmbiguousTransitionError",
    "AuditEvent",
    "Checkpoint",
    "Deadline",
    "DuplicateFlowError",
    "DuplicateInstance",
    "Engine",
    "FieldSpec",
    "Flow",
    "FlowDefinitionError",
    "FlowMeaningError",
    "FlowSet",
    "FlowShapeError",
    "FlowSyntaxError",
    "GraphError",
    "GuardRejected",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "Instance",
    "InstanceNotFound",
    "InvalidCommand",
    "Label",
    "Option",
    "OverlayError",
    "PayloadRejected",
    "Reason",
    "RoleDenied",
    "RuleContext",
    "RuleRegistry",
    "SQLiteStore",
    "State",
    "Step",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "Transition",
    "TransitionRefused",
    "UnknownFieldError",
    "UnknownFlowError",
    "UnknownInstance",
    "UnknownParameterError",
    "UnknownRoleError",
    "UnknownRuleError",
    "UnknownStateError",
    "VerifyProblem",
    "VerifyReport",
    "VersionConflict",
    "__version__",
    "available_brands",
    "load_flow",
    "load_flows",
    "rule",
]
