"""Linked instances: a transition starts or fires on another flow's instance, in the same transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

import aftersales_flow as af

LINKS = Path(__file__).parent / "fixtures" / "flows" / "links"
SA = af.Actor("sa-1", roles={"service_advisor"})


@pytest.fixture
def linked() -> af.Engine:
    return af.Engine(af.load_flows(LINKS), af.SQLiteStore(":memory:"))


def test_a_transition_starts_a_child_with_data_from_the_parent(linked: af.Engine) -> None:
    """'spawn' starts child P-1-C2 with the parent's customer and the payload's note; links are recorded."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "Li Wei"})
    step = linked.fire("P-1", "spawn", actor=SA, payload={"child_note": "rear brakes"})
    child = linked.instance("P-1-C2")
    assert (child.flow, child.state, child.data) == (
        "child",
        "running",
        {"customer": "Li Wei", "note": "rear brakes", "parent_ref": "P-1"},
    )
    assert linked.children("P-1") == ["P-1-C2"]
    assert linked.parent("P-1-C2") == "P-1"
    assert linked.parent("P-1") is None
    started = linked.history("P-1-C2")[0]
    assert (started.actor.id, started.actor.on_behalf_of, started.actor.channel) == (
        "system",
        "sa-1",
        "link:P-1",
    )
    assert started.seq == (step.seq or 0) + 1
    assert linked.verify().ok


def test_absent_references_are_left_out(linked: af.Engine) -> None:
    """A $payload reference the parent's payload does not give is simply not passed on."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "Li Wei"})
    linked.fire("P-1", "spawn", actor=SA)
    assert "note" not in linked.instance("P-1-C2").data


def test_when_decides_whether_to_link(linked: af.Engine) -> None:
    """The second link starts only for urgent parents."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "A", "urgent": True})
    linked.fire("P-1", "spawn", actor=SA)
    assert linked.children("P-1") == ["P-1-C2", "P-1-URGENT"]


SYSTEM = af.Actor("system", roles={"system"})


def test_a_refused_child_refuses_the_parent_and_writes_no_child(linked: af.Engine) -> None:
    """When the child cannot start (its id is taken), the parent's event is refused and nothing else is written."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "A"})
    linked.start("child", "P-1-C2", event="begin", actor=SYSTEM, payload={"customer": "someone else"})
    with pytest.raises(af.GuardRejected) as refused:
        linked.fire("P-1", "spawn", actor=SA)
    assert [r.message for r in refused.value.reasons] == [
        "'begin' on child P-1-C2 was refused: P-1-C2 already exists (a child in state 'running')"
    ]
    assert linked.instance("P-1").state == "open"
    assert linked.instance("P-1-C2").data == {"customer": "someone else"}
    assert linked.children("P-1") == []
    assert [e.accepted for e in linked.history("P-1-C2")] == [True]
    assert linked.verify().ok


def test_fires_on_a_linked_instance(linked: af.Engine) -> None:
    """'finish' fires 'close' on the child it started, in the same transaction."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "A"})
    linked.fire("P-1", "spawn", actor=SA)
    linked.fire("P-1", "finish", actor=SA)
    assert linked.instance("P-1-C2").state == "closed"
    assert linked.children("P-1") == ["P-1-C2"]


def test_a_refused_fire_rolls_the_parent_back(linked: af.Engine) -> None:
    """If the linked event is refused (the child is already closed), the parent's event is refused too."""
    linked.start("parent", "P-1", event="open", actor=SA, payload={"customer": "A"})
    linked.fire("P-1", "spawn", actor=SA)
    linked.fire("P-1-C2", "close", actor=SA)
    with pytest.raises(af.GuardRejected) as refused:
        linked.fire("P-1", "finish", actor=SA)
    assert refused.value.reasons[0].message.startswith(
        "'close' on child P-1-C2 was refused: the child is in its final state"
    )
    assert linked.instance("P-1").state == "started"
    assert linked.verify().ok


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'flow: child\n        event: begin\n        id: "{id}-C{version}"',
            'flow: chld\n        event: begin\n        id: "{id}-C{version}"',
            "there is no flow 'chld'; did you mean 'child'?",
        ),
        (
            'event: begin\n        id: "{id}-C{version}"',
            'event: bgin\n        id: "{id}-C{version}"',
            "child has no such start event; did you mean 'begin'?",
        ),
        (
            "{customer: $data.customer, note",
            "{customer: $data.customer, colour: red, note",
            "payload key 'colour' is not taken by 'begin'",
        ),
    ],
)
def test_links_are_checked_across_the_flow_set(tmp_path: Path, old: str, new: str, message: str) -> None:
    """A link to a missing flow, event or field is a definition error pointing at the link."""
    for name in ("parent.yaml", "child.yaml"):
        text = (LINKS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(af.FlowDefinitionError) as caught:
        af.load_flows(tmp_path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'parent.yaml'}:")


def test_a_start_event_the_system_may_not_fire_is_refused(tmp_path: Path) -> None:
    """A link may only start or fire events the system role may fire."""
    (tmp_path / "parent.yaml").write_text(
        (LINKS / "parent.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    child = (
        (LINKS / "child.yaml")
        .read_text(encoding="utf-8")
        .replace("roles: [system], requires", "roles: [service_advisor], requires")
    )
    (tmp_path / "child.yaml").write_text(child, encoding="utf-8")
    with pytest.raises(
        af.FlowDefinitionError, match="the 'system' role may not fire it; add system to its roles in child"
    ):
        af.load_flows(tmp_path)


# --- tampering with the links table (append-only by the schema; verify() checks it too) -----------


@pytest.fixture
def linked_file(tmp_path: Path) -> tuple[af.Engine, Path]:
    """A file store where P-1 started child P-1-C2 (the link row: parent seq 2, child seq 3)."""
    path = tmp_path / "links.db"
    engine = af.Engine(af.load_flows(LINKS), af.SQLiteStore(path))
    engine.start("parent", "P-1", event="open", actor=SA, payload={"customer": "Li Wei"})
    engine.fire("P-1", "spawn", actor=SA, payload={"child_note": "rear brakes"})
    assert engine.verify().ok
    return engine, path


def _tamper(path: Path, *statements: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER links_no_update")
        conn.execute("DROP TRIGGER links_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def _links_problems(engine: af.Engine) -> list[tuple[str, str, int | None, str | None]]:
    return [(p.kind, p.instance_id, p.seq, p.event) for p in engine.verify().problems]


def test_a_deleted_link_row_is_reported_at_the_row_the_link_wrote(linked_file: tuple[af.Engine, Path]) -> None:
    """Deleting a link row leaves the child's first row written by a link no link row names."""
    engine, path = linked_file
    _tamper(path, "DELETE FROM links")
    assert _links_problems(engine) == [("link", "P-1-C2", 3, "begin")]
    assert "no link row names it (the link row was deleted)" in engine.verify().problems[0].message
    assert engine.parent("P-1-C2") is None  # what the tampering changed, and verify() shows


def test_an_edited_link_row_is_reported(linked_file: tuple[af.Engine, Path]) -> None:
    """A link row pointed at another parent disagrees with the rows the link wrote."""
    engine, path = linked_file
    _tamper(path, "UPDATE links SET parent_id = 'P-9'")
    problems = engine.verify().problems
    kinds = {(p.kind, p.instance_id) for p in problems}
    assert kinds == {("link", "P-1-C2")}
    assert any("disagrees with the audit trail" in p.message for p in problems)


def test_an_inserted_link_row_is_reported(linked_file: tuple[af.Engine, Path]) -> None:
    """A link row made up for rows no link wrote is reported, naming the instance it claims."""
    engine, path = linked_file
    _tamper(path, "INSERT INTO links VALUES ('P-1-C2', 3, 'P-1', 1, 'start')")
    problems = engine.verify().problems
    assert [(p.kind, p.instance_id) for p in problems] == [("link", "P-1")]
    assert "(the link row was edited or inserted)" in problems[0].message
