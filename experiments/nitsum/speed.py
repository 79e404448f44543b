"""Planner decision time by cluster size (shared by the notebook and
`benchmarks/bench_planner.py`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.nitsum.runner import load_tiers
from toolkit.plan.base import ClusterView
from toolkit.plan.nitsum import NitsumPlanner
from toolkit.sim.tp_setup import pool_setup, slos_and_profiles
from toolkit.workloads.tiers import TieredWorkload


def planner_times(sizes: Sequence[int] = (8, 32, 128), calls: int = 200,
                  seed: int = 0) -> pd.DataFrame:
    """Median and p99 of `NitsumPlanner.replan` (closed-form profiles of llama3-8b on the
    H200 model, `tiers=three`); demand per tier drawn at random each call (so the plan
    changes), scaled with the cluster size."""
    tiers = load_tiers("three")
    setup = pool_setup("llama3-8b", "h200", (1, 2, 4, 8), True)
    w = TieredWorkload(np.zeros(1), np.array([1155]), np.array([211]), np.zeros(1, int),
                       tuple(t.name for t in tiers))
    _, profiles = slos_and_profiles(setup, tiers, w)
    rng = np.random.default_rng(seed)
    rows = []
    for gpus in sizes:
        p = NitsumPlanner(hysteresis=0.0, smoothing_s=0.0)
        p.bind(profiles)
        plan = p.initial(gpus, [t.name for t in tiers])
        times = []
        for _ in range(calls):
            demand = {t.name: float(rng.uniform(0.2, 2.0) * 12 * gpus * t.share) for t in tiers}
            served = {k: v * rng.uniform(0.5, 1.0) for k, v in demand.items()}
            t0 = time.perf_counter()
            plan = p.replan(ClusterView(0.0, gpus, demand, served, plan))
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1e3
        rows.append({"num_gpus": gpus, "median_ms": float(np.median(ms)),
                     "p99_ms": float(np.percentile(ms, 99)), "groups": len(plan.groups)})
    return pd.DataFrame(rows)
