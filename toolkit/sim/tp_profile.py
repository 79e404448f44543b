"""Offline profiles measured on the simulator: the largest Poisson rate one TP group serves
with at least `target` SLO attainment, per tier and TP level (Nitsum profiles its groups
offline the same way, by measurement; DistServe defines goodput by the same 90% rule).

Each probe serves `probe_s` seconds of one tier's requests, with lengths drawn from the
workload, on a single group under SLO-aware batching; bisection over the rate, starting
from the closed form of `toolkit.plan.capacity` (whose SLO-safe batch caps the group)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.plan.base import ClusterPlan, GroupSpec, Planner
from toolkit.plan.capacity import GroupProfile, ProfileTable
from toolkit.plan.dispatch import LeastLoadedDispatch, SLOAwareLocal
from toolkit.workloads.tiers import TieredWorkload, TierSLO


class _One(Planner):
    def __init__(self, tp: int, tier: str) -> None:
        self.tp, self.tier = tp, tier

    def initial(self, num_gpus, tiers):
        return ClusterPlan((GroupSpec(self.tp, self.tier),))


def attainment(setup, slos: Mapping[str, TierSLO], table: ProfileTable, tier: str, tp: int,
               rate: float, w: TieredWorkload, probe_s: float, seed: int) -> float:
    """SLO attainment of one group of `tp` serving `tier` at Poisson `rate`."""
    from toolkit.sim.tp_cluster import TieredPool

    rng = np.random.default_rng(seed)
    n = max(1, int(rate * probe_s))
    t = np.cumsum(rng.exponential(1 / rate, n))
    pick = rng.integers(0, len(w), n)
    k = list(w.tier_names).index(tier)
    probe = TieredWorkload(t, w.prompt_len[pick], w.output_len[pick], np.full(n, k), w.tier_names)
    pool = TieredPool(setup, _One(tp, tier), LeastLoadedDispatch(), SLOAwareLocal(reserve=0.0), slos,
                      table, tp)
    with tempfile.TemporaryDirectory() as tmp:
        pool.run(probe, Path(tmp) / "r.parquet", drain_s=probe_s)
        df = pd.read_parquet(Path(tmp) / "r.parquet", columns=["slo_met"])
    return float(df["slo_met"].mean())


def measure_profiles(setup, slos: Mapping[str, TierSLO], analytic: ProfileTable,
                     w: TieredWorkload, target: float = 0.9, probe_s: float = 60.0,
                     steps: int = 7, seed: int = 0) -> ProfileTable:
    """See the module docstring. Tiers without targets keep the closed form's rate."""
    out: dict[str, dict[int, GroupProfile]] = {}
    for tier, by_tp in analytic.profile.items():
        out[tier] = {}
        for tp, guess in by_tp.items():
            if not slos[tier].has_target or guess.batch == 0:
                out[tier][tp] = guess
                continue
            lo, hi = 0.0, max(1.0, 2 * guess.rate_rps)
            while attainment(setup, slos, analytic, tier, tp, hi, w, probe_s, seed) >= target:
                lo, hi = hi, 2 * hi
            for _ in range(steps):
                mid = (lo + hi) / 2
                ok = attainment(setup, slos, analytic, tier, tp, mid, w, probe_s, seed) >= target
                lo, hi = (mid, hi) if ok else (lo, mid)
            out[tier][tp] = GroupProfile(lo, guess.batch, guess.decode_batch)
    return ProfileTable(out, analytic.best_effort)
