"""DAS figures (seaborn). The paper published no plotted points; where it gives a number,
it is drawn as a reference line."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from toolkit.plots.style import apply_style


def batch_collapse(df: pd.DataFrame) -> plt.Figure:
    """Fig. 1: running share of the batch per decode step, per backend (engine 0)."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, (backend, g) in zip(axes, df[df["engine"] == 0].groupby("backend")):
        sns.lineplot(g, x="decode_step", y="share", ax=ax)
        ax.set(title=backend, xlabel="decode step", ylabel="running / batch", ylim=(0, 1.05))
    return fig


def acceptance_over_epochs(df: pd.DataFrame) -> plt.Figure:
    """Figs. 4, 6, 7: accepted tokens per round by epoch, drafters and DAS windows."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    windows = df["drafter"].str.startswith("DAS, window")
    sns.lineplot(df[~windows], x="epoch", y="accepted_per_round", hue="drafter", marker="o",
                 ax=axes[0])
    sns.lineplot(df[windows], x="epoch", y="accepted_per_round", hue="drafter", marker="o",
                 ax=axes[1])
    w = df[windows].groupby("drafter")[["accepted_per_round", "propose_us"]].mean().reset_index()
    sns.scatterplot(w, x="propose_us", y="accepted_per_round", hue="drafter", ax=axes[2],
                    legend=False)
    for r in w.itertuples():
        axes[2].annotate(r.drafter.replace("DAS, window ", "W="), (r.propose_us,
                                                                   r.accepted_per_round))
    axes[0].set(title="drafters", ylabel="accepted tokens per round")
    axes[1].set(title="DAS window", ylabel="accepted tokens per round")
    axes[2].set(title="window: acceptance vs drafting time", xlabel="proposal time (µs)")
    for ax in axes[:2]:
        ax.legend(fontsize=6)
    return fig


def drafter_speed(df: pd.DataFrame) -> plt.Figure:
    """Fig. 5: proposal and update time by corpus size."""
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    sns.lineplot(df, x="corpus_tokens", y="propose_us", hue="drafter", marker="o", ax=axes[0])
    sns.lineplot(df, x="corpus_tokens", y="update_us_per_100", hue="drafter", marker="o",
                 ax=axes[1])
    axes[0].axhline(20, ls="--", c="gray")
    axes[1].axhline(1000, ls="--", c="gray")
    axes[0].set(xscale="log", yscale="log", ylabel="proposal (µs, median)")
    axes[1].set(xscale="log", yscale="log", ylabel="update per 100 tokens (µs)")
    return fig


def step_fit(points: pd.DataFrame, fits: pd.DataFrame) -> plt.Figure:
    """Fig. 8: step time against tokens per step, with each source's linear fit."""
    apply_style()
    sources = list(fits["source"])
    fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 3.2))
    for ax, f in zip(axes, fits.itertuples()):
        g = points[points["source"] == f.source]
        ax.scatter(g["tokens"], g["seconds"] * 1e3, s=8)
        xs = sorted(g["tokens"])
        ax.plot(xs, [f.c_base_ms + f.c_tok_us * x / 1e3 for x in xs], c="k")
        ax.set(title=f"{f.source}\nMRE {f.mean_rel_error:.1%}", xlabel="tokens per step",
               ylabel="step (ms)")
    return fig


def generation_curves(gen: pd.DataFrame) -> plt.Figure:
    """Figs. 10-11: generation time and reward per RL step, with and without DAS."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    eng, sim = gen[gen["backend"] == "engine"], gen[gen["backend"] == "sim"]
    sns.lineplot(eng, x="step", y="generation_s", hue="system", marker="o", ax=axes[0])
    sns.lineplot(eng, x="step", y="reward", hue="system", marker="o", ax=axes[1])
    sns.lineplot(sim, x="step", y="generation_s", hue="system", marker="o", ax=axes[2])
    axes[0].set(title="engine (tiny policy, CPU)", ylabel="generation (s)")
    axes[1].set(title="engine: reward", ylim=(-0.05, 1.05))
    axes[2].set(title="simulator (paper scale, H200 costs)", ylabel="makespan (s)")
    return fig


def budget_bars(abl: pd.DataFrame) -> plt.Figure:
    """Fig. 12: makespan after the first step per budget, at two batch sizes per engine."""
    apply_style()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.barplot(abl, x="budget", y="steps_after_first", hue="engines", ax=ax)
    ax.set(ylabel="makespan, steps >= 1 (s)")
    ax.tick_params(axis="x", rotation=30)
    return fig


def budget_by_drafter_bars(tab: pd.DataFrame) -> plt.Figure:
    """Fig. 12 per drafter: makespan after the first step per budget, relative to no
    speculation with the same drafter."""
    apply_style()
    none = tab[tab["budget"] == "none"].set_index("drafter")["steps_after_first"]
    rel = tab.assign(relative=tab["steps_after_first"] / tab["drafter"].map(none))
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    sns.barplot(rel, x="budget", y="relative", hue="drafter", ax=ax)
    ax.axhline(1.0, ls="--", c="gray")
    ax.set(ylabel="makespan vs no speculation")
    return fig


def cap_bars(cap: pd.DataFrame, paper_cut: float) -> plt.Figure:
    """Fig. 13: generation-time reduction by setting, beside the paper's >30% (8K cap)."""
    apply_style()
    fig, ax = plt.subplots(figsize=(6, 3))
    sns.barplot(cap, x="setting", y="reduction", ax=ax)
    ax.axhline(paper_cut, ls="--", c="gray", label="paper: >30% (8K cap)")
    ax.legend()
    ax.set(ylabel="generation time cut")
    return fig
