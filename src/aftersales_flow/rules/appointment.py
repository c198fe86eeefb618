"""Rules of the appointment flows (filled in by the flow's author)."""

from __future__ import annotations
