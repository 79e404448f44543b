"""E2's incremental bookkeeping (free-node heap, load memo, sorted TPOTs) decides exactly as
the plain scans and recomputations it replaces."""

from __future__ import annotations

import random
import statistics
import types

from toolkit.route.base import RequestEvent
from toolkit.route.e2_state import E2State, GpuState
from toolkit.route.global_tree import GlobalRadixTree
from toolkit.route.load_cost import historical_load_s
from toolkit.route.preble_e2 import PrebleE2Router
from toolkit.route.testing import LinearCostModel, StaticView, make_request


def scan_cache_path(st: E2State, leaf, g: int, capacity_tokens: int) -> None:
    """The LRU walk that skips in-use nodes one by one (the reference)."""
    gs = st.gpus[g]
    for node in GlobalRadixTree.path_up(leaf):
        st._stamp += 1
        if g not in node.cached_on:
            node.cached_on.add(g)
            gs.cached_tokens += st.node_tokens(node)
        else:
            gs.lru.move_to_end(node)
        gs.lru[node] = st._stamp
    if gs.cached_tokens <= capacity_tokens:
        return
    victims, excess = [], gs.cached_tokens - capacity_tokens
    for node in gs.lru:
        if g not in node.refs:
            victims.append(node)
            excess -= st.node_tokens(node)
            if excess <= 0:
                break
    for node in victims:
        st.uncache(node, g)


def recomputed_load(st: E2State, g: int, out_len: int) -> float:
    gs = st.gpus[g]
    if gs.count == 0:
        return 0.0
    avg = gs.out_sum / gs.out_cnt if gs.out_cnt else float(out_len)
    if gs.tpots:
        tpot = statistics.median(gs.tpots)
    else:
        tpot = st.cost.decode_s(1, max(gs.prompt_sum // gs.count, 1))
    return max(gs.prefill_sum, 0.0) + gs.count * (avg * tpot)


def lru_keys(r: PrebleE2Router) -> list[list[tuple[int, tuple[int, ...]]]]:
    return [[(n.ctx, n.key) for n in gs.lru] for gs in r.state.gpus]


def test_routing_matches_the_scanning_reference() -> None:
    rng = random.Random(7)
    kw = {"cost": LinearCostModel(), "window_s": 40.0, "rebalance_warmup_per_gpu": 5}
    fast, ref = PrebleE2Router(3, **kw), PrebleE2Router(3, **kw)
    ref.state.cache_path = types.MethodType(scan_cache_path, ref.state)
    view = StaticView.of(3, kv_capacity_tokens=600)
    prefixes = [tuple(rng.randrange(10**6) for _ in range(rng.randint(20, 200))) for _ in range(12)]
    inflight: list = []
    for i in range(1500):
        view.time_s += rng.expovariate(8.0)
        key = rng.choice(prefixes)[: rng.randint(5, 200)] + tuple(
            rng.randrange(10**6) for _ in range(rng.randint(0, 60)))
        req = make_request(i, key, view.time_s, output_len=rng.randint(1, 80))
        g = fast.route(req, view)
        assert ref.route(req, view) == g
        inflight.append((req, g))
        while inflight and rng.random() < 0.55:
            done, eg = inflight.pop(rng.randrange(len(inflight)))
            for kind in ("first_token", "finish"):
                ev = RequestEvent(kind, done, eg, view.time_s, 0.2, rng.uniform(0.01, 0.05), 0)
                fast.observe(ev)
                ref.observe(ev)
        assert lru_keys(fast) == lru_keys(ref)
        for g in range(3):
            assert historical_load_s(fast.state, g, 45) == recomputed_load(fast.state, g, 45)
        if i % 50 == 0:
            fast.check_integrity()
    fast.check_integrity()


def test_sorted_tpots_give_statistics_median() -> None:
    rng, gs = random.Random(3), GpuState()
    for _ in range(700):
        gs.add_tpot(rng.choice([rng.random(), 0.5, 0.25]))
        assert gs.tpots_sorted == sorted(gs.tpots)
        assert gs.tpot_median() == statistics.median(gs.tpots)
