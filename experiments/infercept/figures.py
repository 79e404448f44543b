"""InferCept's figures as DataFrames: sweeps of policies x request rates per setup, the
paper's own points, sustainable-rate ratios, the technique breakdown, single-augmentation
runs, the duration estimator against the oracle, and Table 1 recomputed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.common.sweep import compose_config, run_points
from experiments.infercept.runner import run_infercept

CONFIG_MODULE = "experiments.infercept.conf"
SETUPS = {"6B/1GPU": "gptj6b_a100", "13B/1GPU": "vicuna13b_a100",
          "13B/2GPU": "vicuna13b_a100x2", "70B/4GPU": "llama70b_a100x4"}
POLICIES = {"vllm": "vLLM", "improved_discard": "ImprovedDiscard", "preserve": "Preserve",
            "swap": "Swap", "infercept": "InferCept"}
BREAKDOWN = {"vllm": "vLLM", "improved_discard": "ImprovedDiscard",
             "mw_discard": "+MinWasteDiscard", "mw_swap": "+MinWasteSwap",
             "mw_heuristic": "+HeuristicPreserve", "infercept": "InferCept"}
FIGDATA = Path(__file__).parent / "data" / "infercept_fig2_normalized_latency.json"
FULL_WINDOW_S, QUICK_WINDOW_S = 1800.0, 300.0


def paper_points(path: str | Path | None = None) -> pd.DataFrame:
    """The paper's Fig. 2 normalized latency (ms/token) per setup, policy and rate
    (`in_range` False: the curve left the plot's y-range there), from `path` or the package's
    copy of `../shared/papers/figdata/infercept_fig2_normalized_latency.json`."""
    path = Path(path) if path else FIGDATA
    raw = json.loads(Path(path).read_text())
    rows = [{"setup": setup.split("(")[0], "policy": pol, "rps": float(x), "norm_latency_ms": float(y),
             "in_range": bool(ok)}
            for setup, series in raw.items() for pol, pts in series.items() for x, y, ok in pts]
    return pd.DataFrame(rows)


def setup_rates(setup: str, quick: bool, beyond: Sequence[float] = (1.5, 2.0)) -> list[float]:
    """The rates the paper swept for `setup` (from its figure) plus multiples `beyond` of
    its highest (where our InferCept has not yet saturated), or two of them when quick."""
    pts = paper_points()
    rates = sorted({round(r, 2) for r in pts[(pts.setup == setup) & pts.in_range].rps})
    if not rates:
        raise ValueError(f"no paper points for setup {setup!r}; known: {sorted(set(pts.setup))}")
    if quick:
        return [rates[0], rates[len(rates) // 2]]
    return rates + [round(rates[-1] * m, 2) for m in beyond]


def _window(quick: bool) -> float:
    return QUICK_WINDOW_S if quick else FULL_WINDOW_S


def sweep(results_dir: str | Path, name: str, setups: Sequence[str], policies: dict[str, str],
          rates_of, quick: bool, overrides: Sequence[str] = (), n_jobs: int = 2,
          extra: Sequence[str] = ()) -> pd.DataFrame:
    """Run policies x rates per setup (cached per point); one row per run."""
    points = []
    for setup in setups:
        for rps in rates_of(setup):
            for pol, label in policies.items():
                run = f"{name}/{SETUPS[setup].replace('/', '_')}/{pol}/rps{rps:g}"
                ov = [f"setup={SETUPS[setup]}", f"policy={pol}", f"workload.rps={rps}",
                      f"workload.duration_s={_window(quick)}", *extra, *overrides]
                points.append(({"run": run, "series": label, "setup": setup}, ov))
    return run_points(CONFIG_MODULE, points, Path(results_dir), n_jobs=n_jobs,
                      run_fn=run_infercept)


def run_fig2(results_dir: str | Path, quick: bool = False, overrides: Sequence[str] = (),
             setups: Sequence[str] | None = None, n_jobs: int = 2) -> pd.DataFrame:
    """Fig. 2: five policies over the paper's rates on each setup."""
    setups = list(setups or (["6B/1GPU"] if quick else SETUPS))
    return sweep(results_dir, "fig2", setups, POLICIES, lambda s: setup_rates(s, quick), quick,
                 overrides, n_jobs)


def sustainable_rate(df: pd.DataFrame, threshold_ms: float) -> pd.DataFrame:
    """Per setup and series, the highest rate whose mean normalized latency stays at or under
    `threshold_ms`, interpolated linearly between swept rates (NaN: never under;
    `lower_bound`: still under at the highest rate swept)."""
    rows = []
    for (setup, series), g in df.sort_values("rps").groupby(["setup", "series"]):
        lat = g["norm_latency_ms_mean"].to_numpy(dtype=float).copy()
        if "saturated" in g:  # unfinished requests left: above any threshold
            lat[g["saturated"].to_numpy(dtype=bool)] = np.inf
        rows.append({"setup": setup, "series": series, "threshold_ms": threshold_ms,
                     "rps": _crossing(g["rps"].to_numpy(), lat, threshold_ms),
                     "lower_bound": bool(len(lat) and lat.max() <= threshold_ms)})
    return pd.DataFrame(rows)


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    if not len(x) or y[0] > level:
        return float("nan")
    for i in range(1, len(x)):
        if y[i] > level:
            return float(x[i - 1] + (level - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))
    return float(x[-1])  # never crossed within the sweep: a lower bound


def rate_ratios(df: pd.DataFrame, thresholds: Sequence[float], base: str = "vLLM",
                series: str = "InferCept") -> pd.DataFrame:
    """`series`'s sustainable rate over `base`'s at each latency threshold, per setup."""
    tab = pd.concat([sustainable_rate(df, t) for t in thresholds], ignore_index=True)
    wide = tab.pivot_table(index=["setup", "threshold_ms"], columns="series", values="rps",
                           dropna=False)
    out = wide.reindex(columns=[base, series]).copy()  # NaN where a series never got under
    out["ratio"] = out[series] / out[base]
    bound = tab[tab["series"] == series].set_index(["setup", "threshold_ms"])["lower_bound"]
    out["ratio_is_lower_bound"] = bound.reindex(out.index).fillna(False).astype(bool)
    return out.reset_index()


def paper_rate_ratios(thresholds: Sequence[float]) -> pd.DataFrame:
    """The same ratios computed from the paper's own Fig. 2 points."""
    pts = paper_points()
    pts = pts[pts.in_range].rename(columns={"policy": "series", "norm_latency_ms": "norm_latency_ms_mean"})
    return rate_ratios(pts, thresholds)


def motivation(df: pd.DataFrame) -> pd.DataFrame:
    """Per policy at each rate: share of busy time recomputing, waiting for swaps, and GPU
    memory wasted (preserved pauses, recomputation, swap stalls)."""
    cols = ["setup", "series", "rps", "recompute_time_frac", "swap_stall_time_frac", "waste_frac",
            "waste_preserve_frac", "waste_recompute_frac", "waste_swap_frac"]
    return df[cols].sort_values(["setup", "rps", "series"]).reset_index(drop=True)


def run_breakdown(results_dir: str | Path, quick: bool = False, overrides: Sequence[str] = (),
                  setup: str = "13B/2GPU", rates: Sequence[float] = (1.5, 2.0),
                  n_jobs: int = 2) -> pd.DataFrame:
    """The technique breakdown: vLLM, then each of InferCept's techniques added in turn."""
    rates = list(rates)[:1] if quick else list(rates)
    return sweep(results_dir, "breakdown", [setup], BREAKDOWN, lambda s: rates, quick,
                 overrides, n_jobs)


def run_single(results_dir: str | Path, quick: bool = False, overrides: Sequence[str] = (),
               setup: str = "6B/1GPU", augmentations: Sequence[str] = ("qa", "chatbot"),
               rates: Sequence[float] = (1.0, 2.0, 3.0, 4.0), n_jobs: int = 2) -> pd.DataFrame:
    """Single-augmentation workloads, vLLM against InferCept."""
    rates = list(rates)[:2] if quick else list(rates)
    frames = []
    for aug in augmentations:
        df = sweep(results_dir, f"single_{aug}", [setup], {"vllm": "vLLM", "infercept": "InferCept"},
                   lambda s: rates, quick, overrides, n_jobs, extra=[f"workload={aug}"])
        frames.append(df.assign(augmentation=aug))
    return pd.concat(frames, ignore_index=True)


def run_estimator(results_dir: str | Path, quick: bool = False, overrides: Sequence[str] = (),
                  setup: str = "6B/1GPU", n_jobs: int = 2) -> pd.DataFrame:
    """InferCept with the oracle's pause durations against its estimator (time waited)."""
    rates = setup_rates(setup, quick)
    frames = []
    for est, label in ((False, "oracle"), (True, "estimate")):
        df = sweep(results_dir, f"estimator_{label}", [setup], {"infercept": "InferCept"},
                   lambda s: rates, quick, overrides, n_jobs,
                   extra=[f"run.estimate_duration={str(est).lower()}"])
        frames.append(df.assign(series=f"InferCept ({label})"))
    return pd.concat(frames, ignore_index=True)


# The choices the paper leaves open, one override each (beside the default setup).
SENSITIVITIES = {
    "default": [],
    "A100 40 GB": ["gpu.name=a100-40gb"],
    "attention term in the fit": ["cost.context_term=true"],
    "overlapped copies free": ["run.charge_copies=false"],
    "no context limit": ["model.max_context_len=null"],
}
SENSITIVITY_POLICIES = {"vllm": "vLLM", "preserve": "Preserve", "infercept": "InferCept"}


def run_sensitivity(results_dir: str | Path, quick: bool = False, overrides: Sequence[str] = (),
                    setup: str = "6B/1GPU", rates: Sequence[float] = (1.0, 1.4, 2.0),
                    n_jobs: int = 2) -> pd.DataFrame:
    """Policies x rates under each of `SENSITIVITIES`; one row per run with `variant`, and
    both normalized-latency denominators (generated tokens; generated plus returned)."""
    rates = list(rates)[1:2] if quick else list(rates)
    frames = []
    for variant, extra in SENSITIVITIES.items():
        name = "sensitivity/" + variant.lower().replace(" ", "_")
        df = sweep(results_dir, name, [setup], SENSITIVITY_POLICIES, lambda s: rates, quick,
                   overrides, n_jobs, extra=extra)
        frames.append(df.assign(variant=variant))
    out = pd.concat(frames, ignore_index=True)
    cols = ["variant", "series", "rps", "norm_latency_ms_mean",
            "norm_latency_incl_returned_ms_mean", "throughput_rps", "saturated",
            "num_context_truncated"]
    return out[cols].sort_values(["variant", "rps", "series"]).reset_index(drop=True)


def table1(num_requests: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Table 1 recomputed from the generated mixed workload: one row per augmentation and
    statistic with the paper's value, ours and the relative error (the generator applies
    the benchmark's 2,048-token output cap, which trims a few long requests)."""
    from experiments.common.runner import build_trace
    from toolkit.workloads.segment_stats import table1_comparison

    cfg = compose_config(CONFIG_MODULE, [f"workload.num_requests={num_requests}",
                                         f"seed={seed}"])
    return table1_comparison(build_trace(cfg))


def table1_wide(table: pd.DataFrame) -> pd.DataFrame:
    """`table1` as one row per augmentation, 'measured (paper)' per statistic."""
    cell = table.apply(lambda r: f"{r.measured:.4g} ({r.paper:.4g})", axis=1)
    return table.assign(cell=cell).pivot(index="augmentation", columns="statistic",
                                         values="cell")


def actions_by_augmentation(run_dir: str | Path) -> pd.DataFrame:
    """Share of each pause action per augmentation in one run (its trace rebuilt from the
    run's config), with the mean pause and context: short calls should stay, long ones go."""
    from omegaconf import OmegaConf

    from experiments.common.runner import build_trace

    run_dir = Path(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    aug = {r.id: r.meta.get("augmentation", "?") for r in build_trace(cfg)}
    pauses = pd.read_parquet(run_dir / "pauses.parquet")
    pauses["augmentation"] = pauses["request_id"].map(aug)
    share = pd.crosstab(pauses["augmentation"], pauses["action"], normalize="index")
    stats = pauses.groupby("augmentation")[["duration_s", "context_tokens"]].mean()
    return share.join(stats).rename(columns={"duration_s": "mean_pause_s",
                                             "context_tokens": "mean_context_tokens"})


def break_even_table(setup: str = "6B/1GPU", contexts: Sequence[int] = (500, 1500, 3000),
                     others: Sequence[int] = (0, 4000, 16000, 64000)) -> pd.DataFrame:
    """The pause length (s) above which min-waste prefers discarding (chunked) to preserving,
    per paused context and other running context, from the setup's cost and swap models."""
    from hydra.utils import instantiate

    from toolkit.cost.pause_timing import CostPauseTiming
    from toolkit.sched.pause.waste import chunked_discard_waste

    cfg = compose_config(CONFIG_MODULE, [f"setup={SETUPS[setup]}"])
    timing = CostPauseTiming(instantiate(cfg.cost), instantiate(cfg.swap))
    rows = [{"context_tokens": c, "other_running_tokens": o,
             "break_even_s": chunked_discard_waste(c, o, 384, timing) / c}
            for c in contexts for o in others]
    return rows and pd.DataFrame(rows).pivot(index="context_tokens", columns="other_running_tokens",
                                             values="break_even_s")
