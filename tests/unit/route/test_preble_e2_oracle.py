"""Preble E2 against brute-force recomputations of its decision and its load cost."""

from __future__ import annotations

import random
import statistics

import pytest

from toolkit.route.base import RequestEvent
from toolkit.route.preble_e2 import PrebleE2Router
from toolkit.route.testing import LinearCostModel, StaticView, make_request

BIG = 10**9
COST = LinearCostModel()


def lcp(a, b) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


class Oracle:
    """Keeps every routed request and recomputes E2's numbers from scratch."""

    def __init__(self, window_s: float, default_output_len: int = 45) -> None:
        self.window_s = window_s
        self.default_output_len = default_output_len
        self.log: list[dict] = []
        self.tpots: dict[int, list[float]] = {}

    def hit(self, key, g: int) -> int:
        return max((lcp(e["key"], key) for e in self.log if e["gpu"] == g), default=0)

    def pf(self, new: int, cached: int) -> float:
        return COST.prefill_s(new, cached) if new > 0 else 0.0

    def load(self, g: int, now: float) -> float:
        win = [e for e in self.log if e["gpu"] == g and e["t"] > now - self.window_s]
        if not win:
            return 0.0
        outs = [e["out"] for e in win if e["out"] is not None]
        avg_out = sum(outs) / len(outs) if outs else self.default_output_len
        tp = self.tpots.get(g, [])[-200:]
        ctx = sum(e["prompt"] for e in win) // len(win)
        tpot = statistics.median(tp) if tp else COST.decode_s(1, max(ctx, 1))
        return sum(self.pf(e["prompt"] - e["hit"], e["hit"]) for e in win) + len(win) * avg_out * tpot

    def cost(self, key, g: int, now: float) -> tuple[float, float]:
        h = self.hit(key, g)
        return self.load(g, now), self.pf(len(key) - h, h)

    def add(self, key, g: int, now: float) -> dict:
        e = {"t": now, "key": key, "gpu": g, "hit": self.hit(key, g), "prompt": len(key), "out": None}
        self.log.append(e)
        return e


def random_key(rng: random.Random, bases: list[tuple[int, ...]]) -> tuple[int, ...]:
    base = rng.choice(bases)
    return base[: rng.randint(0, len(base))] + tuple(rng.randrange(5) for _ in range(rng.randint(0, 12)))


def plain_router(n: int, **kw) -> PrebleE2Router:
    kw = {"enable_rebalance": False, "enable_autoscale": False, "enable_pd_balance": False} | kw
    return PrebleE2Router(n, cost=COST, **kw)


@pytest.mark.parametrize("seed", range(8))
def test_exploit_explore_decision_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 4)
    router, oracle = plain_router(n), Oracle(180.0)
    view = StaticView.of(n, kv_capacity_tokens=BIG)
    bases = [tuple(rng.randrange(5) for _ in range(16)) for _ in range(3)]
    pending: list = []
    for i in range(120):
        key = random_key(rng, bases)
        matched = max((lcp(e["key"], key) for e in oracle.log), default=0)
        exploit = matched > len(key) - matched
        cands = sorted({e["gpu"] for e in oracle.log if lcp(e["key"], key) >= matched}) if exploit else list(range(n))
        costs = {g: sum(oracle.cost(key, g, 0.0)) for g in cands}
        g = router.route(make_request(i, key, output_len=rng.randint(1, 9)), view)
        d = router.last_decision
        assert (d.kind == "exploit") == exploit
        assert (d.matched_tokens, d.missed_tokens) == (matched, len(key) - matched)
        assert sorted(d.candidates) == cands
        assert costs[g] <= min(costs.values()) + 1e-12
        pending.append((oracle.add(key, g, 0.0), make_request(i, key, output_len=rng.randint(1, 9))))
        if rng.random() < 0.4:
            e, req = pending.pop(rng.randrange(len(pending)))
            tpot = rng.choice([0.0, 0.01, 0.03])
            router.observe(RequestEvent("finish", req, e["gpu"], 0.0, 0.1, tpot, 0))
            e["out"] = req.output_len
            if tpot > 0:
                oracle.tpots.setdefault(e["gpu"], []).append(tpot)


@pytest.mark.parametrize("own", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_load_cost_matches_brute_force_over_the_window(seed: int, own: bool) -> None:
    rng = random.Random(100 + seed)
    n = 3
    router = plain_router(n, window_s=5.0, include_own_prefill=own)
    oracle = Oracle(5.0)
    view = StaticView.of(n, kv_capacity_tokens=BIG)
    bases = [tuple(rng.randrange(5) for _ in range(20)) for _ in range(3)]
    pending: list = []
    for i in range(150):
        view.time_s += rng.choice([0.0, 0.0, 0.3, 1.0])
        key = random_key(rng, bases)
        req = make_request(i, key, view.now_s, output_len=rng.randint(1, 50))
        got = router.load_costs(req, view)
        for g in range(n):
            load, p = oracle.cost(key, g, view.now_s)
            assert got[g].load_s == pytest.approx(load, rel=1e-9, abs=1e-12)
            assert got[g].own_prefill_s == pytest.approx(p if own else 0.0)
            assert got[g].eviction_s == 0.0
        g = router.route(req, view)
        pending.append((oracle.add(key, g, view.now_s), req))
        if rng.random() < 0.5:
            e, r = pending.pop(rng.randrange(len(pending)))
            tpot = rng.choice([0.0, 0.02, 0.05])
            router.observe(RequestEvent("finish", r, e["gpu"], view.now_s, 0.1, tpot, 0))
            if e["t"] > view.now_s - 5.0:
                e["out"] = r.output_len
            if tpot > 0:
                oracle.tpots.setdefault(e["gpu"], []).append(tpot)
        router.check_integrity()
