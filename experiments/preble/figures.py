"""Each Preble figure's recipe: which runs, and the DataFrame the notebook plots.

Notebooks call these functions and nothing else; every function takes `quick` (a small
version for CI), `overrides` (extra Hydra overrides for every run) and `results_dir`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.common.claims import Claim, bound, claims_table
from experiments.common.sweep import run_points
from experiments.preble import paper

CONFIG_MODULE = "experiments.preble.conf"
SYSTEMS = ("sglang_rr", "preble")
WORKLOADS = ("toolbench", "embodied", "programming", "videoqa", "loogle")

# setup -> (its overlay in conf/experiment/, the paper's panel to compare with, rate
# multiplier vs that panel). The overlays are what `-m experiment=fig3_<setup>` runs: model,
# GPU, cost model, cluster, KV pool and chunk size, each with its reason.
SETUPS: dict[str, tuple[str, str | None, float]] = {
    "mistral_a6000x2": ("experiment=fig3_mistral_a6000x2", "Mistral7B 2xA6000", 1.0),
    "mistral_a6000x4": ("experiment=fig3_mistral_a6000x4", "Mistral7B 4xA6000", 1.0),
    "llama70b_h200x8_tp4": ("experiment=fig3_llama70b_h200x8_tp4", "Llama3-70B 8xH100", 1.0),
    "llama8b_h200x2": ("experiment=fig3_llama8b_h200x2", None, 4.0),
}
QUICK_REQUESTS = 240


def setup_rates(setup: str, workload: str, quick: bool) -> list[float]:
    """Request rates of one panel: the paper's x values (scaled for setups it lacks)."""
    _, panel, scale = SETUPS[setup]
    rates = paper.fig3_rates(panel or "Mistral7B 2xA6000", workload)
    rates = [round(r * scale, 3) for r in rates]
    return [rates[0], rates[len(rates) // 2], rates[-1]] if quick else rates


def fig3_points(setup: str, workloads: Sequence[str], quick: bool, overrides: Sequence[str]
                ) -> list[tuple[dict, list[str]]]:
    """(labels, overrides) of every Fig. 3 run of one setup."""
    overlay, _, _ = SETUPS[setup]
    points = []
    for wl in workloads:
        for rps in setup_rates(setup, wl, quick):
            for system in SYSTEMS:
                ov = [overlay, f"workload={wl}", f"system={system}", f"workload.rps={rps}"]
                if quick:
                    ov.append(f"workload.num_requests={QUICK_REQUESTS}")
                labels = {"run": f"{setup}/{wl}/{system}_rps{rps}", "setup": setup,
                          "workload": wl, "system": system, "rps": rps}
                points.append((labels, ov + list(overrides)))
    return points


def run_fig3(setup: str, quick: bool = False, overrides: Sequence[str] = (),
             results_dir: str | Path = "results/preble", workloads: Sequence[str] = WORKLOADS,
             n_jobs: int = 2) -> pd.DataFrame:
    """Run (or reload) Fig. 3 for one setup: one row per workload, rate and system."""
    points = fig3_points(setup, workloads, quick, overrides)
    return run_points(CONFIG_MODULE, points, Path(results_dir) / "fig3", n_jobs=n_jobs)


def fig3_paper(setup: str) -> pd.DataFrame:
    """The paper's points for a setup (empty when the paper has no such panel)."""
    panel = SETUPS[setup][1]
    if panel is None:
        return paper.fig3_points("none")
    return paper.fig3_points(panel)


PAPER_SERIES = {"sglang_rr": "paper: SGLang", "preble": "paper: Preble"}


def curve_errors(ours: pd.DataFrame, setup: str) -> pd.DataFrame:
    """Each system's curve against the paper's points of the same panel, at the paper's rates:
    one row per (setup, workload, system, metric) with `median_abs_log2` and
    `worst_abs_log2` of |log2(ours ÷ paper)| (1.0 = a factor of 2), the rate of the worst
    point and `median_ratio` (ours ÷ paper, > 1: ours slower). Empty when the paper has no
    such panel; rates where either side has no point are left out."""
    paper_pts = fig3_paper(setup)
    cols = ["setup", "workload", "system", "metric", "num_points", "median_ratio",
            "median_abs_log2", "worst_abs_log2", "worst_rps"]
    if paper_pts.empty:
        return pd.DataFrame(columns=cols)
    _, _, scale = SETUPS[setup]
    rows = []
    for (wl, system), grp in ours.groupby(["workload", "system"]):
        for metric in ("mean", "p99"):
            theirs = paper_pts[(paper_pts.workload == wl) & (paper_pts.metric == metric)
                               & (paper_pts.series == PAPER_SERIES[system])]
            paper_at = {round(r * scale, 3): v for r, v in zip(theirs.rps, theirs.latency_s)}
            pairs = [(r, v, paper_at[round(r, 3)]) for r, v in
                     zip(grp["rps"], grp[f"latency_s_{metric}"]) if round(r, 3) in paper_at]
            if not pairs:
                continue
            frame = pd.DataFrame(pairs, columns=["rps", "ours", "paper"])
            log2 = np.log2(frame["ours"] / frame["paper"])
            worst = log2.abs().idxmax()
            rows.append({"setup": setup, "workload": wl, "system": system, "metric": metric,
                         "num_points": len(frame), "median_ratio": float(2 ** log2.median()),
                         "median_abs_log2": float(log2.abs().median()),
                         "worst_abs_log2": float(log2.abs().max()),
                         "worst_rps": float(frame.loc[worst, "rps"])})
    return pd.DataFrame(rows, columns=cols)


def ratio_table(ours: pd.DataFrame, setup: str) -> pd.DataFrame:
    """Round-robin ÷ Preble, mean and p99, per workload and rate — ours beside the paper's."""
    wide = ours.pivot_table(index=["workload", "rps"], columns="system",
                            values=["latency_s_mean", "latency_s_p99"])
    table = pd.DataFrame({
        "ratio_mean": wide[("latency_s_mean", "sglang_rr")] / wide[("latency_s_mean", "preble")],
        "ratio_p99": wide[("latency_s_p99", "sglang_rr")] / wide[("latency_s_p99", "preble")],
    }).reset_index()
    table.insert(0, "setup", setup)
    panel = SETUPS[setup][1]
    if panel is not None:
        table = table.merge(paper.fig3_ratios(panel), on=["workload", "rps"], how="left")
    return table


def ratio_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per workload: the range of our ratios and the paper's, and the ratio at peak load."""
    agg = {"ratio_mean": ["min", "max"], "ratio_p99": ["min", "max"]}
    for col in ("paper_ratio_mean", "paper_ratio_p99"):
        if col in table:
            agg[col] = ["min", "max"]
    out = table.groupby(["setup", "workload"]).agg(agg)
    out.columns = ["_".join(c) for c in out.columns]
    return out.reset_index()


def paper_panels(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the setups the paper ran (those with the paper's ratios)."""
    if "paper_ratio_mean" not in table:
        return table.iloc[:0]
    return table[table["paper_ratio_mean"].notna()]


def fig3_checks(table: pd.DataFrame, errors: pd.DataFrame, quick: bool = False) -> pd.DataFrame:
    """Fig. 3's claims on our ratio table (`ratio_table` rows) and curve errors
    (`curve_errors` rows), over the setups the paper ran: what the notebook states (`ours`,
    asserted) and the paper's headline claims (`paper`, reported)."""
    ours = paper_panels(table)
    peak = ours.groupby(["setup", "workload"])[["ratio_mean", "ratio_p99"]].max()
    least = peak.groupby("setup")["ratio_mean"].apply(
        lambda g: g.droplevel("setup").idxmin() == "programming")
    mean_err = errors[errors["metric"] == "mean"]

    def median_factor(system: str) -> float:
        sel = mean_err[mean_err["system"] == system]["median_abs_log2"]
        return float(2 ** sel.median()) if len(sel) else float("nan")

    programming = peak.xs("programming", level="workload")["ratio_mean"] if len(peak) else peak
    return claims_table([
        Claim("Preble at most 15% slower than round-robin at any rate (lowest mean ratio)",
              ours["ratio_mean"].min(), ">=", bound(0.85, 0.8, quick)),
        Claim("Preble at most 25% slower than round-robin at any rate (lowest p99 ratio)",
              ours["ratio_p99"].min(), ">=", bound(0.75, 0.7, quick)),
        Claim("peak mean gain per panel: median over panels at least 1.5x",
              peak["ratio_mean"].median(), ">=", bound(1.5, None, quick)),
        Claim("programming gains least on every setup (share of setups)",
              float(least.mean()) if len(least) else float("nan"), ">=", 1.0),
        Claim("round-robin's curve within a median factor of 3 of the paper's SGLang points "
              "(median over panels)", median_factor("sglang_rr"), "<=", bound(3.0, None, quick)),
        Claim("Preble's curve within a median factor of 4 of the paper's Preble points "
              "(median over panels)", median_factor("preble"), "<=", bound(4.0, None, quick)),
        Claim("paper: every panel's peak mean gain at least 1.5x (our smallest)",
              peak["ratio_mean"].min(), ">=", 1.5, kind="paper"),
        Claim("paper: every panel's peak mean gain at most 14.5x (our largest)",
              peak["ratio_mean"].max(), "<=", 14.5, kind="paper"),
        Claim("paper: every panel's peak p99 gain at least 2x (our smallest)",
              peak["ratio_p99"].min(), ">=", 2.0, kind="paper"),
        Claim("paper: every panel's peak p99 gain at most 10x (our largest)",
              peak["ratio_p99"].max(), "<=", 10.0, kind="paper"),
        Claim("paper: programming gains at least 1.56x on A6000 (our smallest A6000 peak)",
              programming.filter(like="a6000").min() if len(programming) else float("nan"),
              ">=", 1.56, kind="paper"),
    ])


def error_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per setup, workload and system: the median and worst factor between our mean-latency
    curve and the paper's (2 ** |log2 error|), and the rate of the worst point."""
    mean = errors[errors["metric"] == "mean"]
    out = mean.assign(median_factor=2 ** mean["median_abs_log2"],
                      worst_factor=2 ** mean["worst_abs_log2"])
    return out[["setup", "workload", "system", "num_points", "median_ratio", "median_factor",
                "worst_factor", "worst_rps"]].reset_index(drop=True)


def fig3_findings(table: pd.DataFrame, errors: pd.DataFrame) -> str:
    """The Fig. 3 numbers the notebook's text cites, as Markdown, computed from this run."""
    ours = paper_panels(table)
    if ours.empty:
        return "No setup of the paper's ran."
    peak = ours.groupby(["setup", "workload"])[["ratio_mean", "ratio_p99"]].max()
    top, low = peak["ratio_mean"].idxmax(), ours.loc[ours["ratio_mean"].idxmin()]
    summ = error_summary(errors)
    med = summ.groupby("system")["median_factor"].median()
    worst = summ.loc[summ["worst_factor"].idxmax()]
    return "\n".join([
        f"- Peak round-robin ÷ Preble gain per panel (the paper's setups): median "
        f"{peak['ratio_mean'].median():.1f}× mean and {peak['ratio_p99'].median():.1f}× p99; "
        f"range {peak['ratio_mean'].min():.2f}–{peak['ratio_mean'].max():.1f}× mean, largest "
        f"on {top[1]} ({top[0]}).",
        f"- Lowest ratio at any rate: {low['ratio_mean']:.2f}× mean ({low['workload']}, "
        f"{low['setup']}, {low['rps']:g} req/s); lowest p99 ratio "
        f"{ours['ratio_p99'].min():.2f}×.",
        f"- Our curves against the paper's points (median over panels of each panel's median "
        f"factor): round-robin {med.get('sglang_rr', float('nan')):.1f}×, Preble "
        f"{med.get('preble', float('nan')):.1f}×; worst single point "
        f"{worst['worst_factor']:.0f}× ({worst['system']}, {worst['workload']}, "
        f"{worst['setup']}, {worst['worst_rps']:g} req/s).",
    ])
