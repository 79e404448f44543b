"""The papers' plotted points the package carries are the shared folder's, unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.infercept.figures import FIGDATA as INFERCEPT_FIG2
from experiments.preble.paper import FIG3_JSON as PREBLE_FIG3


@pytest.mark.parametrize("packaged", [PREBLE_FIG3, INFERCEPT_FIG2], ids=lambda p: p.name)
def test_packaged_figure_points_match_shared(packaged: Path, shared_dir: Path) -> None:
    shared = shared_dir / "papers" / "figdata" / packaged.name
    if not shared.exists():
        pytest.skip(f"{shared} not found")
    assert json.loads(packaged.read_text()) == json.loads(shared.read_text())
