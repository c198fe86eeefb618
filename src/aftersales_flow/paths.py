"""Where the shipped flows are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_flows() -> Path:
    """The folder of the flows shipped with the library (``flows/`` of the repository).

    An installed package carries them as ``aftersales_flow/_shipped_flows``; a source checkout
    (or an editable install) reads the repository's ``flows/`` folder.
    """
    installed = _PACKAGE / "_shipped_flows"
    if (installed / "repair_order.yaml").is_file():
        return installed
    return _PACKAGE.parents[1] / "flows"
