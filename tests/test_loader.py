"""Tests for loading flow files and folders (``aftersales_flow.loader``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aftersales_flow import (
    Flow,
    FlowDefinitionError,
    FlowSet,
    FlowShapeError,
    FlowSyntaxError,
    OverlayError,
    UnknownRoleError,
    UnknownStateError,
    available_brands,
    load_flow,
    load_flows,
)
from aftersales_flow.errors import DuplicateFlowError, FlowMeaningError
from fixture_flows import FLOWS, RULES

LOADER = FLOWS / "loader"


def definition_error(directory: Path, brand: str | None = None) -> FlowDefinitionError:
    with pytest.raises(FlowDefinitionError) as info:
        load_flows(directory, brand, rules=RULES)
    return info.value


# --- load_flow --------------------------------------------------------------------------


def test_load_flow_returns_a_validated_flow():
    """load_flow reads one file into a Flow that remembers its source file."""
    flow = load_flow(FLOWS / "repair_order.yaml", rules=RULES)
    assert isinstance(flow, Flow)
    assert (flow.name, flow.version, flow.brand) == ("repair_order", 1, None)
    assert flow.source == "tests/fixtures/flows/repair_order.yaml"
    assert sorted(flow.terminal_states) == ["cancelled", "closed"]


def test_load_flow_accepts_text_and_path():
    """load_flow takes a path as text or as a Path, with the same result."""
    by_text = load_flow("tests/fixtures/flows/repair_order.yaml", rules=RULES)
    by_path = load_flow(FLOWS / "repair_order.yaml", rules=RULES)
    assert by_text == by_path
    assert by_text.content_hash == by_path.content_hash


def test_load_flow_finds_the_base_of_an_overlay_in_a_folder_above():
    """An overlay under brands/<brand>/ is merged with <extends>.yaml two folders up, not with itself."""
    flow = load_flow(FLOWS / "brands" / "acme" / "repair_order.yaml", rules=RULES)
    assert flow.brand == "acme"
    assert (
        flow.source
        == "tests/fixtures/flows/repair_order.yaml + tests/fixtures/flows/brands/acme/repair_order.yaml"
    )


def test_load_flow_reports_every_problem_of_a_file_together():
    """Shape and meaning problems of one file are all raised together, one line each, sorted by place."""
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(LOADER / "several_problems.yaml", rules=RULES)
    err = info.value
    # Problems of different kinds: the raised error is their common class, not the first one's.
    assert type(err) is FlowDefinitionError
    file = "tests/fixtures/flows/loader/several_problems.yaml"
    assert str(err) == "\n".join(
        [
            f"{file}:2:10: 'version' must be a whole number of at least 1 (got int 0)",
            f"{file}:9:58: unknown key 'colour' in state 'closed'; allowed keys: label, terminal, tags, "
            "description, deadlines",
            f"{file}:11:38: transition 'close' targets unknown state 'closd'; did you mean 'closed'?; "
            "known states: closed, opened",
            f"{file}:12:55: transition 'repair' names role 'mechanic', which the flow does not declare; "
            "add it to the flow's 'roles' or use one of: service_advisor, technician",
        ]
    )
    assert len(err.errors) == 4
    assert [type(e) for e in err.errors] == [
        FlowShapeError,
        FlowShapeError,
        UnknownStateError,
        UnknownRoleError,
    ]
    assert (err.file, err.line, err.column) == (file, 2, 10)


def test_load_flow_of_a_missing_file_is_a_definition_error():
    """A file that cannot be read is a FlowDefinitionError naming the file and the reason."""
    with pytest.raises(FlowDefinitionError) as info:
        load_flow(FLOWS / "no_such_flow.yaml", rules=RULES)
    err = info.value
    assert (err.file, err.line, err.column) == ("tests/fixtures/flows/no_such_flow.yaml", 0, 0)
    assert err.detail == "cannot read the flow file: No such file or directory"
    # A problem of the whole file has no line: the message starts with the path alone.
    assert err.location == "tests/fixtures/flows/no_such_flow.yaml"
    assert (
        str(err)
        == "tests/fixtures/flows/no_such_flow.yaml: cannot read the flow file: No such file or directory"
    )


# --- load_flows -------------------------------------------------------------------------


def test_load_flows_loads_the_base_flows_of_a_folder():
    """load_flows reads every base flow in the folder, leaving brands/ alone when no brand is asked for."""
    flows = load_flows(FLOWS, rules=RULES)
    assert isinstance(flows, FlowSet)
    assert flows.names == ["repair_order"]
    assert flows.brand is None
    assert flows["repair_order"].brand is None


@pytest.mark.parametrize("brand", ["acme", "baoya"])
def test_load_flows_applies_the_overlays_of_one_brand(brand):
    """load_flows with a brand replaces each overlaid base flow by the brand's merged flow."""
    flows = load_flows(FLOWS, brand, rules=RULES)
    assert flows.brand == brand
    assert flows.names == ["repair_order"]
    assert flows["repair_order"].brand == brand
    assert flows["repair_order"] == load_flow(FLOWS / "brands" / brand / "repair_order.yaml", rules=RULES)


def test_available_brands_lists_the_brand_folders():
    """available_brands lists the folders under brands/, sorted."""
    assert available_brands(FLOWS) == ["acme", "baoya"]
    assert available_brands(LOADER / "several_files") == []


def test_unknown_brand_is_refused_with_the_known_brands():
    """Asking for a brand without a folder is refused, listing the brands there are."""
    err = definition_error(FLOWS, "nope")
    assert str(err) == (
        "tests/fixtures/flows/brands/nope: unknown brand 'nope': there is no such folder; brands: acme, baoya"
    )


def test_missing_flows_folder_is_refused():
    """A flows folder that does not exist is refused, naming it."""
    err = definition_error(FLOWS / "no_such_folder")
    assert str(err) == (
        "tests/fixtures/flows/no_such_folder: the flows folder does not exist; pass the folder that holds "
        "the flow files"
    )


def test_errors_of_several_files_are_reported_together():
    """Problems in several .yaml and .yml files are raised together in file order; other files are skipped."""
    err = definition_error(LOADER / "several_files")
    folder = "tests/fixtures/flows/loader/several_files"
    assert str(err) == "\n".join(
        [
            f"{folder}/appointment.yaml:11:39: transition 'arrive' targets unknown state 'arived'; "
            "did you mean 'arrived'?; known states: arrived, booked",
            f"{folder}/complaint.yml:12:1: invalid YAML: did not find expected ',' or '}}' (in the flow "
            "mapping opened at 11:5)",
        ]
    )
    assert type(err) is FlowDefinitionError
    assert [type(e) for e in err.errors] == [UnknownStateError, FlowSyntaxError]


def test_duplicate_flow_names_are_refused():
    """Two files defining the same flow name are refused at the second file's name, pointing at the first."""
    err = definition_error(LOADER / "duplicate_names")
    assert str(err) == (
        "tests/fixtures/flows/loader/duplicate_names/appointment_copy.yaml:1:7: flow 'appointment' is "
        "defined twice (first at tests/fixtures/flows/loader/duplicate_names/appointment.yaml:1:7); rename one"
    )
    assert isinstance(err, DuplicateFlowError)
    assert isinstance(err, FlowMeaningError)


def test_overlay_problems_of_a_brand_are_reported_together():
    """Brand files that are no overlay, name another brand, extend an unknown flow or misuse it all report."""
    err = definition_error(LOADER / "brand_errors", "acme")
    acme = "tests/fixtures/flows/loader/brand_errors/brands/acme"
    assert str(err) == "\n".join(
        [
            f"{acme}/a_not_overlay.yaml:1:1: a file under brands/ must be an overlay starting with "
            "'extends: <base flow>'",
            f"{acme}/b_wrong_brand.yaml:2:8: the overlay says brand 'baoya' but sits in the folder of brand "
            "'acme'",
            f"{acme}/c_unknown_base.yaml:1:10: the overlay extends unknown flow 'work_order'; base flows: "
            "appointment",
            f"{acme}/d_bad_change.yaml:5:5: cannot change state 'arived': the base flow has no such state; "
            "did you mean 'arrived'?; it has: arrived, booked",
        ]
    )
    assert all(isinstance(e, OverlayError) for e in err.errors)


def test_two_overlays_of_one_flow_in_one_brand_are_refused():
    """Two overlay files of one brand extending the same flow are refused, not resolved by file order."""
    err = definition_error(LOADER / "two_overlays", "acme")
    acme = "tests/fixtures/flows/loader/two_overlays/brands/acme"
    assert str(err) == (
        f"{acme}/appointment_too.yaml:1:10: a second overlay of flow 'appointment' for brand 'acme' (the "
        f"first is {acme}/appointment.yaml); put the changes of both in one file"
    )
    assert isinstance(err, OverlayError)


def test_overlay_of_a_broken_base_does_not_call_the_base_unknown():
    """When a base flow has errors, its overlay is not reported as extending an unknown flow."""
    err = definition_error(LOADER / "broken_base", "acme")
    assert str(err) == (
        "tests/fixtures/flows/loader/broken_base/appointment.yaml:11:39: transition 'arrive' targets unknown "
        "state 'arived'; did you mean 'arrived'?; known states: arrived, booked"
    )


def test_extends_given_a_list_is_a_definition_error():
    """An overlay whose 'extends' is a list is a FlowDefinitionError, not a crash."""
    err = definition_error(LOADER / "extends_list", "acme")
    assert str(err) == (
        "tests/fixtures/flows/loader/extends_list/brands/acme/appointment.yaml:1:10: 'extends' must name the "
        "base flow, a snake_case name like 'repair_order' (got a list)"
    )
    assert isinstance(err, OverlayError)


def test_overlay_without_brand_in_a_brand_folder_is_one_missing_key():
    """An overlay without 'brand' under brands/acme is refused once as a missing key, never as brand None."""
    err = definition_error(LOADER / "missing_brand", "acme")
    assert str(err) == (
        "tests/fixtures/flows/loader/missing_brand/brands/acme/appointment.yaml:1:1: the overlay is missing "
        "the key 'brand' (the brand this overlay is for); add 'brand: acme'"
    )
    assert isinstance(err, FlowShapeError)


def test_combined_errors_survive_pickling():
    """A combined error pickles with every problem it holds, its class and its places."""
    err = definition_error(LOADER / "several_files")
    copied = pickle.loads(pickle.dumps(err))
    assert type(copied) is type(err)
    assert str(copied) == str(err)
    assert [(type(e), e.file, e.line, e.column, e.detail) for e in copied.errors] == [
        (type(e), e.file, e.line, e.column, e.detail) for e in err.errors
    ]
    single = pickle.loads(pickle.dumps(err.errors[0]))
    assert single.errors == (single,)
    assert str(single) == str(err.errors[0])


def test_a_brand_folder_can_live_apart_from_the_base_flows(tmp_path):
    """load_flows(..., brands=DIR) reads DIR/<brand>/ instead of <flows>/brands/<brand>/."""
    import shutil

    import aftersales_flow as af

    shutil.copytree("flows/brands/faw", tmp_path / "faw")
    apart = af.load_flows("flows", brand="faw", brands=tmp_path)
    together = af.load_flows("flows", brand="faw")
    assert {f.name: f.content_hash for f in apart} == {f.name: f.content_hash for f in together}
    with pytest.raises(af.FlowDefinitionError, match=r"unknown brand 'baoya'.*brands: faw"):
        af.load_flows("flows", brand="baoya", brands=tmp_path)
