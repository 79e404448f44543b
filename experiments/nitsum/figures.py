"""Nitsum's figures: each function runs (or reads) what one notebook shows and returns its
DataFrame. Runs go through `run_points` (cached by resolved config)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.common.sweep import run_points
from experiments.nitsum.runner import run_nitsum
from toolkit.cost import calibration as cal
from toolkit.cost.specs import get_model_spec
from toolkit.cost.tp import TPCostModel
from toolkit.cost.verify import VERIFY_JSONL

CONFIG_MODULE = "experiments.nitsum.conf"
TP_LEVELS = (1, 2, 4, 8)
BLOG_ABLATION = {"vanilla": 13.2, "slo_aware_best_static": 16.7, "tier_split": 17.2,
                 "nitsum_scheduler": 28.0, "naive_dynamic_tp": 0.0, "full_nitsum": 33.3}
"""nitsum.md: the blog's ablation, 14B on 8 H100 at 70 RPS, goodput req/s."""
PAPER = {"oracle_gain_lo": 0.23, "oracle_gain_hi": 0.29, "gather_speedup_lo": 245,
         "gather_speedup_hi": 376, "migration_ms_lo": 3.6, "migration_ms_hi": 24.8,
         "planner_ms_128": 2.5, "planner_goal_ms": 5.0}


def _run(cfg, out):
    return None, run_nitsum(cfg, out)


def points(results_dir: str | Path, named: dict[str, Sequence[str]],
           n_jobs: int | None = None) -> pd.DataFrame:
    """Run `{name: overrides}` into `<results_dir>/<name>`; one summary row per point
    (`n_jobs=1`: one at a time, as engine runs need the cores to themselves)."""
    pts = [({"run": name}, list(ov)) for name, ov in named.items()]
    kw = {} if n_jobs is None else {"n_jobs": n_jobs}
    return run_points(CONFIG_MODULE, pts, results_dir, run_fn=_run, **kw)


def quick_overrides(quick: bool) -> list[str]:
    return ["workload.duration_s=40", "run.drain_s=30", "profile.probe_s=20"] if quick else \
        ["workload.duration_s=600"]


# -- Fig. 2: latency and throughput vs TP level and batch ------------------------------------
def tp_cost_table(gains: Sequence[float] = (1.0, 3.0), batches: Sequence[int] = (1, 8, 32, 128, 256),
                  prompt_len: int = 1155, ctx_len: int = 2048) -> pd.DataFrame:
    """The simulator's costs (llama3-8b, H200 tables + all-reduce) per TP level and batch:
    decode step ms, tokens/s, GPU-ms per token, and the TTFT of one prompt."""
    rows = []
    for gain in gains:
        for tp in TP_LEVELS:
            cost = TPCostModel(tp=tp, small_batch_gain=gain)
            ttft = cost.prefill_s(prompt_len)
            for b in batches:
                step = cost.decode_s(b, ctx_len)
                rows.append({"small_batch_gain": gain, "tp": tp, "batch": b,
                             "step_ms": step * 1e3, "tokens_per_s": b / step,
                             "gpu_ms_per_token": step * tp / b * 1e3, "ttft_ms": ttft * 1e3})
    return pd.DataFrame(rows)


# -- Fig. 3: per-window oracle vs the best static TP ------------------------------------------
def slo_overrides(scale: float) -> list[str]:
    """Every SLO scale of `tiers=three` multiplied by `scale`."""
    return [f"tiers.interactive.ttft_scale={3.0 * scale}", f"tiers.interactive.tpot_scale={2.0 * scale}",
            f"tiers.relaxed.ttft_scale={10.0 * scale}", f"tiers.relaxed.tpot_scale={5.0 * scale}"]


def oracle_over_time(results_dir: str | Path, quick: bool, small_batch_gain: float = 1.0,
                     slo_scale: float = 1.0, rps: float | None = None) -> tuple[pd.DataFrame, dict]:
    """Per-window goodput of static TP (SLO-aware) at every level and the oracle's pick, on
    ServeGen traffic (a day's rate windows in the run), at a small-batch TP gain, an SLO
    scale and a load (default: 120 req/s, 60 in quick mode)."""
    default_rps = 60 if quick else 120
    rps = default_rps if rps is None else rps
    ov = ["policy=oracle", "workload=servegen", f"workload.rps={rps:g}",
          "policy.window_s=" + ("10" if quick else "30"), f"cost.small_batch_gain={small_batch_gain}",
          *slo_overrides(slo_scale), *quick_overrides(quick)]
    name = (f"fig3/oracle_gain{small_batch_gain:g}" + ("" if slo_scale == 1.0 else f"_slo{slo_scale:g}")
            + ("" if rps == default_rps else f"_rps{rps:g}"))
    points(results_dir, {name: ov})
    run = Path(results_dir) / name
    windows = pd.read_parquet(run / "windows.parquet")
    summary = json.loads((run / "summary.json").read_text())
    return windows, summary


def oracle_gain_map(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """The oracle's gain over the best static TP across loads, SLO scales and small-batch
    TP gains: where choosing the TP level per window pays on our costs."""
    loads = (30, 60) if quick else (40, 80, 120)
    scales = (1.0, 0.5) if quick else (1.0, 0.7, 0.5)
    gains = (1.0,) if quick else (1.0, 3.0)
    rows = []
    for rps in loads:
        for scale in scales:
            for gain in gains:
                _, s = oracle_over_time(results_dir, quick, gain, scale, rps)
                rows.append(dict(rps=rps, slo_scale=scale, small_batch_gain=gain,
                                 oracle_goodput_rps=s["goodput_rps"],
                                 best_static_goodput_rps=s["best_static_goodput_rps"],
                                 best_static_tp=s["best_static_tp"], gain=oracle_gain(s),
                                 levels_chosen=len(set(s["chosen_tp_per_window"]))))
    return pd.DataFrame(rows)


def oracle_gain(summary: dict) -> float:
    """Oracle goodput over the best static TP's, minus 1."""
    return summary["goodput_rps"] / summary["best_static_goodput_rps"] - 1


# -- Fig. 7: KV migration time by payload ---------------------------------------------------
def migration_table(tokens: Sequence[int] = (512, 2048, 8192, 32768, 131072),
                    link_gbps: float = 366.0) -> pd.DataFrame:
    """Moving the KV of `tokens` tokens of llama3-8b: one copy per 32 KiB block (H200
    per-block time), one gather kernel (H200 gather bandwidth), and the send over the link
    with the gather overlapped (Nitsum's pipelined migration)."""
    m = get_model_spec("llama3-8b")
    g = cal.jsonl_rows(str(VERIFY_JSONL), "C_kvgather")[0]
    block_bytes = 32 * 1024  # the calibration README: scattered blocks of 32 KiB
    per_block_s = g["per_block_copy_ms"] / 1e3 / g["blocks"]
    gather_bps = g["blocks"] * block_bytes / (g["one_gather_ms"] / 1e3)
    rows = []
    for n in tokens:
        size = n * m.kv_bytes_per_token
        blocks = size / block_bytes
        rows.append({"tokens": n, "mib": size / 2**20, "per_block_ms": blocks * per_block_s * 1e3,
                     "gather_ms": size / gather_bps * 1e3,
                     "pipelined_send_ms": max(size / gather_bps, size / (link_gbps * 1e9)) * 1e3})
    df = pd.DataFrame(rows)
    df["speedup"] = df["per_block_ms"] / df["gather_ms"]
    return df


# -- Fig. 9: goodput vs load --------------------------------------------------------------
POLICIES = {
    "vanilla (static TP1)": ["policy=static_tp", "cluster.tp=1"],
    "static TP2, SLO-aware": ["policy=static_tp_slo", "cluster.tp=2"],
    "static TP4, SLO-aware": ["policy=static_tp_slo", "cluster.tp=4"],
    "split (TP2)": ["policy=split", "cluster.tp=2"],
    "migrate (TP2)": ["policy=migrate", "cluster.tp=2"],
    "Nitsum": ["policy=nitsum"],
}


def load_levels(quick: bool) -> list[int]:
    return [60, 160] if quick else [40, 80, 120, 160, 200, 240, 280]


DISAGG = "disagg (best P:D and TP)"


def disagg_placements(quick: bool) -> dict[str, list[str]]:
    """The prefill/decode placements DistServe's search would weigh on 8 GPUs: TP 1 or 2,
    and the share of groups that prefill."""
    grid = [(2, 0.5), (2, 0.75)] if quick else \
        [(1, 0.5), (1, 0.625), (1, 0.75), (1, 0.875), (2, 0.5), (2, 0.75)]
    return {f"tp{tp}_p{f:g}": ["policy=disagg", f"cluster.tp={tp}",
                               f"policy.planner.prefill_fraction={f}"] for tp, f in grid}


def goodput_vs_load(results_dir: str | Path, quick: bool,
                    policies: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Goodput and per-tier attainment of every policy at every load (8 GPUs). The
    disaggregated baseline takes, at each load, its best placement (`disagg_placements`),
    as DistServe picks its placement for the workload; `config` names it."""
    policies = POLICIES if policies is None else policies
    loads = load_levels(quick)
    named = {f"fig9/{_slug(p)}/rps{r}": [*ov, f"workload.rps={r}", *quick_overrides(quick)]
             for p, ov in policies.items() for r in loads}
    labels = {f"fig9/{_slug(p)}/rps{r}": (p, r) for p in policies for r in loads}
    df = _with_tiers(points(results_dir, named), labels)
    place = disagg_placements(quick)
    named = {f"fig9/disagg/{c}/rps{r}": [*ov, f"workload.rps={r}", *quick_overrides(quick)]
             for c, ov in place.items() for r in loads}
    labels = {f"fig9/disagg/{c}/rps{r}": (c, r) for c in place for r in loads}
    dis = _with_tiers(points(results_dir, named), labels)
    best = dis.loc[dis.groupby("rps")["goodput_rps"].idxmax()]
    best = best.rename(columns={"policy": "config"}).assign(policy=DISAGG)
    return pd.concat([df.assign(config=""), best], ignore_index=True)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def _with_tiers(df: pd.DataFrame, labels: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """One row per run: policy, rps, goodput, reconfigurations, per-tier attainment and
    goodput (from the summaries `points` returned)."""
    rows = []
    for s in df.to_dict("records"):
        policy, rps = labels[s["run"]]
        row = {"policy": policy, "rps": rps, "goodput_rps": s["goodput_rps"],
               "goodput_rps_per_gpu": s["goodput_rps_per_gpu"],
               "num_reconfigurations": s["num_reconfigurations"]}
        row.update({f"attain_{t}": v["slo_attainment"] for t, v in s["tiers"].items()})
        row.update({f"goodput_{t}": v["goodput_rps"] for t, v in s["tiers"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


# -- the ablation chain --------------------------------------------------------------------
def ablation(results_dir: str | Path, quick: bool, rps: float | None = None) -> pd.DataFrame:
    """Vanilla -> SLO-aware + best static TP -> + tier split -> Nitsum scheduler (fixed TP)
    -> + dynamic TP switched naively -> full Nitsum, at one load (8 GPUs)."""
    rps = rps if rps is not None else (160 if quick else 200)
    base = [f"workload.rps={rps}", *quick_overrides(quick)]
    static = points(results_dir, {f"ablation/static_slo/tp{t}": ["policy=static_tp_slo",
                                                                 f"cluster.tp={t}", *base]
                                  for t in TP_LEVELS})
    best_tp = TP_LEVELS[int(np.argmax(static["goodput_rps"].to_numpy()))]
    steps = {
        "vanilla": ["policy=static_tp", "cluster.tp=1"],
        "slo_aware_best_static": ["policy=static_tp_slo", f"cluster.tp={best_tp}"],
        "tier_split": ["policy=split", f"cluster.tp={best_tp}"],
        "nitsum_scheduler": ["policy=nitsum", "policy.planner.dynamic_tp=false",
                             f"cluster.tp={best_tp}"],
        "naive_dynamic_tp": ["policy=nitsum", "policy.switch.reuse=false",
                             "policy.full_weights=false"],
        "full_nitsum": ["policy=nitsum"],
    }
    df = points(results_dir, {f"ablation/{k}": [*ov, *base] for k, ov in steps.items()})
    df["step"] = list(steps)
    df["blog_goodput_rps"] = df["step"].map(BLOG_ABLATION)
    df["best_static_tp"] = best_tp
    df["rps"] = rps
    return df[["step", "goodput_rps", "blog_goodput_rps", "num_reconfigurations",
               "best_static_tp", "rps"]]


def slo_sensitivity(results_dir: str | Path, quick: bool,
                    scales: Sequence[float] = (0.5, 1.0, 2.0)) -> pd.DataFrame:
    """Goodput of the best static TP (TP2, SLO-aware) and Nitsum when every SLO scale of the
    `tiers` group is multiplied by `scale`."""
    rps = 160 if quick else 200
    rows = []
    for scale in scales:
        tiers = slo_overrides(scale)
        for name, ov in (("static TP2, SLO-aware", ["policy=static_tp_slo", "cluster.tp=2"]),
                         ("Nitsum", ["policy=nitsum"])):
            run = f"slo/{_slug(name)}/x{scale}"
            df = points(results_dir, {run: [*ov, *tiers, f"workload.rps={rps}",
                                            *quick_overrides(quick)]})
            rows.append({"slo_scale": scale, "policy": name,
                         "goodput_rps": float(df["goodput_rps"].iloc[0])})
    return pd.DataFrame(rows)


def reserve_sensitivity(results_dir: str | Path, quick: bool,
                        reserves: Sequence[float] = (0.0, 0.25, 0.5)) -> pd.DataFrame:
    """Goodput and per-tier attainment of Nitsum and static TP2 (SLO-aware) when the local
    batches keep `reserve` of their slots from best-effort requests (`SLOAwareLocal`), at
    three loads (one in quick mode)."""
    return _knob_sweep(results_dir, quick, "reserve", "policy.local.reserve",
                       reserves[:2] if quick else reserves,
                       {"static TP2, SLO-aware": ["policy=static_tp_slo", "cluster.tp=2"],
                        "Nitsum": ["policy=nitsum"]},
                       [160] if quick else [120, 200, 280],
                       lambda name, v: f"{_slug(name)}/r{v}")


def starvation_sensitivity(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Nitsum's goodput, plan changes and per-tier attainment when its planner compares a
    new plan with the current one by plain goodput (the config's choice) or by
    starvation-weighted goodput (`policy.planner.weigh_starvation`), at the loads past
    saturation (one in quick mode)."""
    return _knob_sweep(results_dir, quick, "weigh_starvation", "policy.planner.weigh_starvation",
                       (False, True), {"Nitsum": ["policy=nitsum"]},
                       [160] if quick else [200, 240, 280], lambda name, v: f"w{int(v)}",
                       folder="starvation")


def _knob_sweep(results_dir: str | Path, quick: bool, column: str, knob: str,
                values: Sequence[object], policies: dict[str, list[str]],
                loads: Sequence[float], tag: Callable[[str, object], str],
                folder: str | None = None) -> pd.DataFrame:
    """Each of `policies` ({name: overrides}) with the setting `knob` at each of `values`,
    at each load: `_with_tiers`'s rows, the value in `column`. Runs go to
    `<folder or column>/<tag(name, value)>/rps<load>`."""
    named, labels, value_of = {}, {}, {}
    for name, ov in policies.items():
        for v in values:
            for rps in loads:
                run = f"{folder or column}/{tag(name, v)}/rps{rps}"
                named[run] = [*ov, f"{knob}={json.dumps(v)}", f"workload.rps={rps}",
                              *quick_overrides(quick)]
                labels[run], value_of[run] = (name, rps), v
    df = points(results_dir, named)
    return _with_tiers(df, labels).assign(**{column: df["run"].map(value_of).to_numpy()})


ENGINE_POLICIES = {
    "vanilla (static TP1)": ["policy=static_tp"],
    "static TP1, SLO-aware": ["policy=static_tp_slo"],
    "split (TP1)": ["policy=split"],
    "disagg (1 prefill : 1 decode)": ["policy=disagg"],
    "migrate (TP1)": ["policy=migrate"],
    "Nitsum": ["policy=nitsum"],
}
"""Fig. 9's policies on the engine's two gloo ranks (`backend=engine`, two tiers)."""


def engine_goodput(results_dir: str | Path, quick: bool) -> pd.DataFrame:
    """Goodput and per-tier attainment of `ENGINE_POLICIES` on the engine (two ranks, the
    workload's first requests replayed at each rate; SLOs from this engine's unloaded
    latency)."""
    loads = [16] if quick else [12, 24]
    n = 40 if quick else 150
    named, labels = {}, {}
    for name, ov in ENGINE_POLICIES.items():
        for rps in loads:
            run = f"engine/{_slug(name)}/rps{rps}"
            named[run] = [*ov, "backend=engine", "tiers=two", f"backend.rps={rps}",
                          f"backend.num_requests={n}"]
            labels[run] = (name, rps)
    return _with_tiers(points(results_dir, named, n_jobs=1), labels)


def latency_cdfs(results_dir: str | Path, quick: bool,
                 policies: Sequence[str] = ("Nitsum", "static TP2, SLO-aware", "split (TP2)"),
                 ) -> pd.DataFrame:
    """TTFT and TPOT of every request of `policies` at the second-highest load of Fig. 9
    (`goodput_vs_load` must have run): policy, tier, ttft_s, tpot_s (finished requests)."""
    rps = load_levels(quick)[-2]
    frames = []
    for p in policies:
        df = pd.read_parquet(Path(results_dir) / "fig9" / _slug(p) / f"rps{rps}" / "records.parquet",
                             columns=["tier", "ttft_s", "tpot_s", "finish_s"])
        frames.append(df[np.isfinite(df["finish_s"])].drop(columns="finish_s").assign(policy=p, rps=rps))
    return pd.concat(frames, ignore_index=True)
