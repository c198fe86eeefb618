"""The aftersales-flow console script, driven in a subprocess as a user would."""

from __future__ import annotations

import csv
import inspect
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

import aftersales_flow as af
from aftersales_flow.reference import mermaid
from aftersales_flow.testing import SimulatedClock
from conftest import FLOWS

SCRIPT = shutil.which("aftersales-flow", path=str(Path(sys.executable).parent))
TIMED_DIR = Path(__file__).parent / "fixtures" / "flows" / "deadlines"
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
NO_DOT = "Graphviz's 'dot' is not installed; use --format mermaid or dot, or install graphviz"
SECRET = "a secret of at least sixteen bytes"
HAS_CHECKPOINTS = "checkpoint" in inspect.signature(af.Engine.verify).parameters


def _command(args: tuple[str, ...]) -> list[str]:
    assert SCRIPT is not None, "the console script is not installed next to this Python"
    return [SCRIPT, *args]


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_FLOW_")}
    env["COLUMNS"] = "200"  # rich tables as wide as a wide terminal, whatever runs the tests
    return {**env, **(extra or {})}


def run(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(args), cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=120, check=False
    )


def lines_of_json(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def counts(folder: Path) -> tuple[int, int]:
    """How many audit events and instance heads the demo store in ``folder`` holds."""
    with af.SQLiteStore(folder / "aftersales-demo.db") as store:
        return store.count_events(), len(list(store.iter_heads()))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One `aftersales-flow demo` per module: its folder (holding aftersales-demo.db) and its output."""
    folder = tmp_path_factory.mktemp("demo")
    return folder, run("demo", cwd=folder)


@pytest.fixture
def demo_dir(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """The folder of the shared demo store, for commands that only read it."""
    return demo_run[0]


@pytest.fixture
def own_demo(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store in tmp_path, for tests that change it."""
    with (
        sqlite3.connect(demo_dir / "aftersales-demo.db") as source,
        sqlite3.connect(tmp_path / "aftersales-demo.db") as target,
    ):
        source.backup(target)
    return tmp_path


@pytest.fixture
def timed_store(tmp_path: Path) -> Path:
    """A store with one 'timed' booking: confirmation due at 01:00Z, reminder due 2026-11-04 06:00Z."""
    clock = SimulatedClock(START)
    with af.SQLiteStore(tmp_path / "timed.db") as store:
        engine = af.Engine(af.load_flows(TIMED_DIR), store, clock=clock)
        engine.start(
            "timed",
            "T-1",
            event="book",
            actor=af.Actor("sa-1", roles={"service_advisor"}),
            payload={"slot_at": "2026-11-05T14:00:00+08:00"},
        )
    return tmp_path / "timed.db"


def fake_dot(folder: Path, script: str) -> dict[str, str]:
    """An environment whose PATH finds only a fake Graphviz 'dot' running ``script``."""
    folder.mkdir()
    program = folder / "dot"
    program.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    program.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}/usr/bin{os.pathsep}/bin"}


# --- demo and validate ---------------------------------------------------------------------


def test_demo_writes_the_store_and_verifies(demo_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """`aftersales-flow demo` walks a repair order to closed on ./aftersales-demo.db and verifies it."""
    folder, result = demo_run
    assert result.returncode == 0, result.stderr
    assert (folder / "aftersales-demo.db").is_file()
    out = result.stdout
    assert "REFUSED  record_work" in out
    assert "line L4 (Front brake pads) is additional work without the customer's signed authorization" in out
    assert "qc_failed" in out
    assert "RO-1001 is 'closed'" in out
    assert out.rstrip().splitlines()[-1].startswith("verify(): OK:")


def test_demo_twice_uses_a_new_order_and_still_verifies(own_demo: Path) -> None:
    """A second demo run on the same store adds RO-1002 and verify() covers both."""
    second = run("demo", "--db", "aftersales-demo.db", cwd=own_demo)
    assert second.returncode == 0
    assert "repair order RO-1002" in second.stdout
    assert "already exists" not in second.stdout  # each run uses its own ids
    assert second.stdout.rstrip().splitlines()[-1].startswith("verify(): OK:")


def test_validate_ok_and_broken(tmp_path: Path) -> None:
    """`validate` accepts the shipped flows (with a brand) and reports every problem of every path as file:line:col, exiting 1."""
    ok = run("validate", str(FLOWS), "--brand", "faw", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"ok ({len(af.load_flows(FLOWS, brand='faw'))} flows: appointment, complaint" in ok.stdout
    broken = tmp_path / "broken.yaml"
    text = (FLOWS / "repair_order.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("    to: authorized\n", "    to: authorised\n", 1), encoding="utf-8")
    result = run("validate", "broken.yaml", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == "    to: authorized")
    assert result.stderr.startswith(
        f"broken.yaml:{line}:9: transition 'sign_work_order' targets unknown state 'authorised'"
    )
    assert "did you mean 'authorized'?" in result.stderr
    assert "missing.yaml: cannot read the flow file" in result.stderr


def test_validate_names_the_flows_a_brand_changes(tmp_path: Path) -> None:
    """`validate FOLDER --brand NAME` says which flows the brand's overlays change."""
    result = run("validate", str(FLOWS), "--brand", "faw", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(
        "weekly_feedback_report; brand faw changes follow_up_call, lost_customer_case, repair_order)"
    )
    plain = run("validate", str(FLOWS), cwd=tmp_path)
    assert "changes" not in plain.stdout


def test_validate_reports_a_problem_once_when_a_file_is_given_alone_and_in_its_folder(tmp_path: Path) -> None:
    """An overlay named on its own and inside the folder given with it: each problem line is printed once."""
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("brands"))
    overlay = folder / "brands" / "x" / "repair_order.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(
        "extends: repair_order\nbrand: x\nroles:\n  remove: [cashier]\ntransitions:\n  add:\n"
        "    - {event: extra_pay, from: delivered, to: delivered, roles: [cashier]}\n",
        encoding="utf-8",
    )
    result = run("validate", str(overlay), str(folder), "--brand", "x", cwd=tmp_path)
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if "names role 'cashier'" in line]
    assert len(problems) == 1, result.stderr
    assert problems[0].startswith(f"{overlay}:7:")


LOAN_FLOW = """\
flow: loan
version: 1
label: {en: Courtesy car, zh: 代步车}
roles: [service_advisor]
fields: {plate: string}
start:
  - event: lend
    to: lent
    roles: [service_advisor]
    requires: [plate]
    guard: {rule: plate_is_local, prefix: 粤}
states:
  lent: {label: {en: Lent, zh: 已借出}}
  returned: {terminal: true, label: {en: Returned, zh: 已归还}}
transitions:
  - {event: give_back, from: lent, to: returned, roles: [service_advisor]}
"""
DEALER_RULES = """\
import aftersales_flow as af


@af.rule("plate_is_local", description="the plate is registered in {prefix}")
def plate_is_local(ctx, *, prefix: str):
    plate = ctx.get("plate")
    return None if isinstance(plate, str) and plate.startswith(prefix) else f"the plate is not from {prefix}"
"""


def test_rules_option_loads_an_integrators_rules(tmp_path: Path) -> None:
    """A flow naming a rule of the integrator's fails to load without --rules (with a hint), and loads with it."""
    (tmp_path / "loan.yaml").write_text(LOAN_FLOW, encoding="utf-8")
    (tmp_path / "dealer_rules.py").write_text(DEALER_RULES, encoding="utf-8")
    without = run("validate", "loan.yaml", cwd=tmp_path)
    assert without.returncode == 1
    line = next(n for n, row in enumerate(LOAN_FLOW.splitlines(), 1) if "plate_is_local" in row)
    assert without.stderr.startswith(f"loan.yaml:{line}:19: start event 'lend' guard names unknown rule 'plate_is_local'")
    assert without.stderr.rstrip().endswith(
        "(a rule of your own? pass the module or .py file that registers it with @af.rule: --rules MODULE)"
    )
    shown_without = run("show", "loan.yaml", cwd=tmp_path)
    assert (shown_without.returncode, "--rules MODULE" in shown_without.stderr) == (3, True)
    by_name = run("validate", "loan.yaml", "--rules", "dealer_rules", cwd=tmp_path)
    assert (by_name.returncode, by_name.stdout) == (0, "loan.yaml: ok (loan v1, 2 states)\n"), by_name.stderr
    shown = run("show", "loan.yaml", "--rules", "dealer_rules.py", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["events"][0]["guard"] == "the plate is registered in 粤"
    drawn = run("graph", "loan.yaml", "--rules", str(tmp_path / "dealer_rules.py"), cwd=tmp_path)
    assert (drawn.returncode, "lent" in drawn.stdout) == (0, True)


# --- show and graph --------------------------------------------------------------------------


def test_show_prints_the_flow_as_tables(tmp_path: Path) -> None:
    """`show FLOW` prints states, events with roles and guards, and parameters."""
    result = run("show", "repair_order", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("States", "Events", "Deadlines", "Roles", "Parameters"):
        assert heading in out
    assert "Repair order / 维修委托书" in out
    assert "awaiting_additional_authorization" in out
    assert "sign_work_order" in out
    assert "service_advisor" in out
    assert "accepted_consent_methods" in out


def test_show_in_chinese(tmp_path: Path) -> None:
    """`show --lang zh` labels states and events in Chinese and heads the tables in Chinese."""
    result = run("show", "repair_order", "--lang", "zh", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("维修委托书 / Repair order")
    assert "状态" in result.stdout
    assert "参数" in result.stdout
    assert "待厂家质量担保批复" in result.stdout


def test_show_json_applies_the_brand(tmp_path: Path) -> None:
    """`show --brand faw --json` describes the merged flow: the brand's parameter values and event changes."""
    result = run("show", "repair_order", "--brand", "faw", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    assert (flow["name"], flow["brand"]) == ("repair_order", "faw")
    assert flow["params"]["protective_kit_items"] == ["seat", "steering_wheel", "floor_mat"]
    refer = next(e for e in flow["events"] if e["event"] == "refer_warranty_to_oem")
    assert {"oem_case_ref", "warranty_basis"} <= set(refer["requires"])
    sign = next(e for e in flow["events"] if e["event"] == "sign_work_order")
    assert sign["from"] == "estimate_presented"
    assert sign["to"] == "authorized"
    assert sign["roles"] == ["service_advisor"]
    assert sign["guard"]
    assert {s["name"] for s in flow["states"]} >= {"checking_in", "closed"}


def test_show_describes_what_guards_demand_not_their_refusal_wording(tmp_path: Path) -> None:
    """A guard's `message` is its failure's wording: `show` describes the rules it wraps instead."""
    result = run("show", "appointment", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    booking = next(e for e in events if e["event"] == "inbound_request")["guard"]
    assert "'customer.name' is recorded and 'customer.phone' is recorded" in booking
    assert "is not recorded" not in booking
    outreach = next(e for e in events if e["event"] == "create_outreach")["guard"]
    assert outreach.startswith("not ('origin' is 'inbound') and ")


def test_graph_mermaid_is_the_reference_diagram(tmp_path: Path) -> None:
    """`graph FLOW` prints the Mermaid diagram of the reference pages."""
    result = run("graph", "complaint", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == mermaid(af.load_flows(FLOWS)["complaint"]) + "\n"


def test_graph_dot_labels_states_and_events(tmp_path: Path) -> None:
    """`graph FILE --format dot` prints a digraph: labelled states, terminal ones doubled, edges named by events."""
    result = run("graph", str(TIMED_DIR / "timed.yaml"), "--format", "dot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith('digraph "timed" {')
    assert out.rstrip().endswith("}")
    assert '    "booked" [label="booked\\nBooked / 已预约"];' in out
    assert '    "done" [label="done\\nDone / 完成", peripheries=2];' in out
    assert '    "[*]" -> "booked" [label="book"];' in out
    assert '    "booked" -> "booked" [label="annotate, confirm"];' in out


def test_graph_svg_pipes_dot_through_graphviz(tmp_path: Path) -> None:
    """`graph --format svg --out FILE` sends the DOT text to the 'dot' found on PATH and writes its SVG."""
    env = fake_dot(
        tmp_path / "bin", "grep -q 'digraph \"appointment\"' && echo '<svg><!-- fake dot --></svg>'"
    )
    result = run("graph", "appointment", "--format", "svg", "--out", "appointment.svg", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "appointment.svg").read_text(encoding="utf-8") == "<svg><!-- fake dot --></svg>\n"
    assert "wrote svg of appointment to appointment.svg" in result.stderr


def test_graph_svg_without_graphviz(tmp_path: Path) -> None:
    """Without Graphviz on PATH, `graph --format svg` exits 3 and says what to do instead."""
    (tmp_path / "empty").mkdir()
    result = run(
        "graph", "appointment", "--format", "svg", cwd=tmp_path, env={"PATH": str(tmp_path / "empty")}
    )
    assert result.returncode == 3
    assert result.stderr.strip() == NO_DOT
    assert result.stdout == ""


def test_graph_svg_when_graphviz_fails(tmp_path: Path) -> None:
    """A 'dot' that fails makes `graph --format svg` exit 3 with dot's own message."""
    env = fake_dot(tmp_path / "bin", "echo 'Error: syntax error in line 1' >&2; exit 1")
    result = run("graph", "appointment", "--format", "svg", cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert "failed: Error: syntax error in line 1" in result.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_with_graphviz(tmp_path: Path) -> None:
    """With Graphviz installed, `graph --format svg` prints a real SVG drawing."""
    result = run("graph", "follow_up_call", "--format", "svg", "--lang", "en", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout
    assert "completed_ok" in result.stdout


# --- history, verify, checkpoints, replay ------------------------------------------------------


def test_history_prints_refusals_with_reasons(demo_dir: Path) -> None:
    """`history ID` shows accepted and refused events with their reasons; --json gives one object a line."""
    text = run("history", "RO-1001", cwd=demo_dir)
    assert text.returncode == 0
    assert "REFUSED record_work" in text.stdout
    assert (
        "- line L4 (Front brake pads) is additional work without the customer's signed authorization"
        in text.stdout
    )
    rows = lines_of_json(run("history", "RO-1001", "--json", cwd=demo_dir).stdout)
    assert rows[0]["event"] == "open_walk_in"
    assert rows[-1]["to"] == "closed"
    assert any(not row["accepted"] for row in rows)
    assert {row["instance_id"] for row in rows} == {"RO-1001"}


def test_history_shows_times_with_their_zone(demo_dir: Path) -> None:
    """`history` shows UTC times with their offset; `--tz` shows them on another zone's clock."""
    utc = run("history", "RO-1001", cwd=demo_dir).stdout.splitlines()[0]
    local = run("history", "RO-1001", "--tz", "Asia/Shanghai", cwd=demo_dir).stdout.splitlines()[0]
    first = lines_of_json(run("history", "RO-1001", "--json", cwd=demo_dir).stdout)[0]
    at = datetime.fromisoformat(str(first["at"]))
    assert f" {at.astimezone(UTC):%Y-%m-%d %H:%M}+00:00  " in utc
    assert f" {at.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}+08:00  " in local
    assert utc.split("+00:00", 1)[1] == local.split("+08:00", 1)[1]  # the rest of the line is the same


def test_verify_reports_a_clean_store(demo_dir: Path) -> None:
    """`verify` exits 0 on the demo store and says how much it checked."""
    result = run("verify", "--db", "aftersales-demo.db", cwd=demo_dir)
    assert result.returncode == 0
    events, instances = counts(demo_dir)
    assert result.stdout.strip() == f"OK: {events} events in {instances} instances"


def test_verify_detects_an_edited_row(own_demo: Path) -> None:
    """`verify --json` exits 1 with a report naming the instance and event once a row is edited by hand."""
    with sqlite3.connect(own_demo / "aftersales-demo.db") as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET actor_id = 'someone else' WHERE seq = 5")
    result = run("verify", "--json", cwd=own_demo)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(p["instance_id"], p["seq"], p["kind"]) for p in report["problems"]] == [("RO-1001", 5, "edited")]


@pytest.mark.skipif(not HAS_CHECKPOINTS, reason="this engine has no checkpoints")
def test_checkpoint_then_verify_against_it(own_demo: Path) -> None:
    """`checkpoint` seals the chains with the secret; `verify --checkpoint` passes with it and fails with another."""
    secret = {"AFTERSALES_FLOW_SECRET": SECRET}
    taken = run("checkpoint", "--out", "checkpoint.json", cwd=own_demo, env=secret)
    assert taken.returncode == 0, taken.stderr
    assert "RO-1001" in json.loads((own_demo / "checkpoint.json").read_text(encoding="utf-8"))["chains"]
    ok = run("verify", "--checkpoint", "checkpoint.json", cwd=own_demo, env=secret)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "against the checkpoint checkpoint.json" in ok.stdout
    other = {"AFTERSALES_FLOW_SECRET": "another secret, also long enough"}
    forged = run("verify", "--checkpoint", "checkpoint.json", "--json", cwd=own_demo, env=other)
    assert forged.returncode == 1
    assert json.loads(forged.stdout)["problems"][0]["kind"] == "checkpoint"


def test_replay_rebuilds_every_instance(demo_dir: Path) -> None:
    """`replay` rebuilds every instance from its events and finds each equal to its head."""
    result = run("replay", cwd=demo_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {counts(demo_dir)[1]} instances match their events")


def test_replay_one_instance_as_json(demo_dir: Path) -> None:
    """`replay ID --json` gives the rebuilt instance and the comparison."""
    report = json.loads(run("replay", "RO-1001", "--json", cwd=demo_dir).stdout)
    assert (report["ok"], report["checked"], report["mismatches"]) == (True, 1, [])
    with af.SQLiteStore(demo_dir / "aftersales-demo.db") as store:
        head = af.Engine(af.FlowSet({}), store).instance("RO-1001")
    assert report["instance"] == {**attrs.asdict(head), "data": dict(head.data)}


def test_replay_finds_a_head_that_differs(own_demo: Path) -> None:
    """`replay` exits 1 and names the instance when a head no longer matches its events."""
    with sqlite3.connect(own_demo / "aftersales-demo.db") as conn:
        conn.execute("UPDATE instances SET state = 'cancelled' WHERE id = 'RO-1001'")
    result = run("replay", cwd=own_demo)
    assert result.returncode == 1
    assert (
        "RO-1001: the head differs from its events: state: head 'cancelled', events 'closed'" in result.stdout
    )
    assert f"PROBLEMS FOUND: 1 of {counts(own_demo)[1]} differ" in result.stdout


# --- deadlines -------------------------------------------------------------------------------


def test_due_lists_what_is_due_at_a_time(timed_store: Path) -> None:
    """`due --at` lists the pending deadlines due then, earliest first."""
    db = str(timed_store)
    first = run("due", "--db", db, "--at", "2026-11-02T09:00:00+08:00", "--json", cwd=timed_store.parent)
    assert first.returncode == 0, first.stderr
    assert [(d["instance_id"], d["name"], d["event"]) for d in lines_of_json(first.stdout)] == [
        ("T-1", "confirmation", "sla_breached")
    ]
    later = run("due", "--db", db, "--at", "2026-11-04T06:00:00Z", cwd=timed_store.parent)
    assert later.returncode == 0, later.stderr
    assert "T-1" in later.stdout
    assert "reminder -> remind" in later.stdout
    assert "2 deadlines due at 2026-11-04T06:00:00+00:00" in later.stdout


def test_tick_fires_each_due_deadline_once(timed_store: Path) -> None:
    """`tick --at` fires what is due as the system actor and prints the steps; a second tick fires nothing."""
    args = ("--db", str(timed_store), "--flows", str(TIMED_DIR), "--at", "2026-11-04T06:00:00Z")
    first = run("tick", *args, "--json", cwd=timed_store.parent)
    assert first.returncode == 0, first.stderr
    steps = lines_of_json(first.stdout)
    assert [(s["event"], s["from"], s["to"], s["actor"]) for s in steps] == [
        ("sla_breached", "booked", "booked", "system"),
        ("remind", "booked", "reminded", "system"),
    ]
    assert {s["at"] for s in steps} == {"2026-11-04T06:00:00+00:00"}
    again = run("tick", *args, cwd=timed_store.parent)
    assert again.returncode == 0, again.stderr
    assert "fired 0 of 0 due deadlines" in again.stdout


def test_tick_refuses_flows_that_do_not_match_the_store(timed_store: Path) -> None:
    """`tick` with flows that lack a due deadline's flow exits 3 and leaves the deadline pending."""
    result = run("tick", "--db", str(timed_store), "--at", "2026-11-04T06:00:00Z", cwd=timed_store.parent)
    assert result.returncode == 3
    assert "due deadlines belong to flows the loaded flows lack: timed" in result.stderr
    with af.SQLiteStore(timed_store) as store:
        assert [d.status for d in store.pending_deadlines("T-1")] == ["pending", "pending"]


# --- export ----------------------------------------------------------------------------------


def test_export_jsonl_has_every_event_and_column(demo_dir: Path) -> None:
    """`export` writes one JSON object per audit event, refused ones included, JSON columns decoded."""
    result = run("export", cwd=demo_dir)
    assert result.returncode == 0, result.stderr
    rows = lines_of_json(result.stdout)
    assert len(rows) == counts(demo_dir)[0]
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    refused = next(row for row in rows if not row["accepted"])
    assert refused["refusal"]
    assert isinstance(refused["reasons"], list)
    assert refused["reasons"][0]["message"]
    assert rows[0]["payload"]["vehicle"]["plate"] == "粤A·12345"
    assert {"actor_id", "actor_roles", "flow_hash", "prev_hash", "hash", "guards"} <= set(rows[0])


def test_export_csv_to_a_file(demo_dir: Path, tmp_path: Path) -> None:
    """`export --format csv --out FILE` writes a header and one readable row per audit event."""
    out = tmp_path / "audit.csv"
    result = run(
        "export",
        "--db",
        str(demo_dir / "aftersales-demo.db"),
        "--format",
        "csv",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert f"wrote {len(rows)} audit events to {out}" in result.stderr
    assert rows[0]["event"] == "open_walk_in"
    assert rows[0]["accepted"] == "true"
    assert "粤A·12345" in rows[0]["payload"]
    assert json.loads(rows[1]["reasons"])[0]["code"]
    assert rows[1]["version"] == ""  # a refused attempt carries no version


# --- documentation ---------------------------------------------------------------------------


def test_every_command_is_documented() -> None:
    """docs/cli.md has a section for every command of the console script, with each of its options."""
    from aftersales_flow.cli import main

    text = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in main.commands.items():
        section = text.split(f"### `{name}", 1)
        assert len(section) == 2, f"docs/cli.md has no section for `{name}`"
        heading = section[1].splitlines()[0]
        for option in (o for p in command.params for o in p.opts if o.startswith("--")):
            assert option in heading, f"docs/cli.md: `{name}` does not show {option}"


# --- bad arguments and missing files -----------------------------------------------------------

NO_CHECKPOINTS = (3, "checkpoints are not available")
NEEDS_SECRET = (
    (2, "set AFTERSALES_FLOW_SECRET or pass --secret-file FILE") if HAS_CHECKPOINTS else NO_CHECKPOINTS
)
MISSING_CHECKPOINT = (3, "cannot read the checkpoint nowhere.json") if HAS_CHECKPOINTS else NO_CHECKPOINTS
NOT_A_CHECKPOINT = (3, "checkpoint.json: not a checkpoint written by") if HAS_CHECKPOINTS else NO_CHECKPOINTS
BAD: dict[str, tuple[tuple[str, ...], int, str]] = {
    "no paths to validate": (("validate",), 2, "Missing argument"),
    "a missing flow file": (("validate", "missing.yaml"), 1, "missing.yaml: cannot read the flow file"),
    "no instance id": (("history",), 2, "Missing argument"),
    "an unknown instance": (("history", "RO-9999", "--db", "store.db"), 3, "there is no instance 'RO-9999'"),
    "an unknown command": (("frobnicate",), 2, "No such command"),
    "verify without a store": (("verify", "--db", "nowhere.db"), 3, "no store at nowhere.db"),
    "export without a store": (("export",), 3, "no store at aftersales-demo.db"),
    "a file that is no store": (("replay", "--db", "notes.txt"), 3, "not a usable aftersales_flow database"),
    "a time without a zone": (("due", "--at", "2026-11-02T09:00"), 2, "'2026-11-02T09:00' has no time zone"),
    "a time that is no time": (("tick", "--at", "tomorrow"), 2, "'tomorrow' is not an ISO 8601 time"),
    "an unknown flow": (("show", "nothing"), 2, "unknown flow 'nothing'; loaded flows: appointment"),
    "an unknown brand": (("show", "repair_order", "--brand", "acme"), 2, "unknown brand 'acme'; brands in"),
    "a missing flows folder": (
        ("graph", "appointment", "--flows", "nowhere"),
        3,
        "nowhere: the flows folder does not exist",
    ),
    "a missing flow file to show": (("show", "nowhere.yaml"), 3, "nowhere.yaml: cannot read the flow file"),
    "an unknown graph format": (("graph", "appointment", "--format", "png"), 2, "'png' is not one of"),
    "an unknown time zone": (("history", "RO-1", "--tz", "Mars/Base"), 2, "unknown time zone 'Mars/Base'"),
    "a missing rules file": (("validate", "x.yaml", "--rules", "nowhere.py"), 2, "no such file: nowhere.py"),
    "an unknown rules module": (
        ("show", "repair_order", "--rules", "no_such_rules_module"),
        2,
        "no module named 'no_such_rules_module'",
    ),
    "rules that fail to import": (
        ("graph", "appointment", "--rules", "broken_rules.py"),
        3,
        "the rules in broken_rules.py could not be imported: RuntimeError: no database here",
    ),
    "a checkpoint without its secret": (("verify", "--checkpoint", "checkpoint.json"), *NEEDS_SECRET),
    "a missing checkpoint": (
        ("verify", "--checkpoint", "nowhere.json", "--secret-file", "notes.txt"),
        *MISSING_CHECKPOINT,
    ),
    "a file that is no checkpoint": (
        ("verify", "--db", "store.db", "--checkpoint", "checkpoint.json", "--secret-file", "notes.txt"),
        *NOT_A_CHECKPOINT,
    ),
}


@pytest.fixture(scope="module")
def bad_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every bad invocation of BAD, run at once in one empty folder (they write nothing)."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("not a database\n" * 100, encoding="utf-8")
    (folder / "checkpoint.json").write_text("{}", encoding="utf-8")
    (folder / "broken_rules.py").write_text("raise RuntimeError('no database here')\n", encoding="utf-8")
    with af.SQLiteStore(folder / "store.db"):
        pass  # an empty store
    started = {
        name: subprocess.Popen(
            _command(args), cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (args, _, _) in BAD.items()
    }
    results = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_and_missing_files(
    bad_runs: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    """Bad arguments (2), problems (1) and what cannot run (3) give their exit code and a clear message on stderr."""
    _, code, needle = BAD[case]
    result = bad_runs[case]
    assert (result.returncode, needle in result.stderr) == (code, True), result.stderr
    assert "Traceback" not in result.stderr


def test_a_brand_kept_apart_from_the_flows_it_extends(tmp_path: Path) -> None:
    """`--brand DIR` applies a brand's overlay folder kept outside the flows folder (a dealer group's)."""
    group = tmp_path / "group" / "brands" / "faw"
    shutil.copytree(FLOWS / "brands" / "faw", group)
    result = run("validate", str(FLOWS), "--brand", str(group), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "brand faw changes follow_up_call, lost_customer_case, repair_order" in result.stdout
    shown = run("show", "repair_order", "--brand", "group/brands/faw", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["brand"] == "faw"
    missing = run("validate", str(FLOWS), "--brand", "group/brands/nope", cwd=tmp_path)
    assert missing.returncode == 2
    assert "group/brands/nope is not a folder of brand overlays" in missing.stderr
