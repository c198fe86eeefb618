"""Where the shipped flows are found."""

from __future__ import annotations

from aftersales_flow.paths import shipped_flows
from conftest import FLOWS


def test_shipped_flows_hold_the_repair_order() -> None:
    """shipped_flows() is a folder holding the repository's flow files, the same content."""
    folder = shipped_flows()
    assert (folder / "repair_order.yaml").read_bytes() == (FLOWS / "repair_order.yaml").read_bytes()


def test_an_installed_copy_reads_its_packaged_flows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Where the package holds _shipped_flows (a non-editable install), that folder is used."""
    import shutil

    import aftersales_flow.paths as paths

    fake = tmp_path / "aftersales_flow"
    shutil.copytree(FLOWS, fake / "_shipped_flows")
    original = paths._PACKAGE
    try:
        paths._PACKAGE = fake
        assert paths.shipped_flows() == fake / "_shipped_flows"
    finally:
        paths._PACKAGE = original
