"""Brand overlays: merge an overlay document into its base flow document.

Every value keeps the mark of the file it came from, so a problem in a merged flow points
into the overlay when the overlay wrote the faulty part.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from aftersales_flow._problems import Problems, listing, suggest
from aftersales_flow._shape import NAME, TRANSITION_KEYS, ShapeChecker, _kind
from aftersales_flow._yaml import Mark, MarkedDict, MarkedList
from aftersales_flow.errors import FlowDefinitionError, OverlayError, UnknownParameterError

OVERLAY_KEYS = {
    "extends": "the name of the base flow",
    "brand": "the brand this overlay is for",
    "version": "the merged flow's version (defaults to the base's)",
    "label": "{en: ..., zh: ...}",
    "description": "text",
    "params": "new values for the base flow's parameters",
    "new_params": "parameters the base flow does not have",
    "roles": "{add: [...], remove: [...]}",
    "fields": "{add: {...}, remove: [...]}",
    "states": "{add: {...}, change: {...}, remove: [...]}",
    "transitions": "{add: [...], change: [...], remove: [...]}",
    "invariants": "{add: [...]}",
}
_EXTENDING = {
    "add_guard": "a guard that must hold as well as the base guard",
    "add_requires": "payload fields required as well",
    "add_accepts": "payload fields accepted as well",
    "add_roles": "roles allowed as well",
}
_CHANGEABLE = {**{k: v for k, v in TRANSITION_KEYS.items() if k not in ("event", "from")}, **_EXTENDING}
_SELECTOR = {
    "event": "the event to select",
    "from": "only the branch from this state",
    "to": "only the branch to this state",
}


def _extend(entry: MarkedDict, key: str, selector: MarkedDict) -> None:
    """Apply an ``add_*`` change: AND a guard onto the base guard, or append to a list of names."""
    target = key.removeprefix("add_")
    added = selector[key]
    if target == "guard":
        base = entry.get("guard")
        both = MarkedList([base, added] if base is not None else [added])
        both.mark = selector.mark_of(key)
        both.item_marks = ([entry.mark_of("guard")] if base is not None else []) + [selector.mark_of(key)]
        _set(entry, "guard", both, selector, key)  # a list of guards is their 'all'
        return
    current = entry.get(target)
    items = list(current) if isinstance(current, list) else []
    marks = (
        list(current.item_marks) if isinstance(current, MarkedList) else [entry.mark_of(target)] * len(items)
    )
    if isinstance(added, MarkedList):
        pairs = list(zip(added, added.item_marks, strict=True))
    else:
        pairs = [(added, selector.mark_of(key))]
    for name, mark in pairs:
        if name not in items:
            items.append(name)
            marks.append(mark)
    _set(entry, target, _list(items, marks, selector.mark_of(key)), selector, key)


def is_overlay(doc: Any) -> bool:
    """True for a document that extends a base flow."""
    return isinstance(doc, MarkedDict) and "extends" in doc


def _copy(doc: MarkedDict) -> MarkedDict:
    result = MarkedDict(doc)
    result.mark = doc.mark
    result.key_marks = dict(doc.key_marks)
    result.value_marks = dict(doc.value_marks)
    return result


def _set(doc: MarkedDict, key: str, value: Any, source: MarkedDict, source_key: str) -> None:
    doc[key] = value
    doc.key_marks[key] = source.key_mark(source_key)
    doc.value_marks[key] = source.mark_of(source_key)


def _list(items: list[Any], marks: list[Mark], mark: Mark) -> MarkedList:
    result = MarkedList(items)
    result.mark = mark
    result.item_marks = list(marks)
    return result


def _named_in(value: Any, names: set[str] | dict[str, Any]) -> bool:
    """True when ``value`` is one of ``names``; a malformed value (a list, a number) never is."""
    return isinstance(value, str) and value in names


def _without_states(entry: Any, removed: set[str]) -> Any:
    """A transition entry with removed states taken out of it, or None when nothing is left."""
    if not isinstance(entry, MarkedDict):
        return entry
    if _named_in(entry.get("to"), removed):
        return None
    sources = entry.get("from")
    if isinstance(sources, str):
        return None if sources in removed else entry
    if isinstance(sources, MarkedList) and any(_named_in(s, removed) for s in sources):
        left = [(s, m) for s, m in zip(sources, sources.item_marks, strict=True) if not _named_in(s, removed)]
        if not left:
            return None
        trimmed = _copy(entry)
        trimmed["from"] = _list([s for s, _ in left], [m for _, m in left], sources.mark)
        return trimmed
    return entry


class _Merger:
    def __init__(
        self, base: MarkedDict, overlay: MarkedDict, problems: Problems, check: ShapeChecker
    ) -> None:
        self.base = base
        self.overlay = overlay
        self.problems = problems
        self.check = check
        self.merged = _copy(base)
        # Role lists of base transitions that removing roles left empty, by id, with the list
        # itself (to keep the id valid) and the removed roles with the marks of their removal.
        self.roleless: dict[int, tuple[MarkedList, list[tuple[str, Mark]]]] = {}

    def error(self, message: str, mark: Mark, kind: type[FlowDefinitionError] = OverlayError) -> None:
        self.problems.add(kind, message, mark)

    def absent(self, verb: str, what: str, name: str, known: Iterable[object], mark: Mark) -> None:
        """Report a name the overlay changes or removes that the base flow does not have."""
        names = [str(k) for k in known]
        self.error(
            f"cannot {verb} {what} {name!r}: the base flow has no such {what}{suggest(name, names)}; "
            f"it has: {listing(names)}",
            mark,
        )

    def removals(self, section: MarkedDict, what: str) -> list[tuple[str, Mark]]:
        """The names under ``remove``, each with the mark of its item."""
        value = section.get("remove")
        names = self.check.names(section, "remove", what)
        if not isinstance(value, MarkedList):
            return [(name, section.mark_of("remove")) for name in names]
        return [(name, value.mark_of(value.index(name))) for name in names]

    def section(self, key: str, allowed: dict[str, str]) -> MarkedDict | None:
        if key not in self.overlay:
            return None
        doc = self.check.mapping(self.overlay[key], f"overlay '{key}'", self.overlay.mark_of(key))
        if doc is not None:
            self.check.keys(doc, allowed, f"overlay '{key}'")
        return doc

    def run(self) -> MarkedDict:
        ov = self.overlay
        self.check.keys(ov, OVERLAY_KEYS, "the overlay", ("extends", "brand"))
        for key in ("version", "label", "description"):
            if key in ov:
                _set(self.merged, key, ov[key], ov, key)
        self.params()
        self.roles()
        self.fields()
        self.states()
        self.transitions()
        self.report_roleless()
        self.invariants()
        return self.merged

    def params(self) -> None:
        base_params = self.base.get("params")
        params = _copy(base_params) if isinstance(base_params, MarkedDict) else MarkedDict()
        if not isinstance(base_params, MarkedDict):
            params.mark, params.key_marks, params.value_marks = self.base.mark, {}, {}
        changes = (
            self.check.mapping(ov_params, "overlay 'params'", self.overlay.mark_of("params"))
            if (ov_params := self.overlay.get("params")) is not None
            else None
        )
        for name, value in (changes or {}).items():
            assert changes is not None
            if name not in params:
                self.error(
                    f"the overlay changes parameter {name!r}, which the base flow does not have"
                    f"{suggest(name, params)}; base params: {listing(params)} (declare a new one "
                    "under 'new_params')",
                    changes.key_mark(name),
                    UnknownParameterError,
                )
                continue
            if not _same_kind(params[name], value):
                self.error(
                    f"parameter {name!r} is {_kind_word(params[name])} in the base flow "
                    f"({params[name]!r}); the overlay must give {_kind_word(params[name])} too "
                    f"(got {_kind(value)})",
                    changes.mark_of(name),
                )
                continue
            _set(params, name, value, changes, name)
        added = (
            self.check.mapping(ov_new, "overlay 'new_params'", self.overlay.mark_of("new_params"))
            if (ov_new := self.overlay.get("new_params")) is not None
            else None
        )
        for name, value in (added or {}).items():
            assert added is not None
            if name in params:
                self.error(
                    f"new parameter {name!r} already exists in the base flow; change it under 'params'",
                    added.key_mark(name),
                )
                continue
            _set(params, name, value, added, name)
        if changes or added:
            self.merged["params"] = params

    def _named_list(self, key: str, section: MarkedDict, what: str) -> dict[str, Mark]:
        """Apply ``remove`` and ``add`` to a list of names; return the removed names and marks."""
        current = self.merged.get(key)
        items = list(current) if isinstance(current, MarkedList) else []
        marks = list(current.item_marks) if isinstance(current, MarkedList) else []
        removed: dict[str, Mark] = {}
        for name, mark in self.removals(section, what):
            if name not in items:
                self.absent("remove", what, name, items, mark)
                continue
            index = items.index(name)
            del items[index], marks[index]
            removed[name] = mark
        add_doc = section.get("add")
        for offset, name in enumerate(self.check.names(section, "add", what)):
            items.append(name)
            marks.append(add_doc.mark_of(offset) if isinstance(add_doc, MarkedList) else section.mark)
        self.merged[key] = _list(
            items, marks, current.mark if isinstance(current, MarkedList) else section.mark
        )
        return removed

    def roles(self) -> None:
        """Add and remove roles.

        Removing a role cascades: the role is dropped from the 'roles' of every base
        transition and start event, so that the overlay need not change each one. A
        transition left with no role could never be fired; unless the overlay's
        'transitions: change' gives it roles, that is reported at the removal (see
        :meth:`report_roleless`).
        """
        section = self.section("roles", {"add": "roles to add", "remove": "roles to remove"})
        if section is None:
            return
        removed = self._named_list("roles", section, "role")
        if not removed:
            return
        # Nobody of this brand holds a removed role, so no base transition may still name it;
        # dropping it here spares the overlay a 'change' for every transition that lists it.
        for key in ("start", "transitions"):
            current = self.merged.get(key)
            if isinstance(current, MarkedList):
                entries = [self._without_roles(entry, removed) for entry in current]
                self.merged[key] = _list(entries, current.item_marks, current.mark)

    def _without_roles(self, entry: Any, removed: dict[str, Mark]) -> Any:
        roles = entry.get("roles") if isinstance(entry, MarkedDict) else None
        if not isinstance(roles, MarkedList) or not any(_named_in(r, removed) for r in roles):
            return entry
        kept = [(r, m) for r, m in zip(roles, roles.item_marks, strict=True) if not _named_in(r, removed)]
        trimmed = _copy(entry)
        trimmed["roles"] = _list([r for r, _ in kept], [m for _, m in kept], roles.mark)
        if not kept:
            dropped = [(r, removed[r]) for r in roles if _named_in(r, removed)]
            self.roleless[id(trimmed["roles"])] = (trimmed["roles"], dropped)
        return trimmed

    def report_roleless(self) -> None:
        """Report base transitions that removing roles left with none, at the first removal."""
        for key in ("start", "transitions"):
            current = self.merged.get(key)
            for entry in current if isinstance(current, MarkedList) else ():
                found = self.roleless.get(id(entry.get("roles"))) if isinstance(entry, MarkedDict) else None
                if found is None:
                    continue
                role, mark = found[1][0]
                what = "start event" if key == "start" else "transition"
                fix = (
                    "keep the role"
                    if key == "start"
                    else "give it another role under 'transitions: change', or remove the transition "
                    "under 'transitions: remove'"
                )
                self.error(
                    f"cannot remove role {role!r}: {what} {entry.get('event')!r} ({entry.mark}) has no "
                    f"other role, so nobody could fire it; {fix}",
                    mark,
                )

    def _mapping_section(self, key: str, section: MarkedDict, what: str, *, allow_change: bool) -> MarkedDict:
        current = self.merged.get(key)
        result = _copy(current) if isinstance(current, MarkedDict) else MarkedDict()
        if not isinstance(current, MarkedDict):
            result.mark, result.key_marks, result.value_marks = section.mark, {}, {}
        for name, mark in self.removals(section, what):
            if name not in result:
                self.absent("remove", what, name, result, mark)
                continue
            del result[name]
        add = section.get("add")
        if add is not None and (
            add_doc := self.check.mapping(add, f"overlay {key} 'add'", section.mark_of("add"))
        ):
            for name in add_doc:
                if name in result:
                    self.error(
                        f"cannot add {what} {name!r}: the base flow already has it; use 'change' to alter it",
                        add_doc.key_mark(name),
                    )
                    continue
                _set(result, name, add_doc[name], add_doc, name)
        change = section.get("change") if allow_change else None
        if change is not None and (
            ch_doc := self.check.mapping(change, f"overlay {key} 'change'", section.mark_of("change"))
        ):
            for name in ch_doc:
                if name not in result:
                    self.absent("change", what, name, result, ch_doc.key_mark(name))
                    continue
                old, new = result[name], ch_doc[name]
                if isinstance(old, MarkedDict) and isinstance(new, MarkedDict):
                    merged = _copy(old)
                    for k in new:
                        _set(merged, k, new[k], new, k)
                    result[name] = merged
                    result.value_marks[name] = new.mark
                else:
                    _set(result, name, new, ch_doc, name)
        return result

    def fields(self) -> None:
        section = self.section("fields", {"add": "fields to add", "remove": "fields to remove"})
        if section is not None:
            self.merged["fields"] = self._mapping_section("fields", section, "field", allow_change=False)

    def states(self) -> None:
        section = self.section(
            "states", {"add": "states to add", "change": "changes to states", "remove": "states to remove"}
        )
        if section is None:
            return
        removed = set(self.check.names(section, "remove", "state"))
        self.merged["states"] = self._mapping_section("states", section, "state", allow_change=True)
        if removed:
            self._drop_transitions_touching(removed)

    def _drop_transitions_touching(self, removed: set[str]) -> None:
        """A removed state takes its transitions with it."""
        for key in ("start", "transitions"):
            current = self.merged.get(key)
            if not isinstance(current, MarkedList):
                continue
            kept, marks = [], []
            for entry, mark in zip(current, current.item_marks, strict=True):
                trimmed = _without_states(entry, removed)
                if trimmed is not None:
                    kept.append(trimmed)
                    marks.append(mark)
            self.merged[key] = _list(kept, marks, current.mark)

    def transitions(self) -> None:
        section = self.section(
            "transitions",
            {
                "add": "transitions to add",
                "change": "changes to transitions",
                "remove": "transitions to remove",
            },
        )
        if section is None:
            return
        current = self.merged.get("transitions")
        entries = list(current) if isinstance(current, MarkedList) else []
        marks = list(current.item_marks) if isinstance(current, MarkedList) else []
        for selector, sel_mark in self._selectors(section, "remove", {}):
            hits = self._select(entries, selector, sel_mark)
            for index in sorted(hits, reverse=True):
                self._split(entries, marks, index, selector)
                del entries[index], marks[index]
        for selector, sel_mark in self._selectors(section, "change", _CHANGEABLE):
            for index in sorted(self._select(entries, selector, sel_mark), reverse=True):
                self._split(entries, marks, index, selector)
                entry = _copy(entries[index])
                for key in selector:
                    if key in _EXTENDING:
                        _extend(entry, key, selector)
                    elif key not in _SELECTOR:
                        _set(entry, key, selector[key], selector, key)
                entries[index] = entry
        add = section.get("add")
        if add is not None and (
            add_list := self.check.sequence(add, "overlay transitions 'add'", section.mark_of("add"))
        ):
            entries.extend(add_list)
            marks.extend(add_list.item_marks)
        self.merged["transitions"] = _list(
            entries, marks, current.mark if isinstance(current, MarkedList) else section.mark
        )

    def _selectors(
        self, section: MarkedDict, key: str, extra: dict[str, str]
    ) -> list[tuple[MarkedDict, Mark]]:
        if key not in section:
            return []
        items = self.check.sequence(section[key], f"overlay transitions '{key}'", section.mark_of(key))
        result = []
        for index, item in enumerate(items or []):
            assert items is not None
            doc = self.check.mapping(item, f"overlay transitions '{key}' #{index + 1}", items.mark_of(index))
            if doc is None:
                continue
            self.check.keys(doc, {**_SELECTOR, **extra}, f"overlay transition {key}", ("event",))
            if isinstance(doc.get("event"), str):
                result.append((doc, items.mark_of(index)))
        return result

    def _select(self, entries: list[Any], selector: MarkedDict, mark: Mark) -> list[int]:
        event, source, target = selector.get("event"), selector.get("from"), selector.get("to")
        hits = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, MarkedDict) or entry.get("event") != event:
                continue
            sources = entry.get("from")
            source_list = list(sources) if isinstance(sources, list) else [sources]
            if source is not None and source not in source_list:
                continue
            if target is not None and entry.get("to") != target:
                continue
            hits.append(index)
        if not hits:
            self._no_match(entries, selector, mark)
        return hits

    def _no_match(self, entries: list[Any], selector: MarkedDict, mark: Mark) -> None:
        """Report a selector that matches no transition, saying what the base flow has instead."""
        event = selector.get("event")
        branches = [e for e in entries if isinstance(e, MarkedDict) and e.get("event") == event]
        where = "".join(f" {k} {selector[k]!r}" for k in ("from", "to") if k in selector)
        if branches:
            # The event exists, so 'from' or 'to' is what is wrong: say where the event goes.
            sources = [s for e in branches for s in _as_list(e.get("from"))]
            targets = [e.get("to") for e in branches]
            hint = f"; {event!r} goes from {listing(sources)} to {listing(targets)}"
        else:
            known = {str(e["event"]) for e in entries if isinstance(e, MarkedDict) and "event" in e}
            hint = f"{suggest(str(event), known)}; its events: {listing(known)}"
        self.error(f"no transition {event!r}{where} in the base flow{hint}", mark)

    def _split(
        self, entries: list[Any], marks: list[Mark], index: int, selector: MarkedDict
    ) -> MarkedDict | None:
        """Detach the selected source from a multi-source entry; return the rest (or None)."""
        source = selector.get("from")
        entry = entries[index]
        sources = entry.get("from")
        if source is None or not isinstance(sources, MarkedList) or len(sources) < 2:
            return None
        rest = _copy(entry)
        rest["from"] = _list(
            [s for s in sources if s != source],
            [m for s, m in zip(sources, sources.item_marks, strict=True) if s != source],
            sources.mark,
        )
        single = _copy(entry)
        single["from"] = source
        single.value_marks["from"] = selector.mark_of("from")
        entries[index] = single
        entries.insert(index + 1, rest)
        marks.insert(index + 1, marks[index])
        return rest

    def invariants(self) -> None:
        section = self.section("invariants", {"add": "guards to add"})
        if section is None or "add" not in section:
            return
        add_list = self.check.sequence(section["add"], "overlay invariants 'add'", section.mark_of("add"))
        if add_list is None:
            return
        current = self.merged.get("invariants")
        items = list(current) if isinstance(current, MarkedList) else []
        marks = list(current.item_marks) if isinstance(current, MarkedList) else []
        self.merged["invariants"] = _list(items + list(add_list), marks + add_list.item_marks, add_list.mark)


def merge_overlay(
    base: MarkedDict, overlay: MarkedDict, problems: Problems, make_checker: Callable[[], ShapeChecker]
) -> MarkedDict:
    """The base document with the overlay applied; problems go into ``problems``."""
    merged = _Merger(base, copy.copy(overlay), problems, make_checker()).run()
    brand = overlay.get("brand")
    # A missing 'brand' is reported with the overlay's other missing keys.
    if "brand" in overlay and not (isinstance(brand, str) and NAME.match(brand)):
        problems.add(
            OverlayError,
            f"the overlay's 'brand' must be a snake_case name (got {brand!r})",
            overlay.mark_of("brand"),
        )
    return merged


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "true or false"),
    ((int, float), "a number"),
    (str, "text"),
    (list, "a list"),
    (dict, "a mapping"),
)


def _kind_word(value: Any) -> str | None:
    """The kind of a parameter's value in words; whole numbers and decimals are one kind."""
    return next((word for kinds, word in _KINDS if isinstance(value, kinds)), None)


def _same_kind(old: Any, new: Any) -> bool:
    """True when an overlay's parameter value can stand where the base flow's was."""
    return old is None or new is None or _kind_word(old) == _kind_word(new)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
