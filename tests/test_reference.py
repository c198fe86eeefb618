"""Generated reference docs: the flow pages and the rules page are never stale."""

from __future__ import annotations

from pathlib import Path

import aftersales_flow as af
from aftersales_flow.reference import flow_pages, main, mermaid, render_flow
from conftest import FLOWS, ROOT

DOCS = ROOT / "docs" / "flows"


def test_flow_pages_are_up_to_date() -> None:
    """docs/flows/ holds exactly the generated pages (run `python -m aftersales_flow.reference flows`)."""
    pages = flow_pages(FLOWS)
    on_disk = {p.relative_to(DOCS).as_posix(): p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md")}
    assert sorted(on_disk) == sorted(pages), "docs/flows/ is stale: run `python -m aftersales_flow.reference flows`"
    for name, text in pages.items():
        assert on_disk[name] == text, f"docs/flows/{name} is stale: run `python -m aftersales_flow.reference flows`"


def test_every_base_flow_has_a_page_with_its_states_events_and_diagram(flows: af.FlowSet) -> None:
    """Each base flow's page lists every state and event, its roles, parameters and a Mermaid diagram."""
    pages = flow_pages(FLOWS)
    for flow in flows:
        page = pages[f"{flow.name}.md"]
        assert "```mermaid\nstateDiagram-v2" in page
        for state in flow.states:
            assert f"| `{state}` |" in page
        for event in flow.events:
            assert f"| `{event}` |" in page
        for param in flow.params:
            assert f"| `{param}` |" in page


def test_mermaid_draws_starts_edges_and_terminals(flows: af.FlowSet) -> None:
    """The diagram enters at each start event and leaves from each terminal state."""
    diagram = mermaid(flows["repair_order"])
    assert "[*] --> checking_in: open_walk_in" in diagram
    assert "final_inspection --> in_repair: qc_failed" in diagram
    assert "closed --> [*]" in diagram


def test_guards_are_described_in_plain_words(flows: af.FlowSet) -> None:
    """The events table says what each guard demands, parameters filled in."""
    page = render_flow(flows["repair_order"])
    assert "the protective kit (['seat', 'steering_wheel', 'floor_mat', 'gear_lever']) is fitted" in page


def test_writing_pages_removes_stale_ones(tmp_path: Path) -> None:
    """Regenerating writes every page and deletes pages of flows that no longer exist."""
    (tmp_path / "old.md").write_text("gone", encoding="utf-8")
    main(["flows", str(FLOWS), str(tmp_path)])
    assert not (tmp_path / "old.md").exists()
    assert (tmp_path / "repair_order.md").read_text(encoding="utf-8") == flow_pages(FLOWS)["repair_order.md"]
