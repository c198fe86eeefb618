"""Load flow files and brand overlays into validated, frozen :class:`Flow` values."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aftersales_flow._build import build_flow
from aftersales_flow._overlay import is_overlay, merge_overlay
from aftersales_flow._problems import Problems, listing
from aftersales_flow._shape import ShapeChecker
from aftersales_flow._yaml import MarkedDict, parse_yaml
from aftersales_flow.errors import FlowDefinitionError, OverlayError
from aftersales_flow.model import Flow, FlowSet, thaw
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleRegistry

FLOW_SUFFIXES = (".yaml", ".yml")


def _read(path: Path) -> Any:
    shown = os.fspath(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowDefinitionError(
            f"cannot read the flow file: {exc.strerror or exc}", file=shown, line=0, column=0
        ) from None
    return parse_yaml(data, shown)


def _flow_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())


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
    base_name = doc["extends"]
    for folder in (file.parent, *list(file.parents)[:3]):
        for suffix in FLOW_SUFFIXES:
            candidate = folder / f"{base_name}{suffix}"
            if isinstance(base_name, str) and candidate.is_file() and candidate != file:
                base_doc = _read(candidate)
                if isinstance(base_doc, MarkedDict) and not is_overlay(base_doc):
                    return _overlay_flow(base_doc, candidate, doc, file, registry)
    mark = doc.mark_of("extends")
    raise OverlayError(
        f"base flow {base_name!r} not found next to the overlay or above it; put {base_name}.yaml "
        "in the flows folder",
        file=mark.file,
        line=mark.line,
        column=mark.column,
    )


def available_brands(directory: str | os.PathLike[str]) -> list[str]:
    """The brands with an overlay folder under ``directory/brands``."""
    brands = Path(directory) / "brands"
    return sorted(p.name for p in brands.iterdir() if p.is_dir()) if brands.is_dir() else []


def load_flows(
    directory: str | os.PathLike[str], brand: str | None = None, *, rules: RuleRegistry | None = None
) -> FlowSet:
    """Load every flow in ``directory``, with the overlays of ``brand`` applied.

    Base flows are ``directory/*.yaml``; a brand's overlays are
    ``directory/brands/<brand>/*.yaml``. Every file is checked, and the problems of all
    files are raised together as one :class:`FlowDefinitionError`.
    """
    registry = rules if rules is not None else DEFAULT_REGISTRY
    root = Path(directory)
    if not root.is_dir():
        raise FlowDefinitionError(
            "the flows folder does not exist; pass the folder that holds the flow files",
            file=os.fspath(root),
        )
    errors: list[FlowDefinitionError] = []
    base_docs: dict[str, tuple[MarkedDict, Path]] = {}
    flows: dict[str, Flow] = {}
    for path in _flow_files(root):
        try:
            doc = _read(path)
            flow = build_flow(doc, registry, file=os.fspath(path), source=os.fspath(path))
        except FlowDefinitionError as exc:
            errors.extend(exc.errors)
            continue
        if flow.name in flows:
            errors.append(
                FlowDefinitionError(
                    f"flow {flow.name!r} is defined twice (also in {flows[flow.name].source}); rename one",
                    file=os.fspath(path),
                    line=1,
                    column=1,
                )
            )
            continue
        flows[flow.name] = flow
        base_docs[flow.name] = (doc, path)
    if brand is not None:
        brand_dir = root / "brands" / brand
        if not brand_dir.is_dir():
            raise FlowDefinitionError(
                f"unknown brand {brand!r}: no folder {os.fspath(brand_dir)}; brands: "
                f"{listing(available_brands(root))}",
                file=os.fspath(brand_dir),
            )
        for path in _flow_files(brand_dir):
            try:
                flows_for_brand = _load_overlay(path, base_docs, brand, registry)
            except FlowDefinitionError as exc:
                errors.extend(exc.errors)
                continue
            flows[flows_for_brand.name] = flows_for_brand
    if errors:
        _raise_all(errors)
    return FlowSet(flows, brand=brand)


def _load_overlay(
    path: Path, base_docs: dict[str, tuple[MarkedDict, Path]], brand: str, registry: RuleRegistry
) -> Flow:
    doc = _read(path)
    if not is_overlay(doc):
        raise OverlayError(
            "a file under brands/ must be an overlay starting with 'extends: <base flow>'",
            file=os.fspath(path),
            line=1,
            column=1,
        )
    mark = doc.mark_of("extends")
    base_name = doc["extends"]
    if base_name not in base_docs:
        raise OverlayError(
            f"the overlay extends unknown flow {base_name!r}; base flows: {listing(base_docs)}",
            file=mark.file,
            line=mark.line,
            column=mark.column,
        )
    if doc.get("brand") != brand:
        bmark = doc.mark_of("brand")
        raise OverlayError(
            f"the overlay says brand {doc.get('brand')!r} but sits in the folder of brand {brand!r}",
            file=bmark.file,
            line=bmark.line,
            column=bmark.column,
        )
    base_doc, base_path = base_docs[base_name]
    return _overlay_flow(base_doc, base_path, doc, path, registry)


def _raise_all(errors: Iterable[FlowDefinitionError]) -> None:
    found = list(errors)
    if len(found) == 1:
        raise found[0]
    first = found[0]
    raise FlowDefinitionError(
        first.detail, file=first.file, line=first.line, column=first.column, errors=found
    )
