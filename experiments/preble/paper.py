"""Preble's published numbers, to draw beside the toolkit's (ICLR 2025, arXiv 2407.00023).

Fig. 3 points are exact coordinates from the authors' vector figure (`data/preble_fig3.json`,
copied from `shared/papers/figdata`); Fig. 4 and the scalability rates are from the paper's
text (see `shared/papers/fulltext_findings.md` §1.6–1.7).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

FIG3_JSON = Path(__file__).parent / "data" / "preble_fig3.json"

# toolkit workload name -> the paper's panel name
PANEL_NAMES = {
    "toolbench": "ToolUse",
    "embodied": "EmbodiedAgent",
    "programming": "Programming",
    "videoqa": "VideoQA",
    "loogle": "LooGLE",
}
SERIES = {"Preble": "paper: Preble", "SGLang": "paper: SGLang", "Oracle": "paper: Oracle"}

# Fig. 4: tool use + video QA mixed, Azure arrivals, 4 A6000 (Mistral-7B per the code).
FIG4 = pd.DataFrame(
    [
        {"system": "sglang_rr", "latency_s_mean": 11.68, "latency_s_p99": 68.84,
         "tpot_s_mean": 0.298, "ttft_s_mean": 1.010},
        {"system": "preble", "latency_s_mean": 1.94, "latency_s_p99": 14.92,
         "tpot_s_mean": 0.0532, "ttft_s_mean": 0.418},
    ]
)
FIG4_RATIOS = {"latency_s_mean": 6.02, "latency_s_p99": 4.61, "tpot_s_mean": 5.60,
               "ttft_s_mean": 2.42}

# §4.4: one global scheduler saturated by a burst of requests on the A6000 testbed.
SCHEDULER_RATES = {"toolbench": 245.0, "videoqa": 2931.0}

# Headline ranges of §4.3 (SGLang / Preble).
HEADLINE = {"mean": (1.5, 14.5), "p99": (2.0, 10.0), "programming_mean": (1.56, 1.8),
            "programming_p99": (3.0, 4.0)}


@lru_cache(maxsize=1)
def _fig3_raw() -> dict:
    return json.loads(FIG3_JSON.read_text())


def fig3_points(setup_panel: str) -> pd.DataFrame:
    """The paper's Fig. 3 points of one setup (e.g. 'Mistral7B 2xA6000').

    Columns: workload (toolkit name), series, rps, metric ('mean' | 'p99'), latency_s.
    """
    rows = []
    for key, series in _fig3_raw().items():
        panel, workload = (part.strip() for part in key.split("|"))
        setup, metric = panel.rsplit(" ", 1)
        if setup != setup_panel:
            continue
        name = next(k for k, v in PANEL_NAMES.items() if v == workload)
        for label, points in series.items():
            for rps, latency, in_range in points:
                if not in_range:  # outside the plotted x-range (see the JSON notes)
                    continue
                rows.append({"workload": name, "series": SERIES[label], "rps": rps,
                             "metric": "mean" if metric == "Avg" else "p99",
                             "latency_s": latency})
    return pd.DataFrame(rows, columns=["workload", "series", "rps", "metric", "latency_s"])


def fig3_rates(setup_panel: str, workload: str) -> list[float]:
    """The request rates the paper plotted for one setup and workload."""
    pts = fig3_points(setup_panel)
    pts = pts[(pts["workload"] == workload) & (pts["series"] == "paper: Preble")]
    return sorted(set(pts["rps"]))


def fig3_ratios(setup_panel: str) -> pd.DataFrame:
    """The paper's SGLang ÷ Preble ratios per workload and rate, mean and p99."""
    pts = fig3_points(setup_panel)
    wide = pts.pivot_table(index=["workload", "rps", "metric"], columns="series",
                           values="latency_s").reset_index()
    wide["ratio"] = wide["paper: SGLang"] / wide["paper: Preble"]
    out = wide.pivot_table(index=["workload", "rps"], columns="metric", values="ratio")
    out.columns = [f"paper_ratio_{c}" for c in out.columns]
    return out.reset_index()

# Table 1 (Appendix A): (mean, std) per workload; lengths in tokens, shares in %.
TABLE1 = pd.DataFrame(
    [
        ("toolbench", 1835, 742, 43, 16, 85, 13, 76, 16, 39, 64),
        ("embodied", 2285, 471, 16, 13, 97, 14, 76, 12, 48, 8),
        ("programming", 3871, 1656, 190, 343, 97, 7.4, 78, 13, 126, 2157),
        ("videoqa", 9865, 5976, 4, 1.5, 88, 32, 99, 0.2, 8.6, 2),
        ("loogle", 23474, 6105, 16, 9.9, 91, 24, 94, 15, 18, 8.6),
    ],
    columns=["workload", "prompt_len_mean", "prompt_len_std", "output_len_mean",
             "output_len_std", "shared_prefix_pct_mean", "shared_prefix_pct_std",
             "key_portion_pct_mean", "key_portion_pct_std", "key_sharing_mean",
             "key_sharing_std"],
)
