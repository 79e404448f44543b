"""Preble's other figures: Table 1, the Azure mix (Fig. 4), the ablation (Fig. 5), the
global scheduler's scalability (§4.4) and a Mooncake-trace replay."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate

from experiments.common.runner import build_trace
from experiments.common.sweep import compose_config, run_points
from experiments.preble.figures import CONFIG_MODULE, SYSTEMS

# Fig. 5's steps, each adding one feature: conf/ablation/step{0..4}.yaml.
ABLATION_STEPS = ("SGLang RR", "E2 no re-adjust", "+rebalance/autoscale", "+prefill/decode",
                  "+priority queue (all)")
TABLE1_WORKLOADS = ("toolbench", "embodied", "programming", "videoqa", "loogle")


def table1(quick: bool = False, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """Workload statistics of the generated workloads (Preble's Table 1 columns)."""
    from toolkit.workloads.stats import stats_table

    traces = {}
    for wl in TABLE1_WORKLOADS:
        ov = [f"workload={wl}", *(["workload.num_requests=400"] if quick else []), *overrides]
        traces[wl] = build_trace(compose_config(CONFIG_MODULE, ov))
    return stats_table(traces)


def run_ablation(rps: float = 24.0, quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", n_jobs: int = 2) -> pd.DataFrame:
    """Fig. 5: one row per step with its latency summary."""
    points = []
    for i, step in enumerate(ABLATION_STEPS):
        extra = ["workload.num_requests=600"] if quick else []
        points.append(({"run": f"step{i}", "step": step, "order": i},
                       ["experiment=fig5_ablation", f"ablation=step{i}", f"workload.rps={rps}",
                        *extra, *overrides]))
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


def run_mooncake(quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", n_jobs: int = 2,
                 routers: Sequence[str] = ("round_robin", "cache_aware", "preble_e2")) -> pd.DataFrame:
    """Replay the Mooncake conversation trace on 8 H200s (Llama-3-8B) under several routers."""
    base = ["experiment=mooncake_replay"]
    if quick:
        base.append("workload.num_requests=600")
    points = [({"run": r, "system": r}, [*base, f"router={r}", *overrides]) for r in routers]
    return run_points(CONFIG_MODULE, points, Path(results_dir) / "mooncake", n_jobs=n_jobs)


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


def ablation_checks(df: pd.DataFrame) -> pd.DataFrame:
    """The paper's ablation claims on our bars: each step improves the mean, except the
    priority queue, which improves p99."""
    rows = []
    for prev, cur in zip(df.itertuples(), df.iloc[1:].itertuples()):
        metric = "latency_s_p99" if cur.step.startswith("+priority") else "latency_s_mean"
        before, after = getattr(prev, metric), getattr(cur, metric)
        rows.append({"step": cur.step, "metric": metric, "before": before, "after": after,
                     "improves": bool(after < before)})
    return pd.DataFrame(rows)
