"""InferCept figures: normalized latency, throughput and TTFT against rate per setup (with
the paper's points), the technique breakdown, memory waste and recomputation shares."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from toolkit.plots.style import apply_style

POLICY_PALETTE = {
    "vLLM": "#b2182b", "ImprovedDiscard": "#ef8a62", "Preserve": "#67a9cf", "Swap": "#8073ac",
    "InferCept": "#1b7837", "+MinWasteDiscard": "#fdb863", "+MinWasteSwap": "#b2abd2",
    "+HeuristicPreserve": "#a6dba0", "InferCept (oracle)": "#1b7837",
    "InferCept (estimate)": "#7fbf7b",
}


def e2e_vs_rate(ours: pd.DataFrame, paper: pd.DataFrame | None = None) -> plt.Figure:
    """Rows: mean normalized latency (ms/token, log scale), completed requests/s, mean TTFT
    (s); one column per setup. The paper's normalized latency points are drawn dashed."""
    apply_style()
    setups = list(dict.fromkeys(ours["setup"]))
    rows = (("norm_latency_ms_mean", "norm. latency (ms/token)"),
            ("throughput_rps", "completed req/s"), ("ttft_s_mean", "mean TTFT (s)"))
    fig, axes = plt.subplots(len(rows), len(setups), figsize=(3.4 * len(setups), 8.4),
                             squeeze=False)
    for col, setup in enumerate(setups):
        mine = ours[ours["setup"] == setup]
        for row, (metric, label) in enumerate(rows):
            ax = axes[row][col]
            sns.lineplot(data=mine, x="rps", y=metric, hue="series", marker="o",
                         palette=POLICY_PALETTE, ax=ax, legend=(row == 0 and col == 0))
            if row == 0 and paper is not None and len(paper):
                theirs = paper[(paper["setup"] == setup) & paper["in_range"]]
                sns.lineplot(data=theirs, x="rps", y="norm_latency_ms", hue="policy", marker="x",
                             linestyle="--", palette=POLICY_PALETTE, ax=ax, legend=False,
                             alpha=0.6)
            if row != 1:
                ax.set_yscale("log")
            ax.set_title(setup if row == 0 else "")
            ax.set_xlabel("requests/s")
            ax.set_ylabel(label)
    fig.suptitle("InferCept Fig. 2 — ours solid, the paper's dashed (normalized latency)")
    fig.tight_layout()
    return fig


def breakdown_bars(df: pd.DataFrame, order: list[str]) -> plt.Figure:
    """Mean normalized latency and GPU-memory waste of each breakdown step, per rate."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (metric, label) in zip(axes, (("norm_latency_ms_mean", "norm. latency (ms/token)"),
                                          ("waste_frac", "GPU memory waste (share)"))):
        sns.barplot(data=df, x="series", y=metric, hue="rps", order=order, ax=ax)
        ax.set_xlabel("")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def waste_bars(df: pd.DataFrame) -> plt.Figure:
    """Memory waste split by cause, and the share of time recomputing, per policy and rate."""
    apply_style()
    long = df.melt(id_vars=["series", "rps"], var_name="cause", value_name="share",
                   value_vars=["waste_preserve_frac", "waste_recompute_frac", "waste_swap_frac"])
    long["cause"] = long["cause"].str.replace("waste_", "").str.replace("_frac", "")
    g = sns.catplot(data=long, kind="bar", x="series", y="share", hue="cause", col="rps",
                    height=3.2, aspect=1.2)
    g.set_xticklabels(rotation=30)
    g.set_axis_labels("", "GPU memory waste (share of capacity x time)")
    return g.figure


def single_vs_rate(df: pd.DataFrame) -> plt.Figure:
    """Normalized latency against rate per single-augmentation workload."""
    apply_style()
    g = sns.relplot(data=df, kind="line", x="rps", y="norm_latency_ms_mean", hue="series",
                    col="augmentation", marker="o", palette=POLICY_PALETTE, height=3.2,
                    facet_kws={"sharey": False})
    g.set(yscale="log")
    g.set_axis_labels("requests/s", "norm. latency (ms/token)")
    return g.figure
