"""Where the shipped flows are found."""

from __future__ import annotations

from aftersales_flow.paths import shipped_flows
from conftest import FLOWS


def test_shipped_flows_hold_the_repair_order() -> None:
    """shipped_flows() is a folder holding the repository's flow files, the same content."""
    folder = shipped_flows()
    assert (folder / "repair_order.yaml").read_bytes() == (FLOWS / "repair_order.yaml").read_bytes()
