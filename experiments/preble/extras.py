"""Preble's other figures: Table 1, the Azure mix (Fig. 4), the ablation (Fig. 5), the
global scheduler's scalability (§4.4) and a Mooncake-trace replay."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate

from experiments.common.claims import Claim, bound, claims_table
from experiments.common.runner import build_trace
from experiments.common.sweep import compose_config, run_points
from experiments.preble.figures import CONFIG_MODULE, SYSTEMS

# Fig. 5's chain, each step adding one feature (conf/ablation/step{0..5}.yaml), and bars
# beside the chain (conf/ablation/<name>.yaml).
ABLATION_STEPS = ("SGLang RR", "+chunked prefill", "+E2 (no re-adjust)", "+rebalance/autoscale",
                  "+prefill/decode", "+priority queue (all)")
ABLATION_SIDE = {"e2_unchunked": "E2 alone (unchunked)"}
TABLE1_WORKLOADS = ("toolbench", "embodied", "programming", "videoqa", "loogle")


def table1(quick: bool = False, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """Workload statistics of the generated workloads (Preble's Table 1 columns), before the
    caps Preble's code applies in its runs (video tokens at 8,192, solutions at 512): Table 1
    describes the datasets."""
    from toolkit.workloads.stats import stats_table

    uncapped = {"videoqa": ["workload.max_video_len=null"],
                "programming": ["workload.max_output_len=null"]}
    traces = {}
    for wl in TABLE1_WORKLOADS:
        ov = [f"workload={wl}", *uncapped.get(wl, []),
              *(["workload.num_requests=400"] if quick else []), *overrides]
        traces[wl] = build_trace(compose_config(CONFIG_MODULE, ov))
    return stats_table(traces)


def run_ablation(rps: float = 24.0, quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", n_jobs: int = 2) -> pd.DataFrame:
    """Fig. 5: one row per bar with its latency summary, the chain's steps first (`order`
    0..5, `in_chain` True), then the bars beside it."""
    extra = ["workload.num_requests=600"] if quick else []
    bars = [(f"step{i}", step, True) for i, step in enumerate(ABLATION_STEPS)]
    bars += [(name, label, False) for name, label in ABLATION_SIDE.items()]
    points = [({"run": name, "step": label, "order": i, "in_chain": in_chain},
               ["experiment=fig5_ablation", f"ablation={name}", f"workload.rps={rps}", *extra,
                *overrides])
              for i, (name, label, in_chain) in enumerate(bars)]
    df = run_points(CONFIG_MODULE, points, Path(results_dir) / "ablation", n_jobs=n_jobs)
    return df.sort_values("order").reset_index(drop=True)


def run_azure_mix(quick: bool = False, overrides: Sequence[str] = (),
                  results_dir: str | Path = "results/preble", n_jobs: int = 2) -> pd.DataFrame:
    """Fig. 4: tool use + video QA with Azure arrivals on 4 A6000, both systems."""
    base = ["experiment=fig4_azure_mix"]
    if quick:
        base += ["workload.tool_prefixes=50", "workload.tool_requests=400",
                 "workload.video_prefixes=20", "workload.video_requests=100"]
    points = [({"run": system, "system": system}, [*base, f"system={system}", *overrides])
              for system in SYSTEMS]
    return run_points(CONFIG_MODULE, points, Path(results_dir) / "azure_mix", n_jobs=n_jobs)


FIG4_METRICS = ("latency_s_mean", "latency_s_p99", "tpot_s_mean", "ttft_s_mean")


def fig4_table(ours: pd.DataFrame) -> pd.DataFrame:
    """Per metric: each system's value beside the paper's, ours ÷ paper, and the gain
    (round-robin ÷ Preble) ours and the paper's."""
    from experiments.preble import paper

    mine = ours.set_index("system")[list(FIG4_METRICS)]
    theirs = paper.FIG4.set_index("system")[list(FIG4_METRICS)]
    rows = []
    for m in FIG4_METRICS:
        row = {"metric": m, "gain": mine.loc["sglang_rr", m] / mine.loc["preble", m],
               "paper_gain": paper.FIG4_RATIOS[m]}
        for system in ("sglang_rr", "preble"):
            row[f"{system}"] = mine.loc[system, m]
            row[f"{system}_paper"] = theirs.loc[system, m]
            row[f"{system}_vs_paper"] = mine.loc[system, m] / theirs.loc[system, m]
        rows.append(row)
    return pd.DataFrame(rows)


def fig4_checks(table: pd.DataFrame, quick: bool = False) -> pd.DataFrame:
    """Fig. 4's claims on `fig4_table`: ours (asserted) and the paper's (reported)."""
    gain = table.set_index("metric")["gain"]
    vs = table.set_index("metric")
    return claims_table([
        Claim("Preble's mean latency gain over round-robin at least 1.5x", gain["latency_s_mean"],
              ">=", 1.5),
        Claim("Preble's p99 latency gain at least 1.5x", gain["latency_s_p99"], ">=", 1.5),
        Claim("Preble's TPOT gain at least 2x", gain["tpot_s_mean"], ">=", 2.0),
        Claim("Preble's TTFT worse than round-robin's (gain below 1)", gain["ttft_s_mean"],
              "<", bound(1.0, None, quick)),
        Claim("round-robin's mean latency within 1.5x of the paper's SGLang",
              abs(float(np.log2(vs.loc["latency_s_mean", "sglang_rr_vs_paper"]))), "<=",
              bound(float(np.log2(1.5)), None, quick)),
        Claim("paper: Preble's mean latency gain 6.02x (ours)", gain["latency_s_mean"], ">=",
              0.8 * 6.02, kind="paper"),
        Claim("paper: Preble's p99 latency gain 4.61x (ours)", gain["latency_s_p99"], ">=",
              0.8 * 4.61, kind="paper"),
        Claim("paper: Preble's TTFT gain 2.42x (ours)", gain["ttft_s_mean"], ">=", 0.8 * 2.42,
              kind="paper"),
    ])


def run_mooncake(quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", n_jobs: int = 2,
                 routers: Sequence[str] = ("round_robin", "cache_aware", "preble_e2")) -> pd.DataFrame:
    """Replay the Mooncake conversation trace on 8 H200s (Llama-3-8B) under several routers."""
    base = ["experiment=mooncake_replay"]
    if quick:
        base.append("workload.num_requests=600")
    points = [({"run": r, "system": r}, [*base, f"router={r}", *overrides]) for r in routers]
    return run_points(CONFIG_MODULE, points, Path(results_dir) / "mooncake", n_jobs=n_jobs)


def mooncake_checks(df: pd.DataFrame) -> pd.DataFrame:
    """The Mooncake replay's finding on `run_mooncake` rows (all `ours`, asserted): E2 hits
    far more than round-robin yet is slower, and SGLang's cache-aware router is fastest."""
    by = df.set_index("system")
    hit, lat = by["cache_hit_ratio"], by["latency_s_mean"]
    return claims_table([
        Claim("E2's hit ratio at least 2x round-robin's", hit["preble_e2"] / hit["round_robin"],
              ">=", 2.0),
        Claim("E2's mean latency above round-robin's (ratio)",
              lat["preble_e2"] / lat["round_robin"], ">", 1.0),
        Claim("cache-aware's mean latency the lowest of the three (ratio to the next)",
              lat["cache_aware"] / lat.drop("cache_aware").min(), "<", 1.0),
    ])


def mooncake_findings(df: pd.DataFrame) -> str:
    """The numbers the Mooncake notebook's finding cites, as Markdown."""
    by = df.set_index("system")
    hit, lat = by["cache_hit_ratio"], by["latency_s_mean"]
    return (f"E2's hit ratio is {hit['preble_e2'] / hit['round_robin']:.1f}× round-robin's "
            f"({hit['preble_e2']:.2f} vs {hit['round_robin']:.2f}) yet its mean latency is "
            f"{100 * (lat['preble_e2'] / lat['round_robin'] - 1):.0f}% higher "
            f"({lat['preble_e2']:.2f} vs {lat['round_robin']:.2f} s); SGLang's cache-aware "
            f"router hits {hit['cache_aware']:.2f} with the lowest latency "
            f"({lat['cache_aware']:.2f} s).")


def scheduler_scalability(quick: bool = False, engines: Sequence[int] = (2, 4, 8, 16, 32),
                          prefixes: Sequence[int] = (100, 300, 1000)) -> pd.DataFrame:
    """Routing decisions per second of the E2 router alone, saturated with a burst of
    requests (as §4.4), vs engine count and tree size (number of distinct prefixes)."""
    if quick:
        engines, prefixes = engines[:2], prefixes[:1]
    rows = []
    for wl in ("toolbench", "videoqa"):
        for num_prefixes in prefixes:
            n = 600 if quick else 5000
            cfg = compose_config(CONFIG_MODULE, [f"workload={wl}", f"workload.num_requests={n}",
                                                 f"workload.num_prefixes={num_prefixes}"])
            trace = build_trace(cfg)
            for num_engines in engines:
                rate = _decisions_per_s(cfg, trace, num_engines)
                rows.append({"workload": wl, "num_prefixes": num_prefixes,
                             "num_engines": num_engines, "num_requests": len(trace),
                             "decisions_per_s": rate})
    return pd.DataFrame(rows)


def _decisions_per_s(cfg, trace, num_engines: int) -> float:
    from toolkit.route.testing import StaticView

    cost = instantiate(cfg.cost)
    router = instantiate(cfg.router)(num_engines=num_engines, seed=0, cost=cost)
    view = StaticView.of(num_engines, kv_capacity_tokens=198_516)
    start = time.perf_counter()
    for req in trace:  # a burst: every request arrives at once, none finishes meanwhile
        router.route(req, view)
    return len(trace) / (time.perf_counter() - start)


def ablation_checks(df: pd.DataFrame, quick: bool = False) -> pd.DataFrame:
    """Fig. 5's claims on our bars (`run_ablation`'s rows): what the notebook states
    (`ours`, asserted) and the paper's per-step claims (`paper`, reported). Values are
    latency ratios before ÷ after, so > 1 means the step helps."""
    bar = df.set_index("step")
    mean, p99 = bar["latency_s_mean"], bar["latency_s_p99"]
    rr, chunk, e2, rebal, pd_bal, prio = ABLATION_STEPS
    unchunked = ABLATION_SIDE["e2_unchunked"]
    gain = {name: mean[prev] / mean[name] for prev, name in zip(ABLATION_STEPS, ABLATION_STEPS[1:])}
    return claims_table([
        Claim("chunked prefill alone lowers round-robin's mean latency (RR ÷ RR+chunking)",
              mean[rr] / mean[chunk], ">=", 1.2),
        Claim("E2 lowers the mean over chunked round-robin", mean[chunk] / mean[e2], ">=",
              bound(2.0, 1.2, quick)),
        Claim("E2 helps without chunking too (RR ÷ E2 unchunked, mean)",
              mean[rr] / mean[unchunked], ">=", 1.2),
        Claim("E2 is the chain's largest gain in mean latency (its ratio ÷ the next largest)",
              gain[e2] / max(v for k, v in gain.items() if k != e2), ">=",
              bound(1.0, None, quick)),
        Claim("rebalancing/autoscaling lowers p99 (before ÷ after)", p99[e2] / p99[rebal], ">=",
              bound(1.1, None, quick)),
        Claim("prefill/decode balancing raises p99 (after ÷ before)", p99[pd_bal] / p99[rebal],
              ">=", 1.3),
        Claim("the priority queue raises the mean (after ÷ before)", mean[prio] / mean[pd_bal],
              ">=", bound(1.1, None, quick)),
        Claim("the priority queue lowers p99 (before ÷ after)", p99[pd_bal] / p99[prio], ">=",
              bound(1.1, None, quick)),
        Claim("paper: E2 (with chunked prefill) improves the mean over SGLang RR",
              mean[rr] / mean[e2], ">", 1.0, kind="paper"),
        Claim("paper: rebalancing/autoscaling improves the mean", gain[rebal], ">", 1.0,
              kind="paper"),
        Claim("paper: prefill/decode balancing improves the mean", gain[pd_bal], ">", 1.0,
              kind="paper"),
        Claim("paper: the priority queue improves p99", p99[pd_bal] / p99[prio], ">", 1.0,
              kind="paper"),
    ])
