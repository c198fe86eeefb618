"""Property-test a brand's own flows: every flow its overlays change, with the shipped rules.

The brand is Lanshan, the example of docs/brand-overlays.md: its overlays live in
``examples/brands/lanshan/``, outside the library, as a dealer group keeps its own. They are
loaded over the shipped base flows (``load_flows(..., brands=FOLDER)``), and each flow they
change is run under random commands (aftersales_flow.testing).

Run it with pytest (``pytest examples/brand_property_test.py``) or as a program
(``python examples/brand_property_test.py``); it needs hypothesis and pytest, the ``test`` extra
(``pip install 'aftersales_flow[test]'``). A dealer group does the same for its own folder:
change BRAND and BRANDS, and add ``examples=`` or ``hints=`` to reach states that need data
only your own rules understand (docs/testing.md).
"""

from __future__ import annotations

from pathlib import Path

import aftersales_flow as af
from aftersales_flow.paths import shipped_flows

try:  # property tests need the 'test' extra (hypothesis, pytest); the package alone does not
    import pytest
    from hypothesis import settings

    from aftersales_flow.testing import check_flow
except ImportError as missing:
    needs = "this example needs the 'test' extra: pip install 'aftersales_flow[test]'"
    raise SystemExit(f"{missing}\n{needs}") from None

BRAND = "lanshan"
BRANDS = Path(__file__).resolve().parent / "brands"
QUICK = settings(max_examples=10, stateful_step_count=20, deadline=None)

BRAND_FLOWS = af.load_flows(shipped_flows(), brand=BRAND, brands=BRANDS)
"""The shipped base flows with BRAND's overlays, read from this example's own brands folder."""
OWN = sorted(flow.name for flow in BRAND_FLOWS if flow.brand == BRAND)


@pytest.mark.parametrize("name", OWN)
def test_brand_flow_keeps_its_promises(name: str) -> None:
    """Random commands on the brand's flow never break a promise of the flow definition."""
    check_flow(BRAND_FLOWS, name, settings=QUICK)


if __name__ == "__main__":
    for name in OWN:
        check_flow(BRAND_FLOWS, name, settings=QUICK)
        flow = BRAND_FLOWS[name]
        size = f"{len(flow.states)} states, {len(flow.transitions)} transitions"
        print(f"{BRAND}/{name}: every promise kept ({size})")
