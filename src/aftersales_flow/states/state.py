"""What a state is: a name, labels in English and Chinese, and its features as data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from aftersales_flow.states.deadline import DeadlineSpec


@attrs.frozen(kw_only=True)
class Label:
    """A name shown to people, in English and Chinese."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        """The label in ``lang`` (``en`` or ``zh``), falling back to English."""
        return self.zh if lang == "zh" else self.en

    def to_dict(self) -> dict[str, str]:
        """The label as a JSON-ready mapping."""
        return {"en": self.en, "zh": self.zh}


@attrs.frozen(kw_only=True)
class State:
    """A state of a flow. ``terminal`` states accept no event."""

    name: str
    label: Label
    terminal: bool = False
    tags: tuple[str, ...] = ()
    description: str = ""
    deadlines: tuple[DeadlineSpec, ...] = ()
    where: str = ""
    """``file:line:col`` of the state's definition, for messages."""
