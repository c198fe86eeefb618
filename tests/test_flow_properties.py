"""Every shipped flow, base and each brand's overlay, keeps its promises under random commands.

One ``aftersales_flow.testing`` state machine per flow file. The run's size follows the
hypothesis profile (``HYPOTHESIS_PROFILE``): ``ci`` (the default) keeps the whole file within
about a minute and a half, ``nightly`` runs long enough to go deep, ``dev`` is a quick look.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import aftersales_flow as af
from aftersales_flow.testing import SimulatedClock, check_flow
from conftest import FLOWS
from repair_order_steps import HAPPY_PATH

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
RUNS: dict[str, dict[str, Any]] = {
    "ci": {"max_examples": 20, "stateful_step_count": 30},
    "dev": {"max_examples": 10, "stateful_step_count": 20},
    "nightly": {"max_examples": 300, "stateful_step_count": 60},
}
SETTINGS = settings(settings.get_profile(PROFILE), **RUNS.get(PROFILE, RUNS["ci"]))

# The repair order's walk-in happy path as known good payloads: runs reach delivery and the
# follow-up call more often. Stale examples are only refused, never a failure.
EXAMPLES: dict[str, dict[str, list[Any]]] = {"repair_order": {}}
for _event, _actor, _payload in HAPPY_PATH:
    EXAMPLES["repair_order"].setdefault(_event, []).append(_payload)


def flow_files() -> list[Any]:
    """Each shipped flow file as ``(brand, file)``: base flows, then each brand's overlays."""
    found = [pytest.param(None, path, id=f"base/{path.stem}") for path in sorted(FLOWS.glob("*.yaml"))]
    for folder in sorted(p for p in (FLOWS / "brands").iterdir() if p.is_dir()):
        found += [
            pytest.param(folder.name, path, id=f"{folder.name}/{path.stem}")
            for path in sorted(folder.glob("*.yaml"))
        ]
    return found


def flow_of(flows: af.FlowSet, path: Path) -> af.Flow:
    """The flow of ``flows`` loaded from ``path`` (an overlay names its file in its source)."""
    found = [
        flow for flow in flows if flow.source.split(" + ")[-1] == os.fspath(path.relative_to(FLOWS.parent))
    ]
    found = found or [flow for flow in flows if flow.source.endswith(path.name)]
    assert len(found) == 1, f"no single flow was loaded from {path}"
    return found[0]


@pytest.mark.parametrize(("brand", "path"), flow_files())
def test_flow_keeps_its_promises(brand: str | None, path: Path) -> None:
    """Random commands (and ticks) never break a promise: declared events, roles, fields, guards,
    untouched refusals, contiguous versions, replay, verify, absorbing final states."""
    flows = af.load_flows(FLOWS.relative_to(FLOWS.parent), brand=brand)
    flow = flow_of(flows, path)
    check_flow(flows, flow, settings=SETTINGS, examples=EXAMPLES.get(flow.name))


def test_every_shipped_flow_file_is_covered() -> None:
    """Each base flow and each overlay has its own property test (a new file is picked up)."""
    ids = {param.id for param in flow_files()}
    assert {f"base/{path.stem}" for path in FLOWS.glob("*.yaml")} <= ids
    assert {f"{path.parent.name}/{path.stem}" for path in FLOWS.glob("brands/*/*.yaml")} <= ids


def test_happy_path_examples_still_fit_the_repair_order() -> None:
    """The examples name events the repair order still has (else they silently stop helping)."""
    flow = af.load_flows(FLOWS)["repair_order"]
    assert set(EXAMPLES["repair_order"]) <= set(flow.events)
    clock = SimulatedClock()
    assert all(
        isinstance(make(clock), dict) for makers in EXAMPLES["repair_order"].values() for make in makers
    )
