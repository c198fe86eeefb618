"""Rules of the complaint flows (filled in by the flow's author)."""

from __future__ import annotations
