"""Preble figures: latency vs rate beside the paper's points, ablation bars, scalability."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from toolkit.plots.style import SYSTEM_PALETTE, apply_style


def latency_vs_rate(ours: pd.DataFrame, paper: pd.DataFrame | None, title: str) -> plt.Figure:
    """Mean and p99 latency (s) vs requests/s, one column per workload.

    `ours`: rows with workload, system, rps, latency_s_mean, latency_s_p99.
    `paper`: rows with workload, series ('paper: Preble', ...), rps, metric ('mean'|'p99'),
    latency_s — drawn dashed beside ours.
    """
    apply_style()
    workloads = list(dict.fromkeys(ours["workload"]))
    fig, axes = plt.subplots(2, len(workloads), figsize=(3.2 * len(workloads), 5.2),
                             squeeze=False)
    for col, wl in enumerate(workloads):
        for row, (metric, label) in enumerate((("mean", "mean"), ("p99", "p99"))):
            ax = axes[row][col]
            mine = ours[ours["workload"] == wl]
            sns.lineplot(data=mine, x="rps", y=f"latency_s_{metric}", hue="system", marker="o",
                         palette=SYSTEM_PALETTE, ax=ax, legend=(row == 0 and col == 0))
            if paper is not None and len(paper):
                theirs = paper[(paper["workload"] == wl) & (paper["metric"] == metric)]
                sns.lineplot(data=theirs, x="rps", y="latency_s", hue="series", marker="x",
                             linestyle="--", palette=SYSTEM_PALETTE, ax=ax,
                             legend=(row == 1 and col == 0))
            ax.set_title(f"{wl} ({label})")
            ax.set_xlabel("requests/s")
            ax.set_ylabel(f"{label} latency (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def ablation_bars(df: pd.DataFrame) -> plt.Figure:
    """Mean and p99 latency per ablation step (rows: step, latency_s_mean, latency_s_p99)."""
    apply_style()
    long = df.melt(id_vars=["step"], value_vars=["latency_s_mean", "latency_s_p99"],
                   var_name="metric", value_name="latency_s")
    long["metric"] = long["metric"].map({"latency_s_mean": "mean", "latency_s_p99": "p99"})
    fig, ax = plt.subplots(figsize=(7, 3.2))
    sns.barplot(data=long, x="step", y="latency_s", hue="metric", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("latency (s)")
    ax.tick_params(axis="x", rotation=15)
    fig.tight_layout()
    return fig


def scalability(df: pd.DataFrame, paper_rates: dict[str, float]) -> plt.Figure:
    """Router decisions per second vs engines, one line per workload, paper rates dashed."""
    apply_style()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(data=df, x="num_engines", y="decisions_per_s", hue="workload", marker="o", ax=ax)
    for i, (wl, rate) in enumerate(paper_rates.items()):
        ax.axhline(rate, linestyle="--", color=sns.color_palette()[i],
                   label=f"paper, end to end: {wl}")
    ax.set_yscale("log")
    ax.set_xlabel("GPUs (engines)")
    ax.set_ylabel("route() calls / s (router alone)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def metric_bars(df: pd.DataFrame, metrics: list[str], title: str) -> plt.Figure:
    """Side-by-side bars of `metrics` per `source` (e.g. ours vs paper) and system."""
    apply_style()
    long = df.melt(id_vars=["source", "system"], value_vars=metrics, var_name="metric",
                   value_name="value")
    grid = sns.catplot(data=long, x="system", y="value", hue="source", col="metric", kind="bar",
                       sharey=False, height=2.8, aspect=0.9)
    grid.figure.suptitle(title, y=1.03)
    return grid.figure
