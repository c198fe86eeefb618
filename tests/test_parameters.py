"""Every number of the domain brief's section 3 sits in a flow parameter, base and per brand."""

from __future__ import annotations

from typing import Any

import pytest

import aftersales_flow as af
from aftersales_flow.model import thaw
from conftest import FLOWS

# (§3 row, flow, parameter, value): the brief's table, row by row.
SECTION_3: list[tuple[int, str, str, Any]] = [
    (1, "appointment", "first_service", {"days": 60, "km": 2000}),
    (2, "appointment", "regular_service", {"km": 5000, "months": 6}),
    (3, "appointment", "reminder_lead_days", [7, 10]),
    (4, "lost_customer_case", "lost_customer_days", 180),
    (5, "lost_customer_case", "lost_after_days", 365),
    (6, "appointment", "phone_answer_max_rings", 3),
    (7, "appointment", "peak_min_alternatives", 2),
    (8, "appointment", "allow_same_day", False),
    (9, "appointment", "internal_confirmation_max", "1h"),
    (10, "appointment", "parts_label_fields", ["customer_name", "appointment_date"]),
    (11, "appointment", "reminder_min_lead_days", 3),
    (11, "appointment", "reminder_min_lead_inclusive", True),
    (12, "appointment", "day_before_reminder_offset", "1d"),
    (13, "appointment", "arrival_confirmation_offset", "1h"),
    (14, "appointment", "board_posting_time", "17:30"),
    (15, "appointment", "no_show_retry_window_days", [3, 10]),
    (15, "appointment", "max_appointment_attempts", 3),
    (16, "appointment", "readiness_check_offset", "1d"),
    (18, "follow_up_call", "callback_due_days", 3),
    (19, "follow_up_call", "callback_max_days", 7),
    (20, "repair_order", "callback_min_ratio", 0.5),
    (21, "follow_up_call", "callback_blackouts", ["09:00-11:00", "16:00-18:30"]),
    (22, "feedback_case", "morning_cutoff", "12:00"),
    (23, "feedback_case", "end_of_day", "18:00"),
    (24, "feedback_case", "department_handling_max", "24h"),
    (25, "feedback_case", "form_collection_lag", "1d"),
    (26, "feedback_case", "second_callback_max", "4h"),
    (27, "weekly_feedback_report", "weekly_report_day", "FRI"),
    (27, "weekly_feedback_report", "weekly_return_day", "MON"),
    (28, "monthly_feedback_analysis", "monthly_report_day", 3),
    (
        29,
        "complaint",
        "complaint_levels",
        {
            "level_1": ["cs_director", "service_advisor", "callback_agent"],
            "level_2": ["cs_director", "department_manager", "technical_director"],
            "level_3": ["cs_director", "general_manager"],
        },
    ),
    (31, "new_car_care", "new_car_first_call_days", 30),
    (32, "new_car_care", "callback_due_days", 3),
    (32, "lost_customer_case", "callback_due_days", 3),
    (33, "repair_order", "warranty_rules", {}),
    (34, "repair_order", "protective_kit_items", ["seat", "steering_wheel", "floor_mat", "gear_lever"]),
]

# What each brand's overlays set, by the brand's own source.
BRANDS: dict[str, list[tuple[str, str, Any]]] = {
    "baoya": [
        ("lost_customer_case", "lost_customer_days", 180),
        ("lost_customer_case", "lost_after_days", 180),
        ("appointment", "first_service", {"days": 60, "km": 2000}),
        ("appointment", "regular_service", {"km": 5000, "months": 6}),
        ("appointment", "reminder_lead_days", [7, 10]),
        ("appointment", "internal_confirmation_max", "1h"),
        ("appointment", "day_before_reminder_offset", "1d"),
        ("appointment", "arrival_confirmation_offset", "1h"),
    ],
    "faw": [
        ("lost_customer_case", "lost_customer_days", 365),
        ("repair_order", "protective_kit_items", ["seat", "steering_wheel", "floor_mat"]),
        ("follow_up_call", "callback_due_days", 7),
        ("repair_order", "oem_service_department", "一汽轿车服务部 (FAW-Car service department)"),
    ],
}


@pytest.mark.parametrize(("row", "flow", "name", "value"), SECTION_3)
def test_section_3_value_is_a_base_parameter(
    flows: af.FlowSet, row: int, flow: str, name: str, value: Any
) -> None:
    """The base flows hold the brief's section 3 values under the brief's parameter names."""
    assert thaw(flows[flow].params[name]) == value, f"§3 row {row}"


def test_section_3_rows_are_all_listed() -> None:
    """Every row of section 3 with a number is checked (17 and 35 are structural, 30 is a guard)."""
    assert {row for row, *_ in SECTION_3} == set(range(1, 35)) - {17, 30}


def test_row_30_is_a_guard(flows: af.FlowSet) -> None:
    """§3 row 30 (tell the customer-service director at once) is a guard on leaving 'registered'."""
    flow = flows["complaint"]
    guarded = [t for t in flow.transitions if t.source == "registered" and t.event == "start_investigation"]
    assert guarded
    assert "director_notified" in repr(guarded[0].guard)


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_brand_values(brand: str) -> None:
    """Each brand's flows carry the values of that brand's manual."""
    flows = af.load_flows(FLOWS, brand=brand)
    for flow, name, value in BRANDS[brand]:
        assert thaw(flows[flow].params[name]) == value, (brand, flow, name)


def test_brands_change_only_what_their_overlays_say(flows: af.FlowSet) -> None:
    """A brand's flow differs from the base only for flows it has an overlay for."""
    for brand in ("baoya", "faw"):
        overlaid = {p.stem for p in (FLOWS / "brands" / brand).glob("*.yaml")}
        branded = af.load_flows(FLOWS, brand=brand)
        for flow in branded:
            changed = flow.content_hash != flows[flow.name].content_hash
            assert changed == (flow.name in overlaid), (brand, flow.name)
