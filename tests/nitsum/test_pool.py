"""The tiered pool simulator: hand-computed latencies, conservation, switch costs,
determinism and records that survive a failure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from toolkit.cost.base import BatchShape
from toolkit.cost.tp import TPSwitchCost
from toolkit.plan.base import ClusterPlan, ClusterView, GroupSpec, Planner
from toolkit.plan.dispatch import FCFSLocal, LeastLoadedDispatch, SLOAwareLocal
from toolkit.plan.static import DisaggPlanner, StaticTPPlanner
from toolkit.sim.tp_cluster import TieredPool
from toolkit.sim.tp_setup import pool_setup, slos_and_profiles
from toolkit.workloads.tiers import Tier, TieredWorkload

TIERS = [Tier("fast", 0.5, 3.0, 2.0), Tier("bulk", 0.5)]


def _workload(n: int, rps: float, seed: int = 0, prompt: int = 500, output: int = 50):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / rps, n))
    return TieredWorkload(t, np.full(n, prompt), np.full(n, output), rng.integers(0, 2, n),
                          ("fast", "bulk"))


def _run(w, planner, tmp_path, name="r", switch=None, full=False, local=None, gpus=4, **kw):
    setup = pool_setup("llama3-8b", "h200", (1, 2, 4), full, switch)
    slos, prof = slos_and_profiles(setup, TIERS, w)
    pool = TieredPool(setup, planner, LeastLoadedDispatch(), local or FCFSLocal(), slos, prof,
                      gpus, **kw)
    stats = pool.run(w, tmp_path / f"{name}.parquet")
    return pd.read_parquet(tmp_path / f"{name}.parquet").sort_values("id"), stats, setup


def test_lone_request_latency_by_hand(tmp_path):
    w = TieredWorkload(np.array([1.0]), np.array([500]), np.array([50]), np.array([0]),
                       ("fast", "bulk"))
    df, _, setup = _run(w, StaticTPPlanner(2), tmp_path)
    cost = setup.costs[2]
    ttft = cost.iteration_s(BatchShape((500,), (0,)))
    decode = sum(cost.decode_s(1, 501 + j) for j in range(49))  # exact step by step
    r = df.iloc[0]
    assert r.first_token_s - 1.0 == pytest.approx(ttft, rel=1e-9)
    assert r.finish_s - r.first_token_s == pytest.approx(decode, rel=2e-3)
    assert r.tp == 2 and bool(r.slo_met)


def test_every_request_finishes_once_and_is_deterministic(tmp_path):
    w = _workload(400, 20)
    a, _, _ = _run(w, StaticTPPlanner(1), tmp_path, "a", local=SLOAwareLocal())
    b, _, _ = _run(w, StaticTPPlanner(1), tmp_path, "b", local=SLOAwareLocal())
    assert len(a) == 400 and a["id"].is_unique and np.isfinite(a["finish_s"]).all()
    assert (a["finish_s"] >= a["first_token_s"]).all() and (a["first_token_s"] > a["arrival_s"]).all()
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_load_raises_latency(tmp_path):
    lo, _, _ = _run(_workload(300, 5), StaticTPPlanner(1), tmp_path, "lo")
    hi, _, _ = _run(_workload(3000, 1000), StaticTPPlanner(1), tmp_path, "hi")
    assert hi["ttft_s"].median() > 2 * lo["ttft_s"].median()
    assert hi["tpot_s"].median() > 1.5 * lo["tpot_s"].median()


class SwitchAt(Planner):
    """TP 1 everywhere, then TP 2 from `at_s` on."""

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s

    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        return ClusterPlan((GroupSpec(1),) * num_gpus)

    def replan(self, view: ClusterView) -> ClusterPlan:
        if view.now_s >= self.at_s:
            return ClusterPlan((GroupSpec(2),) * (view.num_gpus // 2))
        return view.plan


def test_naive_switch_reloads_and_loses_kv_reuse_migrates(tmp_path):
    w = _workload(300, 30, output=400)
    naive, ns, setup = _run(w, SwitchAt(3.0), tmp_path, "naive", TPSwitchCost(reuse=False))
    reuse, rs, _ = _run(w, SwitchAt(3.0), tmp_path, "reuse", TPSwitchCost(), full=True)
    reload_s = setup.model.weight_bytes / (28e9 / 30)
    assert ns.num_reconfigurations == rs.num_reconfigurations == 1
    assert ns.downtime_gpu_s == pytest.approx(2 * 2 * reload_s)  # two TP-2 groups
    assert ns.num_kv_lost > 0 and naive["restarts"].sum() == ns.num_kv_lost
    assert rs.num_kv_lost == 0 and rs.num_kv_migrated > 0
    assert 0 < rs.downtime_gpu_s < 4 * 0.1  # overhead + migration: well under a second
    assert len(naive) == len(reuse) == 300
    assert naive["finish_s"].max() > reuse["finish_s"].max() + reload_s / 2


def test_disaggregation_hands_over_after_the_transfer(tmp_path):
    w = TieredWorkload(np.array([1.0]), np.array([1000]), np.array([20]), np.array([1]),
                       ("fast", "bulk"))
    df, _, setup = _run(w, DisaggPlanner(1, 0.5), tmp_path, gpus=2)
    r = df.iloc[0]
    transfer = 1001 * setup.model.kv_bytes_per_token / 366e9
    decode = sum(setup.costs[1].decode_s(1, 1001 + j) for j in range(19))
    assert r.finish_s - r.first_token_s == pytest.approx(transfer + decode, rel=3e-3)


class Boom(Planner):
    def initial(self, num_gpus, tiers):
        return ClusterPlan((GroupSpec(1),) * num_gpus)

    def replan(self, view):
        if view.now_s >= 5:
            raise RuntimeError("planner failed")
        return view.plan


def test_a_failed_run_leaves_its_records(tmp_path):
    w = _workload(200, 20)
    setup = pool_setup("llama3-8b", "h200", (1,), False)
    slos, prof = slos_and_profiles(setup, TIERS, w)
    pool = TieredPool(setup, Boom(), LeastLoadedDispatch(), FCFSLocal(), slos, prof, 2)
    with pytest.raises(RuntimeError, match="planner failed"):
        pool.run(w, tmp_path / "x.parquet")
    df = pd.read_parquet(tmp_path / "x.parquet")
    assert len(df) == 200 and 0 < np.isfinite(df["finish_s"]).sum() < 200
    assert pq.ParquetFile(tmp_path / "x.parquet").metadata.num_rows == 200


def test_records_stream_in_row_groups(tmp_path, monkeypatch):
    import toolkit.sim.tp_records as rec

    orig = rec.RecordSink.__init__
    monkeypatch.setattr(rec.RecordSink, "__init__",
                        lambda self, path, row_group=100_000: orig(self, path, 50))
    df, _, _ = _run(_workload(300, 20), StaticTPPlanner(1), tmp_path, "s")
    assert pq.ParquetFile(tmp_path / "s.parquet").num_row_groups >= 6 and len(df) == 300
    assert not math.isnan(df["finish_s"].max())


def test_wait_queue_orders_feasible_first_then_late_by_arrival():
    from toolkit.sim.tp_group import WaitQueue

    arrivals = [0.0, 1.0, 2.0, 3.0]
    deadlines = [10.0, 2.5, 5.0, 4.0]  # request 1 will be late at t=3
    q = WaitQueue(deadlines, arrivals)
    for r in range(4):
        q.push(r)
    got = [q.pop(3.0) for _ in range(4)]
    assert got == [3, 2, 0, 1]  # due by deadline (4, 5, 10), then the late one
    fifo = WaitQueue(None, arrivals)
    for r in (0, 1, 2):
        fifo.push(r)
    fifo.push(3, front=True)
    assert [fifo.pop(0.0) for _ in range(4)] == [3, 0, 1, 2] and fifo.peek(0.0) is None


N_BULK, N_FAST = 300, 5


def _burst_run(local, path):
    """One TP-1 Nitsum group for tier fast; a burst of N_BULK best-effort bulk requests, then
    N_FAST fast ones at 20 ms. The run's records and stats."""
    from toolkit.plan.dispatch import NitsumDispatch
    from toolkit.plan.nitsum import NitsumPlanner

    t = np.concatenate([np.linspace(0.0, 0.01, N_BULK), np.full(N_FAST, 0.02)])
    tier = np.concatenate([np.ones(N_BULK, int), np.zeros(N_FAST, int)])
    w = TieredWorkload(t, np.full(len(t), 500), np.full(len(t), 50), tier, ("fast", "bulk"))
    setup = pool_setup("llama3-8b", "h200", (1,), True)
    slos, prof = slos_and_profiles(setup, TIERS, w)
    pool = TieredPool(setup, NitsumPlanner(tp_levels=(1,)), NitsumDispatch(), local, slos,
                      prof, 1)
    stats = pool.run(w, path)
    return pd.read_parquet(path), stats


def test_best_effort_requests_wait_behind_feasible_ones(tmp_path):
    """The burst with no reserve: the bulk requests fill the batch, then fast ones arrive:
    with preemption they take best-effort
    slots at once; without it they wait behind the bulk requests."""
    firsts = {}
    for preempt in (True, False):
        local = SLOAwareLocal(max_batch=16, preempt_best_effort=preempt, reserve=0.0)
        df, stats = _burst_run(local, tmp_path / f"b{preempt}.parquet")
        fast, bulk = df[df.tier == "fast"], df[df.tier == "bulk"]
        firsts[preempt] = fast["first_token_s"].max()
        assert len(df) == N_BULK + N_FAST and np.isfinite(df["finish_s"]).all()
    assert firsts[True] < 0.5 < bulk["first_token_s"].median() < firsts[False]
    assert stats.num_preempted == 0


def test_reserve_keeps_slots_for_feasible_arrivals(tmp_path):
    """The same burst with a reserve of 1/4: best effort fills 12 of the 16 slots, so four
    fast requests join the batch at once (their first tokens come before any bulk request
    finishes); the fifth finds the batch full, misses its deadline in the
    queue and, late, waits by arrival behind the bulk requests queued before it."""
    local = SLOAwareLocal(max_batch=16, reserve=0.25)
    assert (local.best_effort_cap(16), local.best_effort_cap(3)) == (12, 3)
    assert SLOAwareLocal(reserve=0.0).best_effort_cap(16) == 16
    with pytest.raises(ValueError, match="reserve"):
        SLOAwareLocal(reserve=1.0)
    df, _ = _burst_run(local, tmp_path / "r.parquet")
    fast = np.sort(df[df.tier == "fast"]["first_token_s"].to_numpy())
    bulk = df[df.tier == "bulk"]
    first_bulk_done = bulk["finish_s"].min()
    assert (fast[:4] < first_bulk_done).all()
    assert fast[4] > bulk["first_token_s"].median()


class SwapTiersAt(Planner):
    """One TP-1 group per tier, their tiers swapped at `at_s` (same GPUs, same width)."""

    interval_s = 1.0

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s

    def initial(self, num_gpus, tiers):
        return ClusterPlan((GroupSpec(1, "bulk"), GroupSpec(1, "fast")))

    def replan(self, view):
        if view.now_s >= self.at_s:
            return ClusterPlan((GroupSpec(1, "fast"), GroupSpec(1, "bulk")))
        return view.plan


class Fixed(Planner):
    interval_s = 1.0

    def __init__(self, plan: ClusterPlan) -> None:
        self.plan = plan

    def initial(self, num_gpus, tiers):
        return self.plan

    def replan(self, view):
        return self.plan


def test_a_group_given_another_tier_takes_that_tiers_batch(tmp_path):
    """Tiers swapped on idle groups before any arrival: every record equals the run laid out
    that way from the start (a kept group once carried its old tier's SLO-safe batch, so the
    bulk group stayed capped at fast's batch)."""
    t = 3.0 + np.linspace(0.0, 0.05, 400)
    tier = np.arange(400) % 2
    w = TieredWorkload(t, np.full(400, 500), np.full(400, 200), tier, ("fast", "bulk"))
    runs = {}
    for name, planner in (("swap", SwapTiersAt(1.0)),
                          ("fixed", Fixed(ClusterPlan((GroupSpec(1, "fast"),
                                                       GroupSpec(1, "bulk")))))):
        df, stats, _ = _run(w, planner, tmp_path, name, local=SLOAwareLocal(reserve=0.0),
                            gpus=2)
        runs[name] = df.reset_index(drop=True)
    assert stats.num_reconfigurations == 0
    pd.testing.assert_frame_equal(runs["swap"].drop(columns="group"),
                                  runs["fixed"].drop(columns="group"))
