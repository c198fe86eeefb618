"""Rules of the customer care flows (filled in by the flow's author)."""

from __future__ import annotations
