"""Rules of the customer complaint (domain.md §2c): levels, participants, resolutions, bottom line.

A complaint is handled at one of three escalation levels (``current_level``), each with the
participants a brand lists in ``params.complaint_levels`` (``level_1: [cs_director,
service_advisor, callback_agent]``…). The case records who joined each level as
``level_participants`` items ``{level: 2, members: [{role, person_id | name}, …]}``. A proposal
lists ``resolution_options`` items ``{option_id, resolution_type, description,
discount_amount?}``, a ``bottom_line`` ``{description, max_discount?}`` and the signature
record of its approver, ``bottom_line_approval``. The customer's pick is ``chosen_option``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeGuard

from aftersales_flow.rules._registry import RuleContext, rule
from aftersales_flow.rules.builtin import is_blank
from aftersales_flow.rules.dealership import signature_problem

TOP_LEVEL = 3
"""The highest escalation level: the flow has one handling state per level."""
LEVEL_KEYS = ("level_1", "level_2", "level_3")
"""How parameters name the levels (``complaint_levels``, ``discount_authority``…)."""
RESPONSIBILITIES = ("dealer", "not_dealer", "shared")
"""The determined responsibilities (``undetermined`` allows no resolution)."""
REPAIR_ORDER_RESOLUTIONS = ("rework_at_dealer_cost", "free_inspection")
"""Resolutions carried out on a linked repair order, done when that order is delivered or closed."""
DISCOUNT_RESOLUTIONS = ("labour_discount", "charge_discount")
"""Resolutions carried out by applying a discount."""
FINISHED_ORDER_STATUSES = ("delivered", "closed")
"""Statuses of a linked repair order that mean its work has been handed back."""

Level = Literal[1, 2, 3]
_ROLE_WORDS = {"cs_director": "customer-service director"}


# --- wording and data helpers --------------------------------------------------------------


def _role(role: Any) -> str:
    return _ROLE_WORDS.get(str(role), str(role).replace("_", " "))


def _listed(words: list[str], last: str = "and") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _the_roles(roles: list[str], last: str = "and") -> str:
    return _listed([f"the {_role(role)}" for role in roles], last)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _level_key(level: int) -> str:
    return f"level_{level}"


def _current_level(ctx: RuleContext) -> int | None:
    level = ctx.get("current_level")
    return level if isinstance(level, int) and not isinstance(level, bool) else None


def _level(ctx: RuleContext, level: int | None) -> int | None:
    """The level a rule judges: the one it is given, else the case's current level."""
    return level if level is not None else _current_level(ctx)


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _options(ctx: RuleContext) -> list[Mapping[str, Any]]:
    return _mappings(ctx.get("resolution_options"))


def _option_name(option: Mapping[str, Any]) -> str:
    return f"option {option.get('option_id', '?')}"


def _chosen(ctx: RuleContext) -> Mapping[str, Any] | None:
    """The offered option the customer chose, or None."""
    chosen = ctx.get("chosen_option")
    return next((o for o in _options(ctx) if o.get("option_id") == chosen), None)


def _members(ctx: RuleContext, level: int) -> list[Mapping[str, Any]]:
    """The recorded participants of ``level``."""
    for entry in _mappings(ctx.get("level_participants")):
        if entry.get("level") == level:
            return _mappings(entry.get("members"))
    return []


# --- load-time checks of the parameters ----------------------------------------------------


def _per_level_problem(value: Any, check: Callable[[Any], bool], wanted: str) -> str | None:
    if not isinstance(value, Mapping):
        return None  # the loader reports a wrong type itself
    unknown = sorted(set(value) - set(LEVEL_KEYS))
    if unknown:
        return f"names unknown levels {', '.join(unknown)}; the levels are {', '.join(LEVEL_KEYS)}"
    for key in LEVEL_KEYS:
        if key not in value or not check(value[key]):
            return f"'{key}' must be {wanted}"
    return None


def _role_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, str) and r for r in value)


def _roles_problem(value: Any) -> str | None:
    return _per_level_problem(value, _role_list, "a non-empty list of roles")


def _authority_problem(value: Any) -> str | None:
    return _per_level_problem(
        value,
        lambda limit: limit is None or (_is_number(limit) and limit >= 0),
        "an amount (null: unlimited)",
    )


def _resolutions_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    unknown = sorted(set(value) - set(RESPONSIBILITIES))
    if unknown:
        return f"names unknown responsibilities {', '.join(unknown)}; use {', '.join(RESPONSIBILITIES)}"
    for key, kinds in value.items():
        if not _role_list(kinds):
            return f"'{key}' must be a non-empty list of resolution types"
    return None


def _entry_levels_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    for channel, level in value.items():
        if level not in (1, 2, 3) or isinstance(level, bool):
            return f"channel '{channel}' must enter at level 1, 2 or 3 (got {level!r})"
    return None


# --- rules ---------------------------------------------------------------------------------


@rule(
    "director_notified", description="an on-site complaint is reported to the customer-service director first"
)
def director_notified(ctx: RuleContext) -> str | None:
    """Holds unless the complaint was made on site and the customer-service director is not yet told."""
    if ctx.get("channel") != "on_site" or ctx.get("director_notified") is True:
        return None
    return (
        "an on-site complaint cannot proceed before the customer-service director is notified; "
        "record 'notify_director' first"
    )


@rule(
    "entry_level",
    description="the complaint's channel enters at level {level}",
    checks={"entry_levels": _entry_levels_problem},
)
def entry_level(ctx: RuleContext, *, level: Level, entry_levels: dict[str, int]) -> str | None:
    """Holds when the complaint's channel enters at ``level`` (channels not listed enter at level 1)."""
    channel = ctx.get("channel")
    if is_blank(channel):
        return "the complaint's channel is not recorded"
    expected = entry_levels.get(str(channel), 1)
    if expected == level:
        return None
    return f"a complaint received through '{channel}' starts at level {expected}, not level {level}"


@rule(
    "level_participants_recorded",
    description="every participant of the level is recorded on the case",
    checks={"levels": _roles_problem},
)
def level_participants_recorded(
    ctx: RuleContext, *, levels: dict[str, list[str]], level: Level | None = None
) -> str | None:
    """Each role ``levels`` lists for the level (default: the current one) has a named participant."""
    judged = _level(ctx, level)
    if judged is None:
        return "the complaint's level is not set"
    present = {
        member.get("role")
        for member in _members(ctx, judged)
        if not (is_blank(member.get("person_id")) and is_blank(member.get("name")))
    }
    missing = [role for role in levels.get(_level_key(judged), []) if role not in present]
    if not missing:
        return None
    return (
        f"the participants of level {judged} are not all recorded on the case: "
        f"{_the_roles(missing)} {'is' if len(missing) == 1 else 'are'} missing"
    )


@rule(
    "acting_level_participant",
    description="the person acting takes part in the complaint's current level",
    checks={"levels": _roles_problem},
)
def acting_level_participant(ctx: RuleContext, *, levels: dict[str, list[str]]) -> str | None:
    """Holds when the actor holds one of the roles ``levels`` lists for the current level."""
    judged = _current_level(ctx)
    if judged is None:
        return "the complaint's level is not set"
    roles = levels.get(_level_key(judged), [])
    if ctx.actor.roles & set(roles):
        return None
    return f"at level {judged} this is done by a participant of the level: {_the_roles(roles, 'or')}"


@rule("escalates_to", description="the complaint's next level is {level}")
def escalates_to(ctx: RuleContext, *, level: Literal[2, 3]) -> str | None:
    """Holds when the complaint is one level below ``level``; nothing goes beyond the top level."""
    current = _current_level(ctx)
    if current is None:
        return "the complaint's level is not set"
    if current >= TOP_LEVEL:
        return f"the complaint is already at level {TOP_LEVEL}, the highest; it cannot be escalated further"
    if current + 1 != level:
        return f"the complaint is at level {current}; its next level is {current + 1}, not {level}"
    return None


@rule(
    "resolutions_fit_responsibility",
    description="the responsibility is determined and every option offered is allowed for it",
    checks={"allowed": _resolutions_problem},
)
def resolutions_fit_responsibility(ctx: RuleContext, *, allowed: dict[str, list[str]]) -> list[str]:
    """The responsibility is decided, options are offered, and each option's type is allowed for it."""
    responsibility = ctx.get("responsibility")
    if responsibility not in RESPONSIBILITIES:
        shown = "not recorded" if is_blank(responsibility) else f"'{responsibility}'"
        return [f"the responsibility must be determined before a resolution is proposed (it is {shown})"]
    raw = ctx.get("resolution_options")
    if not isinstance(raw, list) or not raw:
        return ["no resolution option is offered"]
    permitted = allowed.get(str(responsibility), [])
    problems = []
    seen: set[Any] = set()
    for index, option in enumerate(raw, start=1):
        if not isinstance(option, Mapping) or is_blank(option.get("option_id")):
            problems.append(f"option #{index} needs its 'option_id'")
            continue
        kind = option.get("resolution_type")
        if option["option_id"] in seen:
            problems.append(f"{_option_name(option)} is listed twice")
        seen.add(option["option_id"])
        if is_blank(kind):
            problems.append(f"{_option_name(option)} has no 'resolution_type'")
        elif kind not in permitted:
            problems.append(
                f"{_option_name(option)} offers '{kind}', which is not a resolution when the responsibility "
                f"is '{responsibility}' (allowed: {', '.join(permitted) or 'none'})"
            )
    return problems


def _amount_problem(what: str, amount: Any) -> str | None:
    if not _is_number(amount) or amount < 0:
        return f"{what} must be an amount of at least 0 (it is {amount!r})"
    return None


@rule(
    "discount_within_authority",
    description="every discount offered is within the level's discount authority and the bottom line",
    checks={"authority": _authority_problem},
)
def discount_within_authority(ctx: RuleContext, *, authority: dict[str, float | None]) -> list[str]:
    """Discounts offered stay within ``authority`` for the current level (null: no limit).

    The bottom line's ``max_discount`` stays within the authority too, and no option's
    ``discount_amount`` goes beyond the bottom line.
    """
    judged = _current_level(ctx)
    if judged is None:
        return ["the complaint's level is not set"]
    key = _level_key(judged)
    if key not in authority:
        return [f"no discount authority is set for level {judged} (discount_authority.{key})"]
    limit = authority[key]
    above = f"above the discount authority of level {judged} ({_money(limit or 0)})"
    problems = []
    bottom = ctx.get("bottom_line")
    ceiling = bottom.get("max_discount") if isinstance(bottom, Mapping) else None
    if ceiling is not None:
        problem = _amount_problem("the bottom line's 'max_discount'", ceiling)
        if problem:
            problems.append(problem)
            ceiling = None
        elif limit is not None and Decimal(str(ceiling)) > Decimal(str(limit)):
            problems.append(f"the bottom line allows a discount of {_money(ceiling)}, {above}")
    for option in _options(ctx):
        amount = option.get("discount_amount")
        if amount is None:
            continue
        name = _option_name(option)
        problem = _amount_problem(f"{name}'s 'discount_amount'", amount)
        if problem:
            problems.append(problem)
        elif limit is not None and Decimal(str(amount)) > Decimal(str(limit)):
            problems.append(f"{name} offers a discount of {_money(amount)}, {above}; escalate or lower it")
        elif ceiling is not None and Decimal(str(amount)) > Decimal(str(ceiling)):
            problems.append(
                f"{name} offers a discount of {_money(amount)}, beyond the bottom line of {_money(ceiling)}"
            )
    return problems


@rule(
    "bottom_line_recorded",
    description="the bottom line and its approver are recorded",
    checks={"approvers": _roles_problem},
)
def bottom_line_recorded(ctx: RuleContext, *, approvers: dict[str, list[str]]) -> list[str]:
    """A bottom line is described and signed by an approver ``approvers`` allows at the current level."""
    problems = []
    bottom = ctx.get("bottom_line")
    if not isinstance(bottom, Mapping) or is_blank(bottom.get("description")):
        problems.append("the bottom line is not recorded ('bottom_line' with its 'description')")
    judged = _current_level(ctx)
    if judged is None:
        return [*problems, "the complaint's level is not set"]
    allowed = approvers.get(_level_key(judged), [])
    record = ctx.get("bottom_line_approval")
    role = record.get("signer_role") if isinstance(record, Mapping) else None
    if is_blank(record):
        problems.append(
            f"the bottom line's approval is not recorded; at level {judged} "
            f"{_the_roles(allowed, 'or')} signs 'bottom_line_approval'"
        )
    elif role not in allowed:
        who = f"a {_role(role)}" if isinstance(role, str) and role else "someone without a role"
        problems.append(
            f"at level {judged} the bottom line is approved by {_the_roles(allowed, 'or')}, not by {who}"
        )
    else:
        problem = signature_problem(record, signer_role=str(role), methods=None)
        if problem:
            problems.append(f"the bottom line's approval is {problem}")
    return problems


@rule("chosen_option_offered", description="the customer chose one of the options offered")
def chosen_option_offered(ctx: RuleContext) -> str | None:
    """Holds when ``chosen_option`` names an offered option."""
    if _chosen(ctx) is not None:
        return None
    chosen = ctx.get("chosen_option")
    offered = ", ".join(str(o.get("option_id")) for o in _options(ctx)) or "none"
    if is_blank(chosen):
        return f"the option the customer chose is not recorded ('chosen_option'; offered: {offered})"
    return f"the customer chose option {chosen}, which was not offered (offered: {offered})"


@rule(
    "rework_scheduled", description="a rework or free inspection is booked at a time that suits the customer"
)
def rework_scheduled(ctx: RuleContext) -> str | None:
    """When the chosen resolution needs a repair order, its time agreed with the customer is recorded."""
    option = _chosen(ctx)
    if option is None or option.get("resolution_type") not in REPAIR_ORDER_RESOLUTIONS:
        return None
    if is_blank(ctx.get("resolution_scheduled_for")):
        kind = str(option.get("resolution_type")).replace("_", " ")
        return f"the {kind} needs a time that suits the customer ('resolution_scheduled_for')"
    return None


@rule("resolution_carried_out", description="the chosen resolution is carried out")
def resolution_carried_out(ctx: RuleContext) -> list[str]:
    """A rework or inspection order is delivered or closed; a discount is applied.

    Which facts are needed follows the chosen option: its linked repair order for a rework or
    a free inspection, ``discount_applied`` for a discount resolution or any option with a
    discount amount. An apology or an explanation needs neither.
    """
    option = _chosen(ctx)
    if option is None:
        return ["the resolution the customer chose is not recorded"]
    problems = []
    kind = option.get("resolution_type")
    if kind in REPAIR_ORDER_RESOLUTIONS:
        order, status = ctx.get("repair_order_id"), ctx.get("repair_order_status")
        if is_blank(order):
            problems.append(
                f"the {str(kind).replace('_', ' ')} needs its linked repair order ('repair_order_id')"
            )
        elif status not in FINISHED_ORDER_STATUSES:
            shown = "not recorded" if is_blank(status) else f"'{status}'"
            problems.append(
                f"the linked repair order {order} is not delivered or closed yet (its status is {shown})"
            )
    discount = option.get("discount_amount")
    has_discount = kind in DISCOUNT_RESOLUTIONS or (_is_number(discount) and discount > 0)
    if has_discount and ctx.get("discount_applied") is not True:
        problems.append("the discount is not recorded as applied ('discount_applied')")
    return problems


@rule(
    "satisfaction_confirmed",
    description="the customer's satisfaction is confirmed in their words or a rating",
)
def satisfaction_confirmed(ctx: RuleContext) -> list[str]:
    """``satisfaction`` holds the customer's words or a rating, how it was given, and 'anything else?'."""
    record = ctx.get("satisfaction")
    if not isinstance(record, Mapping):
        return ["the customer's confirmation is not recorded ('satisfaction': their words or a rating)"]
    problems = []
    if is_blank(record.get("words")) and not _is_number(record.get("rating")):
        problems.append("the customer's satisfaction needs their own words or a rating")
    if record.get("method") not in ("phone", "in_person"):
        problems.append("say how the customer confirmed: 'method' is 'phone' or 'in_person'")
    if is_blank(record.get("anything_else")):
        problems.append("ask whether there is anything else and record the answer ('anything_else')")
    return problems


@rule("needs_repair_order", description="the chosen resolution is carried out on a repair order")
def needs_repair_order(ctx: RuleContext) -> str | None:
    """Holds when the customer chose a rework or free inspection (which a repair order carries out)."""
    option = _chosen(ctx)
    if option is not None and option.get("resolution_type") in REPAIR_ORDER_RESOLUTIONS:
        return None
    return "the chosen resolution needs no repair order"
