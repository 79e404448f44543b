"""The shared look of every figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

SYSTEM_PALETTE = {
    "preble": "#1b7837",
    "sglang_rr": "#b2182b",
    "paper: Preble": "#5aae61",
    "paper: SGLang": "#d6604d",
    "paper: Oracle": "#8c8c8c",
}


def apply_style() -> None:
    """Set the seaborn theme used by every toolkit figure."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight"})


def save(fig: plt.Figure, path: str) -> str:
    """Save a figure as PNG (and nothing else); return the path."""
    fig.savefig(path)
    return path
