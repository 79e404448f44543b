"""Planners, profiles, dispatch and the balancer against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape, CostModel
from toolkit.plan.base import ClusterPlan, ClusterView, GroupSpec
from toolkit.plan.capacity import GroupProfile, ProfileTable, slo_safe_profile
from toolkit.plan.dispatch import GroupLoad, LeastLoadedDispatch, NitsumDispatch, RoundRobinDispatch
from toolkit.plan.migrate import MigrationBalancer
from toolkit.plan.nitsum import NitsumPlanner
from toolkit.plan.static import DisaggPlanner, SplitPlanner, StaticTPPlanner, deal
from toolkit.workloads.tiers import TierSLO


class LinearCost(CostModel):
    """Prefill 1 ms per 100 tokens; decode 10 ms + 0.1 ms per sequence."""

    def iteration_s(self, batch: BatchShape) -> float:
        return sum(batch.prefill_new) * 1e-5 + (0.01 + 1e-4 * batch.num_decode
                                                if batch.num_decode else 0.0)


def test_slo_safe_rate_by_hand():
    """P=1000 (t_p = 10 ms), O=100: lam(B) = B / (100 t_d(B) + B 0.01); TPOT target 12 ms
    allows t_d(B) / (1 - lam t_p) <= 12 ms."""
    slo = TierSLO("t", 1.0, 0.012)
    prof = slo_safe_profile(LinearCost(), slo, 1000, 100, kv_tokens=10**9)

    def ok(b: int) -> tuple[bool, float]:
        t_d = 0.01 + 1e-4 * b
        lam = b / (100 * t_d + b * 0.01)
        return t_d / (1 - lam * 0.01) <= 0.012, lam

    best = max((ok(b)[1], b) for b in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64) if ok(b)[0])
    assert (prof.rate_rps, prof.batch) == pytest.approx(best)
    assert slo_safe_profile(LinearCost(), TierSLO("t", 0.015, 1.0), 1000, 100, 10**9).rate_rps == 0
    # decode alone: 10 ms + 0.1 ms * B <= 12 ms for B <= 20, so 16 of the batch grid
    assert prof.decode_batch == 16


def _table(rates: dict[str, dict[int, float]]) -> ProfileTable:
    return ProfileTable({t: {tp: GroupProfile(r, 8 * tp) for tp, r in d.items()}
                         for t, d in rates.items()})


def test_nitsum_greedy_by_hand():
    """a: TP2 gives 30 req/s on 2 GPUs (15/GPU) vs TP1 10/GPU; demand 30 -> one TP2 group.
    b: demand 5 -> a TP1 group (min(10, 5) / 1 = 5 beats min(30, 5) / 2). Two GPUs left go
    to the tier with the least capacity per request."""
    p = NitsumPlanner(tp_levels=(1, 2), hysteresis=0.0)
    p.bind(_table({"a": {1: 10, 2: 30}, "b": {1: 10, 2: 30}}))
    p.initial(5, ["a", "b"])
    plan = p.allocate(5, {"a": 30, "b": 5}, {"a": 1, "b": 1})
    groups = sorted((g.tier, g.tp) for g in plan.groups)
    assert ("a", 2) in groups and ("b", 1) in groups and plan.num_gpus == 5
    starved = p.allocate(3, {"a": 30, "b": 30}, {"a": 1.0, "b": 4.0})
    assert [g.tier for g in starved.groups if g.tp == 2] == ["b"]  # starvation wins the TP2


def test_nitsum_changes_plan_only_for_more_goodput():
    p = NitsumPlanner(tp_levels=(1, 2), hysteresis=0.05, smoothing_s=0)
    p.bind(_table({"a": {1: 10, 2: 30}}))
    p.initial(4, ["a"])
    twos = ClusterPlan((GroupSpec(2, "a"), GroupSpec(2, "a")))
    assert p.replan(ClusterView(1.0, 4, {"a": 5.0}, {"a": 5.0}, twos)) is twos  # 5 = 5
    ones = ClusterPlan((GroupSpec(1, "a"),) * 4)  # 40 req/s against a demand of 100
    new = p.replan(ClusterView(1.0, 4, {"a": 100.0}, {"a": 40.0}, ones))
    assert new != ones and p.goodput(new, {"a": 100.0}) == 60.0
    smooth = NitsumPlanner(tp_levels=(1, 2), smoothing_s=10.0)
    smooth.bind(_table({"a": {1: 10, 2: 30}}))
    smooth.initial(4, ["a"])
    smooth.replan(ClusterView(1.0, 4, {"a": 10.0}, {"a": 10.0}, ones))
    smooth.replan(ClusterView(2.0, 4, {"a": 110.0}, {"a": 10.0}, ones))
    assert smooth._arrival["a"] == pytest.approx(20.0)  # 10% of the way per 1-s window
    fixed = NitsumPlanner(dynamic_tp=False, tp=2)
    fixed.bind(_table({"a": {1: 10, 2: 30}}))
    assert {g.tp for g in fixed.initial(4, ["a"]).groups} == {2}


def test_starvation_weighted_comparison_by_hand():
    """Two TP-1 GPUs on tier a (20 req/s each, demand 40, all served); tier b (10 req/s per
    GPU) gets 10 req/s and has 2 served: starvation 10 / 2 = 5, capped at 4. The greedy gives
    b one GPU (10 x 4 = 40 beats a's 20). Unweighted, that plan's 20 + 10 = 30 loses to the
    current 40; weighted, 20 + 4 x 10 = 60 beats 1.05 x 40."""
    view = ClusterView(1.0, 2, {"a": 40.0, "b": 10.0}, {"a": 40.0, "b": 2.0},
                       ClusterPlan((GroupSpec(1, "a"), GroupSpec(1, "a"))))
    got = {}
    for weigh in (False, True):
        p = NitsumPlanner(tp_levels=(1,), smoothing_s=0, weigh_starvation=weigh)
        p.bind(_table({"a": {1: 20}, "b": {1: 10}}))
        p.initial(2, ["a", "b"])
        got[weigh] = sorted(g.tier for g in p.replan(view).groups)
    assert got == {False: ["a", "a"], True: ["a", "b"]}


def test_safe_batch_by_role():
    from toolkit.plan.capacity import safe_batch

    table = ProfileTable({"a": {1: GroupProfile(10.0, 8, 24)}, "b": {1: GroupProfile(5.0, 4, 12)}})
    slos = {"a": TierSLO("a", 1.0, 0.01), "b": TierSLO("b", 1.0, 0.01)}
    assert safe_batch(table, GroupSpec(1, "a"), ["a", "b"], slos) == 8
    assert safe_batch(table, GroupSpec(1), ["a", "b"], slos) == 4  # shared: the strictest
    assert safe_batch(table, GroupSpec(1, None, "decode"), ["a", "b"], slos) == 12
    assert safe_batch(table, GroupSpec(1, None, "prefill"), ["a", "b"], slos) == 0


def test_static_plans():
    assert StaticTPPlanner(2).initial(8, ["a"]).groups == (GroupSpec(2),) * 4
    split = SplitPlanner({"a": 0.75, "b": 0.25}, 1).initial(8, ["a", "b"])
    assert sorted(g.tier for g in split.groups) == ["a"] * 6 + ["b"] * 2
    d = DisaggPlanner(2, 0.25).initial(8, ["a"])
    assert [g.role for g in d.groups] == ["prefill", "decode", "decode", "decode"]
    assert deal(5, [1, 1, 1]) == [2, 2, 1] or sorted(deal(5, [1, 1, 1])) == [1, 2, 2]
    with pytest.raises(ConfigError, match="tp"):
        StaticTPPlanner(3)
    with pytest.raises(ConfigError, match="plan"):
        ClusterPlan((GroupSpec(4), GroupSpec(8))).check(8)


def _loads(*specs):
    return [GroupLoad(i, tier, "mixed", 1, load, safe, safe_rate=2.0, gid=10 + i)
            for i, (tier, load, safe) in enumerate(specs)]


def test_dispatchers():
    gs = _loads(("a", 3, 4), ("a", 1, 4), ("b", 0, 4))
    assert LeastLoadedDispatch().choose("a", gs) == 1
    rr = RoundRobinDispatch()
    assert [rr.choose("a", gs) for _ in range(4)] == [1, 0, 1, 0]


def test_nitsum_dispatch_keeps_each_group_within_its_safe_rate():
    """Two groups of tier a, 2 req/s each, 1-s window: four feasible placements in a second,
    then best effort (round-robin over GPUs, the TP-2 group taking two turns)."""
    gs = _loads(("a", 0, 4), ("a", 0, 4))
    gs.append(GroupLoad(2, "b", "mixed", 2, 0, 4, safe_rate=2.0, gid=12))
    d = NitsumDispatch(window_s=1.0)
    picks = [d.choose("a", gs, now=0.1 * k) for k in range(4)]
    assert sorted(picks) == [0, 0, 1, 1] and d.feasible
    extra = [d.choose("a", gs, now=0.5) for _ in range(8)]
    assert not d.feasible and sorted(extra) == [0, 0, 1, 1, 2, 2, 2, 2]
    assert d.choose("a", gs, now=1.05) in (0, 1) and d.feasible  # the window moved on
    d.choose("c", gs, now=2.0)
    assert not d.feasible  # a tier without groups is best effort


def test_balancer_moves_from_busiest_to_idlest_of_a_tier():
    moves = MigrationBalancer(threshold=0.25, max_moves=10).moves(
        _loads(("a", 8, 4), ("a", 0, 4), ("b", 0, 4)))
    assert moves == [(0, 1)] * 4
    assert MigrationBalancer().moves(_loads(("a", 2, 4), ("a", 2, 4))) == []
    assert not math.isnan(MigrationBalancer().downtime_s)
