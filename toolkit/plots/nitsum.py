"""Nitsum figures (seaborn). The paper's plotted points are not published; the blog's
numbers are drawn beside ours where it gives them (the ablation chain)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from toolkit.plots.style import apply_style


def tp_tradeoff(df: pd.DataFrame) -> plt.Figure:
    """Fig. 2: decode step time, GPU-ms per token and TTFT by TP level and batch."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    base = df[df["small_batch_gain"] == 1.0]
    sns.lineplot(df, x="tp", y="step_ms", hue="batch", style="small_batch_gain", marker="o",
                 ax=axes[0], palette="viridis")
    sns.lineplot(base, x="tp", y="gpu_ms_per_token", hue="batch", marker="o", ax=axes[1],
                 palette="viridis", legend=False)
    sns.lineplot(base.drop_duplicates("tp"), x="tp", y="ttft_ms", marker="o", ax=axes[2])
    axes[0].set(xscale="log", yscale="log", xlabel="TP", ylabel="decode step (ms)")
    axes[1].set(xscale="log", yscale="log", xlabel="TP", ylabel="GPU-ms per token")
    axes[2].set(xscale="log", xlabel="TP", ylabel="TTFT of the median prompt (ms)")
    axes[0].legend(fontsize=6)
    return fig


def oracle_windows(windows: pd.DataFrame) -> plt.Figure:
    """Fig. 3: goodput per window of each static TP level and the oracle's pick."""
    apply_style()
    tp_cols = [c for c in windows.columns if c.startswith("tp")]
    long = windows[tp_cols].reset_index().melt("window", var_name="config", value_name="goodput_rps")
    best = windows[tp_cols].max(axis=1).rename("goodput_rps").reset_index().assign(config="oracle")
    fig, ax = plt.subplots(figsize=(8, 3))
    sns.lineplot(pd.concat([long, best]), x="window", y="goodput_rps", hue="config", ax=ax)
    ax.set(xlabel="window", ylabel="goodput (req/s)")
    return fig


def oracle_gain_map(df: pd.DataFrame) -> plt.Figure:
    """Fig. 3, across settings: the oracle's gain over the best static TP by load, per SLO
    scale and small-batch TP gain, beside the blog's 23-29%."""
    apply_style()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    sns.lineplot(df.assign(gain_pct=100 * df["gain"]), x="rps", y="gain_pct", hue="slo_scale",
                 style="small_batch_gain", marker="o", palette="viridis", ax=ax)
    ax.axhspan(23, 29, color="gray", alpha=0.15, label="blog: +23 to +29%")
    ax.set(xlabel="offered load (req/s)", ylabel="oracle over best static TP (%)")
    ax.legend(fontsize=7)
    return fig


def migration_times(df: pd.DataFrame) -> plt.Figure:
    """Fig. 7: KV migration time by payload, per-block copies vs one gather kernel."""
    apply_style()
    long = df.melt("mib", value_vars=["per_block_ms", "gather_ms", "pipelined_send_ms"],
                   var_name="method", value_name="ms")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(long, x="mib", y="ms", hue="method", marker="o", ax=ax)
    ax.axhspan(3.6, 24.8, color="gray", alpha=0.15, label="Nitsum: 3.6-24.8 ms")
    ax.set(xscale="log", yscale="log", xlabel="KV payload (MiB)", ylabel="time (ms)")
    ax.legend(fontsize=7)
    return fig


def goodput_load(df: pd.DataFrame) -> plt.Figure:
    """Fig. 9: goodput vs offered load, every policy; per-tier attainment of each."""
    apply_style()
    tiers = sorted(c.removeprefix("attain_") for c in df.columns if c.startswith("attain_"))
    fig, axes = plt.subplots(1, 1 + len(tiers), figsize=(4 * (1 + len(tiers)), 3.2))
    sns.lineplot(df, x="rps", y="goodput_rps", hue="policy", marker="o", ax=axes[0])
    axes[0].plot(df["rps"], df["rps"], ls=":", c="gray")
    axes[0].set(xlabel="offered load (req/s)", ylabel="goodput (req/s)")
    axes[0].legend(fontsize=6)
    for ax, t in zip(axes[1:], tiers):
        sns.lineplot(df, x="rps", y=f"attain_{t}", hue="policy", marker="o", ax=ax, legend=False)
        ax.set(title=t, xlabel="offered load (req/s)", ylabel="SLO attainment", ylim=(0, 1.05))
    return fig


def ablation_bars(df: pd.DataFrame) -> plt.Figure:
    """The ablation chain: our goodput beside the blog's (14B, 8 H100, 70 RPS)."""
    apply_style()
    long = df.melt("step", value_vars=["goodput_rps", "blog_goodput_rps"], var_name="source",
                   value_name="req/s").replace({"goodput_rps": "ours", "blog_goodput_rps": "blog"})
    fig, ax = plt.subplots(figsize=(8, 3.2))
    sns.barplot(long, x="step", y="req/s", hue="source", ax=ax)
    ax.tick_params(axis="x", rotation=20)
    ax.set(xlabel="", ylabel="goodput (req/s)")
    return fig


def planner_time(df: pd.DataFrame) -> plt.Figure:
    """Planner decision time vs cluster size."""
    apply_style()
    fig, ax = plt.subplots(figsize=(4.5, 3))
    sns.lineplot(df, x="num_gpus", y="median_ms", marker="o", ax=ax, label="ours (median)")
    ax.axhline(2.5, ls="--", c="gray", label="Nitsum (Rust), 128 GPUs")
    ax.axhline(5.0, ls=":", c="gray", label="goal")
    ax.set(xscale="log", xlabel="GPUs", ylabel="decision time (ms)")
    ax.legend(fontsize=7)
    return fig


def latency_cdf(df: pd.DataFrame) -> plt.Figure:
    """TTFT (top) and TPOT (bottom) distributions (CDFs), one column per tier, per policy."""
    apply_style()
    tiers = sorted(df["tier"].unique())
    fig, axes = plt.subplots(2, len(tiers), figsize=(4 * len(tiers), 5.5), squeeze=False)
    for col, tier in enumerate(tiers):
        d = df[df["tier"] == tier]
        sns.ecdfplot(d[d["ttft_s"] > 0], x="ttft_s", hue="policy", ax=axes[0, col],
                     log_scale=True, legend=col == 0)
        sns.ecdfplot(d[d["tpot_s"] > 0], x="tpot_s", hue="policy", ax=axes[1, col],
                     log_scale=True, legend=False)
        axes[0, col].set(title=tier, xlabel="TTFT (s)")
        axes[1, col].set(xlabel="TPOT (s)")
    return fig
