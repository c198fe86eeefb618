"""Load flow files and brand overlays into validated, frozen :class:`Flow` values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aftersales_flow._build import build_flow
from aftersales_flow._overlay import is_overlay, merge_overlay
from aftersales_flow._problems import Problems, combine, listing, suggest
from aftersales_flow._shape import NAME, ShapeChecker, _kind
from aftersales_flow._yaml import Mark, MarkedDict, parse_yaml
from aftersales_flow.errors import (
    DuplicateFlowError,
    FlowDefinitionError,
    FlowShapeError,
    OverlayError,
    UnknownFlowLinkError,
)
from aftersales_flow.links import Link
from aftersales_flow.model import Flow, FlowSet, thaw
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry

FLOW_SUFFIXES = (".yaml", ".yml")


def _read(path: Path) -> Any:
    shown = os.fspath(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowDefinitionError(f"cannot read the flow file: {exc.strerror or exc}", file=shown) from None
    return parse_yaml(data, shown)


def _flow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())


def _at(mark: Mark) -> dict[str, Any]:
    return {"file": mark.file, "line": mark.line, "column": mark.column}


def _extends(doc: MarkedDict) -> str:
    """The base flow an overlay names under 'extends'."""
    value = doc["extends"]
    if isinstance(value, str) and NAME.match(value):
        return value
    raise OverlayError(
        f"'extends' must name the base flow, a snake_case name like 'repair_order' (got {_kind(value)})",
        **_at(doc.mark_of("extends")),
    )


def _overlay_flow(
    base_doc: MarkedDict, base_path: Path, overlay_doc: MarkedDict, overlay_path: Path, registry: RuleRegistry
) -> Flow:
    problems = Problems()
    params = base_doc.get("params")
    merged = merge_overlay(
        base_doc,
        overlay_doc,
        problems,
        lambda: ShapeChecker(problems, registry, thaw(params) if isinstance(params, dict) else {}),
    )
    problems.raise_if_any()
    brand = overlay_doc["brand"]
    return build_flow(
        merged,
        registry,
        file=os.fspath(overlay_path),
        source=f"{os.fspath(base_path)} + {os.fspath(overlay_path)}",
        brand=brand,
    )


def load_flow(path: str | os.PathLike[str], *, rules: RuleRegistry | None = None) -> Flow:
    """Load and validate one flow file.

    An overlay file (one with ``extends``) is merged into its base flow, looked up as
    ``<extends>.yaml`` in the overlay's folder or the folders above it.
    Raises :class:`FlowDefinitionError` listing every problem with ``file:line:col``.
    """
    registry = rules if rules is not None else DEFAULT_REGISTRY
    file = Path(path)
    doc = _read(file)
    if not is_overlay(doc):
        return build_flow(doc, registry, file=os.fspath(file), source=os.fspath(file))
    base_name = _extends(doc)
    for folder in (file.parent, *list(file.parents)[:3]):
        for suffix in FLOW_SUFFIXES:
            candidate = folder / f"{base_name}{suffix}"
            if candidate.is_file() and candidate != file:
                base_doc = _read(candidate)
                if isinstance(base_doc, MarkedDict) and not is_overlay(base_doc):
                    return _overlay_flow(base_doc, candidate, doc, file, registry)
    raise OverlayError(
        f"base flow {base_name!r} not found next to the overlay or above it; put {base_name}.yaml "
        "in the flows folder",
        **_at(doc.mark_of("extends")),
    )


def available_brands(directory: str | os.PathLike[str]) -> list[str]:
    """The brands with an overlay folder under ``directory/brands``."""
    return _brands_in(Path(directory) / "brands")


def _brands_in(brands: Path) -> list[str]:
    return sorted(p.name for p in brands.iterdir() if p.is_dir()) if brands.is_dir() else []


def load_flows(
    directory: str | os.PathLike[str],
    brand: str | None = None,
    *,
    rules: RuleRegistry | None = None,
    brands: str | os.PathLike[str] | None = None,
) -> FlowSet:
    """Load every flow in ``directory``, with the overlays of ``brand`` applied.

    Base flows are ``directory/*.yaml``; a brand's overlays are ``<brands>/<brand>/*.yaml``,
    where ``brands`` is ``directory/brands`` unless given: a dealer group can keep its brands'
    overlays apart from the flows it extends (the shipped ones, say). Every file is checked,
    and the problems of all files are raised together as one :class:`FlowDefinitionError`.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FlowDefinitionError(
            "the flows folder does not exist; pass the folder that holds the flow files",
            file=os.fspath(root),
        )
    folder = _Folder(rules if rules is not None else DEFAULT_REGISTRY)
    for path in _flow_files(root):
        folder.base(path)
    if brand is not None:
        brands_root = Path(brands) if brands is not None else root / "brands"
        brand_dir = brands_root / brand
        if not brand_dir.is_dir():
            known = listing(_brands_in(brands_root))
            raise FlowDefinitionError(
                f"unknown brand {brand!r}: there is no such folder; brands: {known}",
                file=os.fspath(brand_dir),
            )
        for path in _flow_files(brand_dir):
            folder.overlay(path, brand)
    if not folder.errors:
        folder.errors.extend(check_links(folder.flows))
    if folder.errors:
        raise combine(folder.errors)
    return FlowSet(folder.flows, brand=brand)


def _where(where: str) -> dict[str, Any]:
    """``file:line:col`` text (a definition's ``where``) as error location keywords."""
    file, _, column = where.rpartition(":")
    file, _, line = file.rpartition(":")
    return {"file": file, "line": int(line), "column": int(column)}


def check_links(flows: Mapping[str, Flow]) -> list[FlowDefinitionError]:
    """Links name flows of the set, events the system may fire there, and fields those events take."""
    problems: dict[str, FlowDefinitionError] = {}
    for flow in flows.values():
        for transition in (*flow.starts, *flow.transitions):
            for link in (*transition.starts, *transition.fires):
                what = f"transition {transition.event!r} {link.kind}s {link.flow}.{link.event}"
                for problem in _link_problems(flows, link, what):
                    problems.setdefault(str(problem), problem)  # one report per link, not per source state
    return list(problems.values())


def _link_problems(flows: Mapping[str, Flow], link: Link, what: str) -> list[FlowDefinitionError]:
    target = flows.get(link.flow)
    if target is None:
        return [
            UnknownFlowLinkError(
                f"{what}: there is no flow {link.flow!r}{suggest(link.flow, flows)}; flows: {listing(flows)}",
                **_where(link.where),
            )
        ]
    if link.kind == "start":
        branches = list(target.branches(None, link.event))
        known = target.events_from(None)
    else:
        branches = [t for t in target.transitions if t.event == link.event]
        known = target.events
    if not branches:
        kind = "start event" if link.kind == "start" else "event"
        return [
            UnknownFlowLinkError(
                f"{what}: {link.flow} has no such {kind}{suggest(link.event, known)}; "
                f"its events: {listing(known)}",
                **_where(link.where),
            )
        ]
    found: list[FlowDefinitionError] = []
    if not any("system" in b.roles for b in branches):
        found.append(
            UnknownFlowLinkError(
                f"{what}: the 'system' role may not fire it; add system to its roles in {link.flow}",
                **_where(link.where),
            )
        )
    accepted = set().union(*(b.fields for b in branches))
    for key in link.payload:
        if key not in accepted:
            found.append(
                UnknownFlowLinkError(
                    f"{what}: payload key {key!r} is not taken by {link.event!r}; "
                    f"it takes: {listing(accepted)}",
                    **_where(link.where),
                )
            )
    return found


class _Folder:
    """The flows of one folder as they load, and the problems found so far."""

    def __init__(self, registry: RuleRegistry) -> None:
        self.registry = registry
        self.errors: list[FlowDefinitionError] = []
        self.flows: dict[str, Flow] = {}
        self.base_docs: dict[str, tuple[MarkedDict, Path]] = {}
        # Bases that failed to load, by their 'flow' name and their file name: their problems
        # are reported already, and their overlays are skipped rather than called orphans.
        self.broken: set[str] = set()
        self.overlaid: dict[str, Path] = {}

    def base(self, path: Path) -> None:
        """Load one base flow file."""
        doc: Any = None
        try:
            doc = _read(path)
            flow = build_flow(doc, self.registry, file=os.fspath(path), source=os.fspath(path))
        except FlowDefinitionError as exc:
            self.errors.extend(exc.errors)
            self.broken.add(path.stem)
            if isinstance(doc, MarkedDict) and isinstance(doc.get("flow"), str):
                self.broken.add(doc["flow"])
            return
        if flow.name in self.base_docs:
            first = self.base_docs[flow.name][0].mark_of("flow")
            self.errors.append(
                DuplicateFlowError(
                    f"flow {flow.name!r} is defined twice (first at {first}); rename one",
                    **_at(doc.mark_of("flow")),
                )
            )
            return
        self.flows[flow.name] = flow
        self.base_docs[flow.name] = (doc, path)

    def overlay(self, path: Path, brand: str) -> None:
        """Load one overlay file of ``brand`` and put its merged flow in place of the base's."""
        try:
            flow = self._overlay(path, brand)
        except FlowDefinitionError as exc:
            self.errors.extend(exc.errors)
            return
        if flow is not None:
            self.flows[flow.name] = flow

    def _overlay(self, path: Path, brand: str) -> Flow | None:
        doc = _read(path)
        if not is_overlay(doc):
            raise OverlayError(
                "a file under brands/ must be an overlay starting with 'extends: <base flow>'",
                file=os.fspath(path),
                line=1,
                column=1,
            )
        base_name = _extends(doc)
        _check_brand(doc, brand)
        if base_name in self.overlaid:
            raise OverlayError(
                f"a second overlay of flow {base_name!r} for brand {brand!r} (the first is "
                f"{os.fspath(self.overlaid[base_name])}); put the changes of both in one file",
                **_at(doc.mark_of("extends")),
            )
        self.overlaid[base_name] = path
        if base_name not in self.base_docs:
            if base_name in self.broken:
                return None
            raise OverlayError(
                f"the overlay extends unknown flow {base_name!r}; base flows: {listing(self.base_docs)}",
                **_at(doc.mark_of("extends")),
            )
        base_doc, base_path = self.base_docs[base_name]
        return _overlay_flow(base_doc, base_path, doc, path, self.registry)


def _check_brand(doc: MarkedDict, brand: str) -> None:
    """An overlay in the folder of ``brand`` says it is for that brand."""
    if "brand" not in doc:
        raise FlowShapeError(
            f"the overlay is missing the key 'brand' (the brand this overlay is for); add 'brand: {brand}'",
            **_at(doc.mark),
        )
    if doc["brand"] != brand:
        raise OverlayError(
            f"the overlay says brand {doc['brand']!r} but sits in the folder of brand {brand!r}",
            **_at(doc.mark_of("brand")),
        )
