"""Dealership rules: signatures, per-line authorization, settlement against the estimate."""

from __future__ import annotations
