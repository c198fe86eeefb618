"""Collecting every problem of a flow file before raising them together."""

from __future__ import annotations

import difflib
import functools
import heapq
from collections.abc import Iterable, Sequence

from aftersales_flow._yaml import Mark
from aftersales_flow.errors import FlowDefinitionError

_SHORTLIST = 12
"""How many known names, picked by shared letter pairs, are compared in full with a wrong name."""


@functools.lru_cache(maxsize=4096)
def _pairs(name: str) -> frozenset[str]:
    return frozenset(name[i : i + 2] for i in range(len(name) - 1))


def _shortlist(name: str, known: list[str]) -> list[str]:
    """The known names sharing the most letter pairs with ``name``.

    A full comparison costs tens of microseconds; a file with hundreds of wrong names among
    hundreds of known ones would take seconds without this first, cheap cut.
    """
    if len(known) <= _SHORTLIST:
        return known
    wanted = _pairs(name)
    return heapq.nlargest(_SHORTLIST, known, key=lambda k: len(wanted & _pairs(k)))


def suggest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known name is close to ``name``, else ``""``."""
    candidates = _shortlist(name, [str(k) for k in known])
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def listing(known: Iterable[object], limit: int = 40) -> str:
    """Known names, sorted and comma-separated (cut after ``limit``).

    Names are shown as text: a malformed file may hold numbers or lists where names belong.
    """
    names = sorted({str(k) for k in known})
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "") if names else "none"


def combine(errors: Sequence[FlowDefinitionError]) -> FlowDefinitionError:
    """One error carrying all of ``errors``.

    Its class is theirs when they share one, else plain :class:`FlowDefinitionError`, so that
    catching a specific class never catches problems of another kind.
    """
    if len(errors) == 1:
        return errors[0]
    kinds = {type(e) for e in errors}
    kind = kinds.pop() if len(kinds) == 1 else FlowDefinitionError
    first = errors[0]
    return kind(first.detail, file=first.file, line=first.line, column=first.column, errors=errors)


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
        raise combine(sorted(unique.values(), key=lambda e: (e.file, e.line, e.column)))
