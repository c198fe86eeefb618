"""The one door to ``transitions``: a static shared Machine per flow version.

Following transitions' static-machine pattern, each flow version compiles to one
``Machine(model=None, auto_transitions=False)`` shared by every instance; a command borrows
a tiny model object holding just the current state. Conditions read the guard verdicts the
engine has already worked out, so each guard runs once and every reason is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transitions import EventData, Machine

from aftersales_flow.model import Flow, Transition

START = "__start__"
"""The pseudo-state start events leave from."""


class _Cursor:
    """The model a command borrows: where the instance is, nothing else."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _verdict(index: int) -> Any:
    def condition(event_data: EventData) -> bool:
        if event_data.kwargs["verdicts"][index]:
            event_data.kwargs["chosen"].append(index)
            return True
        return False

    return condition


class CompiledFlow:
    """A flow's shared machine, and the branch order its conditions follow."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.machine = Machine(
            model=None,
            states=[START, *flow.states],
            initial=None,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for transition in (*flow.starts, *flow.transitions):
            branches = flow.branches(transition.source, transition.event)
            index = branches.index(transition)
            self.machine.add_transition(
                transition.event,
                transition.source or START,
                transition.target,
                conditions=[_verdict(index)],
            )

    def choose(self, source: str | None, event: str, verdicts: Sequence[bool]) -> int | None:
        """The index (in ``flow.branches(source, event)``) of the branch the machine takes, or None.

        The machine's trigger runs: its conditions read ``verdicts`` and the first branch whose
        verdict holds moves the borrowed cursor.
        """
        chosen: list[int] = []
        if not self.machine.events[event].trigger(_Cursor(source or START), verdicts=verdicts, chosen=chosen):
            return None
        return chosen[-1]

    def resolve(self, source: str | None, event: str, verdicts: Sequence[bool]) -> Transition | None:
        """The branch ``event`` takes from ``source`` given each branch's verdict, or None."""
        chosen: list[int] = []
        cursor = _Cursor(source or START)
        if not self.machine.events[event].trigger(cursor, verdicts=verdicts, chosen=chosen):
            return None
        branch = self.flow.branches(source, event)[chosen[-1]]
        assert cursor.state == branch.target
        return branch
