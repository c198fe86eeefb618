"""States of a flow and their features (labels, tags, terminal flag)."""

from aftersales_flow.states.state import Label, State

__all__ = ["Label", "State"]
