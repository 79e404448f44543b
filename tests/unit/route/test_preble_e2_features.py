"""Each E2 feature switch changes behaviour in a case built for it."""

from __future__ import annotations

import pytest

from toolkit.core.request import Request
from toolkit.route.base import RequestEvent
from toolkit.route.load_cost import historical_load_s
from toolkit.route.preble_e2 import PrebleE2Router
from toolkit.route.rebalance import rebalance
from toolkit.route.testing import LinearCostModel, StaticView, make_request

COST = LinearCostModel()
BIG = 10**9


def router(n: int = 2, **kw) -> PrebleE2Router:
    base = {"enable_rebalance": False, "enable_autoscale": False, "enable_pd_balance": False,
            "default_output_len": 0}
    return PrebleE2Router(n, cost=COST, **(base | kw))


def seq(start: int, n: int) -> tuple[int, ...]:
    return tuple(range(start, start + n))


def finish(r: PrebleE2Router, req: Request, g: int, t: float = 0.0) -> None:
    r.observe(RequestEvent("finish", req, g, t, 0.1, 0.0, 0))


def test_needs_a_cost_model() -> None:
    with pytest.raises(ValueError, match="cost"):
        PrebleE2Router(2)


def test_tie_explores_and_strict_majority_exploits() -> None:
    r, view = router(), StaticView.of(2, kv_capacity_tokens=BIG)
    r.route(make_request(0, seq(0, 10)), view)
    r.route(make_request(1, seq(0, 5) + seq(100, 5)), view)
    assert r.last_decision.kind == "explore"  # 5 matched == 5 missed
    r.route(make_request(2, seq(0, 6) + seq(200, 4)), view)
    assert r.last_decision.kind == "exploit"


@pytest.mark.parametrize("own", [True, False])
def test_include_own_prefill_changes_the_choice(own: bool) -> None:
    r, view = router(include_own_prefill=own), StaticView.of(2, kv_capacity_tokens=BIG)
    a = seq(0, 100)
    assert r.route(make_request(0, a), view) == 0
    assert r.route(make_request(1, seq(1000, 100)), view) == 1
    assert r.route(make_request(2, seq(2000, 10)), view) == 0  # tie -> 0; GPU 0 now heavier
    g = r.route(make_request(3, a[:40] + seq(5000, 60)), view)
    assert r.last_decision.kind == "explore"
    assert g == (0 if own else 1)  # 40 cached tokens on GPU 0 outweigh its extra load


@pytest.mark.parametrize("enabled,pick,want", [(True, "best_ratio", 2), (True, "lowest_cost", 1),
                                               (False, "lowest_cost", 0)])
def test_pd_balance_sends_explore_requests_to_a_high_hit_gpu(enabled, pick, want) -> None:
    r = router(3, enable_pd_balance=enabled, pd_pick=pick)
    view = StaticView.of(3, kv_capacity_tokens=BIG)
    view.engines[2].window_hit_ratio = 0.8
    view.engines[1].window_hit_ratio = 0.7  # both >= 0.7: equal costs, so the lower id
    assert r.route(make_request(0, seq(0, 50)), view) == want
    assert r.last_decision.kind == ("pd_balance" if enabled else "explore")
    assert set(r.last_decision.candidates) == ({1, 2} if pick == "lowest_cost" and enabled
                                               else {want} if enabled else {0, 1, 2})


@pytest.mark.parametrize("enabled", [True, False])
def test_eviction_cost_steers_away_from_a_full_gpu(enabled: bool) -> None:
    r, view = router(enable_eviction_cost=enabled), StaticView.of(2)
    view.engines[0].kv_capacity_tokens, view.engines[1].kv_capacity_tokens = 150, 1000
    keys = [seq(0, 100), seq(1000, 100), seq(1000, 100) + seq(3000, 30)]
    reqs = [make_request(i, k, output_len=0) for i, k in enumerate(keys)]  # no decode term
    assert [r.route(q, view) for q in reqs] == [0, 1, 1]
    for q, g in zip(reqs, [0, 1, 1]):
        finish(r, q, g)
    costs = r.load_costs(make_request(3, seq(7000, 100)), view)
    assert costs[1].eviction_s == 0.0
    assert costs[0].eviction_s == (pytest.approx(COST.prefill_s(100, 0)) if enabled else 0.0)
    assert r.route(make_request(3, seq(7000, 100)), view) == (1 if enabled else 0)


def test_eviction_assume_full_charges_even_with_free_space() -> None:
    view = StaticView.of(2, kv_capacity_tokens=BIG)
    for full, want in [(True, COST.prefill_s(100, 0)), (False, 0.0)]:
        r = router(eviction_assume_full=full)
        q = make_request(0, seq(0, 100))
        finish(r, q, r.route(q, view))
        assert r.load_costs(make_request(1, seq(500, 100)), view)[0].eviction_s == pytest.approx(want)


def test_virtual_cache_is_lru_and_respects_in_flight_requests() -> None:
    r, view = router(1), StaticView.of(1, kv_capacity_tokens=250)
    q = [make_request(i, seq(1000 * i, 100)) for i in range(3)]
    r.route(q[0], view)
    r.route(q[1], view)
    r.route(q[2], view)  # 300 > 250, but all are in flight: nothing can go
    assert r.state.gpus[0].cached_tokens == 300
    finish(r, q[0], 0)
    finish(r, q[1], 0)
    r.route(make_request(9, seq(5000, 10)), view)
    assert r.state.gpus[0].cached_tokens == 210  # the oldest (q0) was evicted and pruned
    assert r.tree.match(seq(0, 100)).matched == 100  # still in the window: kept in the tree
    r.check_integrity()


def test_window_expiry_drops_allocation_and_prunes() -> None:
    r, view = router(2, window_s=10.0), StaticView.of(2, kv_capacity_tokens=100)
    q = make_request(0, seq(0, 60))
    g = r.route(q, view)
    finish(r, q, g)
    node = r.tree.match(seq(0, 60)).nodes[-1]
    assert node.alloc == {g}
    view.time_s = 10.0
    r.route(make_request(1, seq(500, 60)), view)  # expires q; fills GPU 0's cache
    assert node.alloc == set() and node.cnt == 0
    r.route(make_request(2, seq(900, 60)), view)
    r.check_integrity()
    assert r.tree.num_nodes <= 3


def _imbalanced(enable_rebalance: bool, enable_autoscale: bool = False, **kw) -> tuple:
    """Prefixes all allocated to GPU 0 while GPU 1 was down; then GPU 1 comes back."""
    r = router(2, enable_rebalance=enable_rebalance, enable_autoscale=enable_autoscale,
               rebalance_warmup_per_gpu=0, **kw)
    view = StaticView.of(2, kv_capacity_tokens=BIG)
    view.engines[1].alive = False
    prefixes = [seq(1000 * p, 100) for p in range(4)]
    for i, p in enumerate(prefixes):
        r.route(make_request(i, p + (9000 + i,)), view)
    view.engines[1].alive = True
    return r, view, prefixes


@pytest.mark.parametrize("enabled", [True, False])
def test_rebalance_moves_prefixes_to_the_idle_gpu(enabled: bool) -> None:
    r, view, prefixes = _imbalanced(enabled)
    got, adjustments = [], set()
    for i in range(16):
        got.append(r.route(make_request(10 + i, prefixes[i % 4] + (500 + i,)), view))
        assert r.last_decision.kind == "exploit"
        adjustments.add(r.last_adjustment)
    assert (1 in got) == enabled
    assert ("move" in adjustments) == enabled
    r.check_integrity()


def test_rebalance_reduces_max_over_min_without_inverting() -> None:
    r, view, prefixes = _imbalanced(False)
    for i in range(8):
        r.route(make_request(10 + i, prefixes[i % 4] + (500 + i,)), view)
    before = [historical_load_s(r.state, g, 0) for g in (0, 1)]
    assert before[1] == 0.0
    r.route(make_request(99, seq(50_000, 3)), view)  # a little load on GPU 1
    before = [historical_load_s(r.state, g, 0) for g in (0, 1)]
    assert rebalance(r.state, [0, 1], 0.0, threshold=1.5, default_output_len=0) == "move"
    after = [historical_load_s(r.state, g, 0) for g in (0, 1)]
    assert max(after) / min(after) < max(before) / min(before)
    assert after[0] >= after[1] and sum(after) == pytest.approx(sum(before))
    r.check_integrity()


def _hot_prefix(enable_autoscale: bool) -> list[int]:
    r = router(2, enable_autoscale=enable_autoscale, rebalance_warmup_per_gpu=0, window_s=10.0)
    view = StaticView.of(2, kv_capacity_tokens=BIG)
    hot = seq(0, 200)
    got = []
    for i in range(40):
        view.time_s = i * 0.25
        q = make_request(i, hot + (10_000 + i,), view.now_s)
        g = r.route(q, view)
        got.append(g)
        ttft = 0.1 if view.now_s < 5.0 else 0.5  # TTFT jumps 5x in the newer half
        r.observe(RequestEvent("first_token", q, g, view.now_s, ttft, 0.0, 0))
    return got


def test_autoscale_replicates_a_hot_prefix() -> None:
    on, off = _hot_prefix(True), _hot_prefix(False)
    assert set(off[1:]) == {0}  # one prefix: moving it would invert, so no rebalancing
    first = on.index(1, 1)  # request 0 may explore anywhere; later ones exploit
    assert first * 0.25 > 5.0 and set(on[first:]) == {0, 1}


def test_block_hash_keys_count_tokens_per_block() -> None:
    r, view = router(2), StaticView.of(2, kv_capacity_tokens=BIG)
    mk = lambda i, h, n: Request(str(i), 0.0, 5, prompt_len=n, block_hashes=h, block_size=16)  # noqa: E731
    r.route(mk(0, (1, 2, 3, 4), 60), view)
    r.route(mk(1, (1, 2, 3, 9), 64), view)
    assert (r.last_decision.matched_tokens, r.last_decision.missed_tokens) == (48, 16)
    with pytest.raises(ValueError, match="tokens_per_key"):
        r.route(make_request(2, seq(0, 5)), view)
