"""Property-test a brand's own flows: every flow its overlays change, with the shipped rules.

Run it with pytest (``pytest examples/brand_property_test.py``) or as a program
(``python examples/brand_property_test.py``). A dealer group does the same for its own folder:
change BRAND and FLOWS, and add ``examples=`` or ``hints=`` to reach states that need data
only your own rules understand (docs/testing.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

import aftersales_flow as af
from aftersales_flow.testing import check_flow

BRAND = "baoya"
FLOWS = Path(__file__).resolve().parents[1] / "flows"
BRAND_FLOWS = af.load_flows(FLOWS, brand=BRAND)
OWN = sorted(flow.name for flow in BRAND_FLOWS if flow.brand == BRAND)
QUICK = settings(max_examples=15, stateful_step_count=25, deadline=None)


@pytest.mark.parametrize("name", OWN)
def test_brand_flow_keeps_its_promises(name: str) -> None:
    """Random commands on the brand's flow never break a promise of the flow definition."""
    check_flow(BRAND_FLOWS, name, settings=QUICK)


if __name__ == "__main__":
    for name in OWN:
        check_flow(BRAND_FLOWS, name, settings=QUICK)
        print(f"{BRAND}/{name}: every promise kept")
