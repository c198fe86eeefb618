"""Tests for the complaint rules: director notification, levels, participants, resolutions, bottom line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

import aftersales_flow as af
from aftersales_flow.rules import DEFAULT_REGISTRY, RuleContext
from aftersales_flow.rules.complaint import (
    acting_level_participant,
    bottom_line_recorded,
    chosen_option_offered,
    director_notified,
    discount_within_authority,
    entry_level,
    escalates_to,
    level_participants_recorded,
    resolution_carried_out,
    resolutions_fit_responsibility,
    rework_scheduled,
    satisfaction_confirmed,
)

FLOWS = Path(__file__).resolve().parents[1] / "flows"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DIRECTOR = af.Actor("csd-01", roles={"cs_director"})
LEVELS = {
    "level_1": ["cs_director", "service_advisor", "callback_agent"],
    "level_2": ["cs_director", "department_manager", "technical_director"],
    "level_3": ["cs_director", "general_manager"],
}
AUTHORITY: dict[str, float | None] = {"level_1": 0, "level_2": 2000, "level_3": None}
ALLOWED = {
    "dealer": ["apology", "rework_at_dealer_cost", "labour_discount", "charge_discount"],
    "not_dealer": ["explanation", "free_inspection", "labour_discount", "charge_discount"],
}
APPROVERS = {"level_1": ["cs_director"], "level_2": ["department_manager"], "level_3": ["general_manager"]}
REWORK = {"option_id": "A", "resolution_type": "rework_at_dealer_cost"}
DISCOUNT = {"option_id": "B", "resolution_type": "labour_discount", "discount_amount": 500}


def _ctx(data: Mapping[str, Any] | None = None, *, actor: af.Actor = DIRECTOR) -> RuleContext:
    return RuleContext(
        data=data or {},
        before={},
        payload={},
        params={},
        now=NOW,
        actor=actor,
        instance_id="C-1",
        flow="complaint",
        state="level_1_handling",
        event="x",
    )


def _load_check(rule: str, parameter: str) -> Callable[[Any], str | None]:
    """The load-time check the rule registers for ``parameter``."""
    spec = DEFAULT_REGISTRY.get(rule)
    assert spec is not None
    return spec.checks[parameter]


def _members(level: int, *roles: str) -> list[dict[str, Any]]:
    return [{"level": level, "members": [{"role": role, "person_id": f"{role}-1"} for role in roles]}]


def _approval(role: str, **changes: Any) -> dict[str, Any]:
    record = {
        "signer_role": role,
        "signer_id": f"{role}-1",
        "signed_at": "2026-11-02T09:00:00+08:00",
        **changes,
    }
    return {k: v for k, v in record.items() if v is not None}


# --- director_notified ---------------------------------------------------------------------------


def test_on_site_complaint_needs_the_director_notified() -> None:
    """An on-site complaint is refused until director_notified is true."""
    assert director_notified(_ctx({"channel": "on_site"})) == (
        "an on-site complaint cannot proceed before the customer-service director is notified; "
        "record 'notify_director' first"
    )
    assert director_notified(_ctx({"channel": "on_site", "director_notified": True})) is None


@pytest.mark.parametrize("channel", ["callback", "inbound_phone", "letter", "authority", "online"])
def test_other_channels_do_not_need_the_notification_first(channel: str) -> None:
    """Complaints not made on site may proceed without a prior notification."""
    assert director_notified(_ctx({"channel": channel})) is None


# --- entry_level ---------------------------------------------------------------------------------


def test_unlisted_channel_enters_at_level_1() -> None:
    """A channel the parameter does not list enters at level 1."""
    assert entry_level(_ctx({"channel": "letter"}), level=1, entry_levels={"authority": 3}) is None
    assert entry_level(_ctx({"channel": "letter"}), level=3, entry_levels={"authority": 3}) == (
        "a complaint received through 'letter' starts at level 1, not level 3"
    )


def test_listed_channel_enters_at_its_level() -> None:
    """The authority channel enters at the level the parameter gives."""
    assert entry_level(_ctx({"channel": "authority"}), level=3, entry_levels={"authority": 3}) is None


def test_entry_level_without_channel() -> None:
    """Without a channel the entry level cannot be told."""
    assert entry_level(_ctx(), level=1, entry_levels={}) == "the complaint's channel is not recorded"


def test_entry_levels_parameter_is_checked_when_a_flow_loads() -> None:
    """An entry level outside 1-3 is refused when the flow loads."""
    check = _load_check("entry_level", "entry_levels")
    assert check({"authority": 3}) is None
    assert check({"authority": 4}) == "channel 'authority' must enter at level 1, 2 or 3 (got 4)"


# --- level_participants_recorded -----------------------------------------------------------------


def test_all_participants_of_the_current_level_recorded() -> None:
    """Every role of the current level with a named person makes the rule hold."""
    data = {"current_level": 3, "level_participants": _members(3, "cs_director", "general_manager")}
    assert level_participants_recorded(_ctx(data), levels=LEVELS) is None


def test_missing_participants_are_named() -> None:
    """Each missing role of the level is named."""
    data = {"current_level": 1, "level_participants": _members(2, "cs_director", "department_manager")}
    assert level_participants_recorded(_ctx(data), levels=LEVELS, level=2) == (
        "the participants of level 2 are not all recorded on the case: the technical director is missing"
    )
    assert level_participants_recorded(_ctx(data), levels=LEVELS) == (
        "the participants of level 1 are not all recorded on the case: the customer-service director, "
        "the service advisor and the callback agent are missing"
    )


def test_participant_without_a_name_or_id_does_not_count() -> None:
    """A role entered without the person's id or name is still missing."""
    data = {
        "level_participants": [
            {"level": 3, "members": [{"role": "cs_director", "name": "Zhou"}, {"role": "general_manager"}]}
        ]
    }
    assert level_participants_recorded(_ctx(data), levels=LEVELS, level=3) == (
        "the participants of level 3 are not all recorded on the case: the general manager is missing"
    )


def test_participants_without_a_level() -> None:
    """Without a current level (and none given) the rule cannot hold."""
    assert level_participants_recorded(_ctx(), levels=LEVELS) == "the complaint's level is not set"


def test_levels_parameter_is_checked_when_a_flow_loads() -> None:
    """complaint_levels must give a non-empty role list for each of the three levels, and no others."""
    check = _load_check("level_participants_recorded", "levels")
    assert check(LEVELS) is None
    assert check({**LEVELS, "level_3": []}) == "'level_3' must be a non-empty list of roles"
    assert check({"level_1": ["cs_director"], "level_2": ["cs_director"]}) == (
        "'level_3' must be a non-empty list of roles"
    )
    assert check({**LEVELS, "level_4": ["owner"]}) == (
        "names unknown levels level_4; the levels are level_1, level_2, level_3"
    )


# --- acting_level_participant --------------------------------------------------------------------


def test_actor_holding_a_role_of_the_level_may_act() -> None:
    """A department manager acts at level 2; at level 1 the rule names who may."""
    manager = af.Actor("dm-1", roles={"department_manager"})
    assert acting_level_participant(_ctx({"current_level": 2}, actor=manager), levels=LEVELS) is None
    assert acting_level_participant(_ctx({"current_level": 1}, actor=manager), levels=LEVELS) == (
        "at level 1 this is done by a participant of the level: the customer-service director, "
        "the service advisor or the callback agent"
    )


def test_acting_without_a_level() -> None:
    """Without a current level nobody acts for it."""
    assert acting_level_participant(_ctx(), levels=LEVELS) == "the complaint's level is not set"


# --- escalates_to --------------------------------------------------------------------------------


def test_escalation_goes_one_level_up() -> None:
    """From level 1 the next level is 2, from 2 it is 3; skipping a level is refused."""
    assert escalates_to(_ctx({"current_level": 1}), level=2) is None
    assert escalates_to(_ctx({"current_level": 2}), level=3) is None
    assert escalates_to(_ctx({"current_level": 1}), level=3) == (
        "the complaint is at level 1; its next level is 2, not 3"
    )


@pytest.mark.parametrize("level", [2, 3])
def test_nothing_goes_beyond_level_3(level: Literal[2, 3]) -> None:
    """At level 3 every escalation is refused with the same words."""
    assert escalates_to(_ctx({"current_level": 3}), level=level) == (
        "the complaint is already at level 3, the highest; it cannot be escalated further"
    )


def test_escalation_without_a_level() -> None:
    """A case without a level cannot escalate."""
    assert escalates_to(_ctx(), level=2) == "the complaint's level is not set"


# --- resolutions_fit_responsibility --------------------------------------------------------------


def test_options_allowed_for_the_responsibility() -> None:
    """A dealer-responsible case may offer a rework and a discount."""
    data = {"responsibility": "dealer", "resolution_options": [REWORK, DISCOUNT]}
    assert resolutions_fit_responsibility(_ctx(data), allowed=ALLOWED) == []


@pytest.mark.parametrize(("value", "shown"), [(None, "not recorded"), ("undetermined", "'undetermined'")])
def test_no_proposal_before_the_responsibility_is_determined(value: str | None, shown: str) -> None:
    """An undetermined or missing responsibility allows no proposal."""
    data = {"responsibility": value, "resolution_options": [REWORK]}
    assert resolutions_fit_responsibility(_ctx(data), allowed=ALLOWED) == [
        f"the responsibility must be determined before a resolution is proposed (it is {shown})"
    ]


def test_option_not_allowed_for_the_responsibility_is_named() -> None:
    """A rework at dealer cost is not offered when the dealer is not responsible."""
    data = {"responsibility": "not_dealer", "resolution_options": [REWORK]}
    assert resolutions_fit_responsibility(_ctx(data), allowed=ALLOWED) == [
        "option A offers 'rework_at_dealer_cost', which is not a resolution when the responsibility is "
        "'not_dealer' (allowed: explanation, free_inspection, labour_discount, charge_discount)"
    ]


def test_responsibility_the_brand_does_not_map_allows_nothing() -> None:
    """A responsibility without allowed resolutions refuses every option."""
    data = {"responsibility": "shared", "resolution_options": [REWORK]}
    assert resolutions_fit_responsibility(_ctx(data), allowed=ALLOWED) == [
        "option A offers 'rework_at_dealer_cost', which is not a resolution when the responsibility is "
        "'shared' (allowed: none)"
    ]


def test_malformed_options_are_named() -> None:
    """No options, options without an id or type, and repeated ids are each refused."""
    assert resolutions_fit_responsibility(_ctx({"responsibility": "dealer"}), allowed=ALLOWED) == [
        "no resolution option is offered"
    ]
    data = {"responsibility": "dealer", "resolution_options": ["rework", {"option_id": "C"}, REWORK, REWORK]}
    assert resolutions_fit_responsibility(_ctx(data), allowed=ALLOWED) == [
        "option #1 needs its 'option_id'",
        "option C has no 'resolution_type'",
        "option A is listed twice",
    ]


def test_resolutions_parameter_is_checked_when_a_flow_loads() -> None:
    """The mapping names known responsibilities, each with a list of resolution types."""
    check = _load_check("resolutions_fit_responsibility", "allowed")
    assert check(ALLOWED) is None
    assert check({"oem": ["apology"]}) == (
        "names unknown responsibilities oem; use dealer, not_dealer, shared"
    )
    assert check({"dealer": []}) == "'dealer' must be a non-empty list of resolution types"


# --- discount_within_authority -------------------------------------------------------------------


def test_discount_within_the_level_authority() -> None:
    """A level-2 discount up to the authority holds; above it is refused."""
    data = {"current_level": 2, "resolution_options": [DISCOUNT]}
    assert discount_within_authority(_ctx(data), authority=AUTHORITY) == []
    data["resolution_options"] = [{**DISCOUNT, "discount_amount": 2000.01}]
    assert discount_within_authority(_ctx(data), authority=AUTHORITY) == [
        "option B offers a discount of 2,000.01, above the discount authority of level 2 (2,000.00); "
        "escalate or lower it"
    ]


def test_level_1_offers_no_discount_and_level_3_has_no_limit() -> None:
    """Level 1's authority is 0; level 3's is unlimited (null)."""
    options = [REWORK, {**DISCOUNT, "discount_amount": 90000}]
    assert (
        discount_within_authority(
            _ctx({"current_level": 1, "resolution_options": [REWORK]}), authority=AUTHORITY
        )
        == []
    )
    assert discount_within_authority(
        _ctx({"current_level": 1, "resolution_options": options}), authority=AUTHORITY
    ) == [
        "option B offers a discount of 90,000.00, above the discount authority of level 1 (0.00); escalate or lower it"
    ]
    assert (
        discount_within_authority(
            _ctx({"current_level": 3, "resolution_options": options}), authority=AUTHORITY
        )
        == []
    )


def test_bottom_line_within_the_authority_and_options_within_the_bottom_line() -> None:
    """The bottom line's maximum stays within the authority; no option goes beyond the bottom line."""
    data = {
        "current_level": 2,
        "bottom_line": {"description": "at most 300 off", "max_discount": 300},
        "resolution_options": [DISCOUNT],
    }
    assert discount_within_authority(_ctx(data), authority=AUTHORITY) == [
        "option B offers a discount of 500.00, beyond the bottom line of 300.00"
    ]
    data["bottom_line"] = {"description": "up to 2,500", "max_discount": 2500}
    assert discount_within_authority(_ctx(data), authority=AUTHORITY) == [
        "the bottom line allows a discount of 2,500.00, above the discount authority of level 2 (2,000.00)"
    ]


def test_discount_amounts_must_be_amounts() -> None:
    """A negative or non-numeric discount is refused."""
    data = {
        "current_level": 3,
        "bottom_line": {"description": "x", "max_discount": "lots"},
        "resolution_options": [{**DISCOUNT, "discount_amount": -5}],
    }
    assert discount_within_authority(_ctx(data), authority=AUTHORITY) == [
        "the bottom line's 'max_discount' must be an amount of at least 0 (it is 'lots')",
        "option B's 'discount_amount' must be an amount of at least 0 (it is -5)",
    ]


def test_discount_without_level_or_authority() -> None:
    """Without a level, or without an authority set for it, the rule refuses."""
    assert discount_within_authority(_ctx(), authority=AUTHORITY) == ["the complaint's level is not set"]
    assert discount_within_authority(_ctx({"current_level": 2}), authority={"level_1": 0}) == [
        "no discount authority is set for level 2 (discount_authority.level_2)"
    ]


def test_authority_parameter_is_checked_when_a_flow_loads() -> None:
    """Each level needs an amount of at least 0, or null for no limit."""
    check = _load_check("discount_within_authority", "authority")
    assert check(AUTHORITY) is None
    assert check({**AUTHORITY, "level_2": -1}) == "'level_2' must be an amount (null: unlimited)"
    assert check({**AUTHORITY, "level_2": True}) == "'level_2' must be an amount (null: unlimited)"


# --- bottom_line_recorded ------------------------------------------------------------------------


def test_bottom_line_with_the_level_approver_holds() -> None:
    """A described bottom line signed by the level's approver holds."""
    data = {
        "current_level": 3,
        "bottom_line": {"description": "free rework and a 1,000 voucher"},
        "bottom_line_approval": _approval("general_manager"),
    }
    assert bottom_line_recorded(_ctx(data), approvers=APPROVERS) == []


def test_bottom_line_missing() -> None:
    """Neither the bottom line nor its approval recorded: both are named."""
    assert bottom_line_recorded(_ctx({"current_level": 2}), approvers=APPROVERS) == [
        "the bottom line is not recorded ('bottom_line' with its 'description')",
        "the bottom line's approval is not recorded; at level 2 the department manager signs 'bottom_line_approval'",
    ]


def test_bottom_line_approved_by_the_wrong_role_or_incompletely() -> None:
    """An approval by another role, or without the time of signing, is refused."""
    data = {"current_level": 1, "bottom_line": {"description": "free rework"}}
    wrong = {**data, "bottom_line_approval": _approval("service_advisor")}
    assert bottom_line_recorded(_ctx(wrong), approvers=APPROVERS) == [
        "at level 1 the bottom line is approved by the customer-service director, not by a service advisor"
    ]
    nameless = {**data, "bottom_line_approval": {"signed_at": "2026-11-02T09:00:00+08:00"}}
    assert bottom_line_recorded(_ctx(nameless), approvers=APPROVERS) == [
        "at level 1 the bottom line is approved by the customer-service director, not by someone without a role"
    ]
    undated = {**data, "bottom_line_approval": _approval("cs_director", signed_at=None)}
    assert bottom_line_recorded(_ctx(undated), approvers=APPROVERS) == [
        "the bottom line's approval is missing the time of signing"
    ]


def test_bottom_line_without_a_level() -> None:
    """Without a level the approver cannot be judged."""
    data = {"bottom_line": {"description": "x"}}
    assert bottom_line_recorded(_ctx(data), approvers=APPROVERS) == ["the complaint's level is not set"]


# --- chosen_option_offered and rework_scheduled --------------------------------------------------


def test_chosen_option_must_be_offered() -> None:
    """The customer's pick names an offered option."""
    data: dict[str, Any] = {"resolution_options": [REWORK, DISCOUNT], "chosen_option": "B"}
    assert chosen_option_offered(_ctx(data)) is None
    data["chosen_option"] = "C"
    assert (
        chosen_option_offered(_ctx(data))
        == "the customer chose option C, which was not offered (offered: A, B)"
    )
    del data["chosen_option"]
    assert chosen_option_offered(_ctx(data)) == (
        "the option the customer chose is not recorded ('chosen_option'; offered: A, B)"
    )


def test_rework_and_inspection_need_an_agreed_time() -> None:
    """A chosen rework or free inspection needs its time; a discount does not."""
    rework = {"resolution_options": [REWORK, DISCOUNT], "chosen_option": "A"}
    assert rework_scheduled(_ctx(rework)) == (
        "the rework at dealer cost needs a time that suits the customer ('resolution_scheduled_for')"
    )
    assert rework_scheduled(_ctx({**rework, "resolution_scheduled_for": "2026-11-07T09:00:00+08:00"})) is None
    assert rework_scheduled(_ctx({**rework, "chosen_option": "B"})) is None


# --- resolution_carried_out ----------------------------------------------------------------------


def test_rework_is_carried_out_when_its_order_is_delivered_or_closed() -> None:
    """A rework needs its linked order, delivered or closed."""
    data: dict[str, Any] = {"resolution_options": [REWORK], "chosen_option": "A"}
    assert resolution_carried_out(_ctx(data)) == [
        "the rework at dealer cost needs its linked repair order ('repair_order_id')"
    ]
    data["repair_order_id"] = "RO-9"
    assert resolution_carried_out(_ctx(data)) == [
        "the linked repair order RO-9 is not delivered or closed yet (its status is not recorded)"
    ]
    for status in ("delivered", "closed"):
        assert resolution_carried_out(_ctx({**data, "repair_order_status": status})) == []


def test_discount_is_carried_out_when_applied() -> None:
    """A discount resolution, or any option carrying a discount, needs discount_applied."""
    data: dict[str, Any] = {"resolution_options": [DISCOUNT], "chosen_option": "B"}
    assert resolution_carried_out(_ctx(data)) == [
        "the discount is not recorded as applied ('discount_applied')"
    ]
    assert resolution_carried_out(_ctx({**data, "discount_applied": True})) == []
    combined = {"option_id": "C", "resolution_type": "rework_at_dealer_cost", "discount_amount": 100}
    data = {
        "resolution_options": [combined],
        "chosen_option": "C",
        "repair_order_id": "RO-9",
        "repair_order_status": "delivered",
    }
    assert resolution_carried_out(_ctx(data)) == [
        "the discount is not recorded as applied ('discount_applied')"
    ]


def test_apology_needs_no_order_or_discount() -> None:
    """An apology or explanation is carried out without further facts; no choice recorded is refused."""
    apology = {"option_id": "D", "resolution_type": "apology"}
    assert resolution_carried_out(_ctx({"resolution_options": [apology], "chosen_option": "D"})) == []
    assert resolution_carried_out(_ctx({"resolution_options": [apology]})) == [
        "the resolution the customer chose is not recorded"
    ]


# --- satisfaction_confirmed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        {"words": "fine now", "method": "phone", "anything_else": "no"},
        {"rating": 9, "method": "in_person", "anything_else": "please wash the car next time"},
    ],
)
def test_satisfaction_in_words_or_a_rating(record: dict[str, Any]) -> None:
    """The customer's words or a rating, how given, and the 'anything else?' answer confirm satisfaction."""
    assert satisfaction_confirmed(_ctx({"satisfaction": record})) == []


def test_satisfaction_incomplete() -> None:
    """Each missing part of the confirmation is named; no record at all is refused."""
    assert satisfaction_confirmed(_ctx({"satisfaction": {"rating": "good", "method": "email"}})) == [
        "the customer's satisfaction needs their own words or a rating",
        "say how the customer confirmed: 'method' is 'phone' or 'in_person'",
        "ask whether there is anything else and record the answer ('anything_else')",
    ]
    assert satisfaction_confirmed(_ctx()) == [
        "the customer's confirmation is not recorded ('satisfaction': their words or a rating)"
    ]


def test_flow_with_a_level_without_participants_does_not_load(tmp_path: Path) -> None:
    """A brand that leaves a level without participants is told so when the flow loads."""
    text = (FLOWS / "complaint.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "complaint.yaml"
    broken.write_text(
        text.replace("    level_3: [cs_director, general_manager]\n", "    level_3: []\n", 1),
        encoding="utf-8",
    )
    with pytest.raises(af.FlowDefinitionError) as failed:
        af.load_flow(broken)
    assert (
        "rule 'level_participants_recorded' parameter 'levels' (from parameter 'complaint_levels'): "
        "'level_3' must be a non-empty list of roles"
    ) in str(failed.value)
