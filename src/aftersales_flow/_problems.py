"""Collecting every problem of a flow file before raising them together."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from aftersales_flow._yaml import Mark
from aftersales_flow.errors import FlowDefinitionError


def suggest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known name is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def listing(known: Iterable[str], limit: int = 40) -> str:
    """Known names, sorted and comma-separated (cut after ``limit``)."""
    names = sorted(known)
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "") if names else "none"


class Problems:
    """An ordered list of definition errors, raised together."""

    def __init__(self) -> None:
        self.errors: list[FlowDefinitionError] = []

    def add(self, kind: type[FlowDefinitionError], message: str, mark: Mark) -> None:
        """Record a problem of class ``kind`` at ``mark``."""
        self.errors.append(kind(message, file=mark.file, line=mark.line, column=mark.column))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise the problems found, sorted by place: one error, or all in one."""
        if not self.errors:
            return
        unique: dict[str, FlowDefinitionError] = {}
        for error in self.errors:
            unique.setdefault(str(error), error)
        errors = sorted(unique.values(), key=lambda e: (e.file, e.line, e.column))
        if len(errors) == 1:
            raise errors[0]
        first = errors[0]
        raise type(first)(first.detail, file=first.file, line=first.line, column=first.column, errors=errors)
