"""Where the shipped flows are, installed or in a source checkout."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def shipped_flows() -> Path:
    """The folder of the flows shipped with the library (``flows/`` of the repository)."""
    try:
        installed = importlib.resources.files("aftersales_flow._shipped_flows")
        candidate = Path(str(installed))
        if (candidate / "repair_order.yaml").is_file():
            return candidate
    except (ModuleNotFoundError, TypeError, ValueError):  # pragma: no cover - depends on the install
        pass
    return Path(__file__).resolve().parents[2] / "flows"
