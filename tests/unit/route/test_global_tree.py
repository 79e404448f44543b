"""The global radix tree: brute-force match oracle and hypothesis state-machine checks."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.route.global_tree import GlobalRadixTree
from toolkit.route.preble_e2 import PrebleE2Router
from toolkit.route.prefix import common_prefix_len
from toolkit.route.testing import LinearCostModel, StaticView, make_request


def lcp(a, b) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@given(st.lists(st.integers(0, 3), max_size=30), st.lists(st.integers(0, 3), max_size=30),
       st.integers(0, 5))
def test_common_prefix_len_matches_naive(a: list[int], b: list[int], start: int) -> None:
    ta, tb = tuple(a), tuple(b)
    start = min(start, len(ta))
    assert common_prefix_len(ta, start, tb) == lcp(ta[start:], tb)


def test_match_equals_longest_common_prefix_over_inserted_keys() -> None:
    rng = random.Random(0)
    tree = GlobalRadixTree()
    keys: list[tuple[int, ...]] = []
    for _ in range(400):
        base = rng.choice(keys) if keys and rng.random() < 0.7 else ()
        key = base[: rng.randint(0, len(base))] + tuple(rng.randrange(3) for _ in range(rng.randint(0, 8)))
        m = tree.match(key)
        assert m.matched == max((lcp(k, key) for k in keys), default=0)
        assert sum(len(n.key) for n in m.nodes[:-1]) + (m.last_len if m.nodes else 0) == m.matched
        leaf = tree.insert(key, m)
        assert leaf.end == len(key) or (not key and leaf is tree.root)
        keys.append(key)
    for key in keys:
        assert tree.match(key).matched == len(key)


def test_split_keeps_leaf_identity_and_copies_stats() -> None:
    tree = GlobalRadixTree()
    leaf = tree.insert((1, 2, 3, 4), tree.match((1, 2, 3, 4)))
    leaf.cnt, leaf.alloc = 1, {2}
    short = tree.insert((1, 2), tree.match((1, 2)))
    assert leaf.key == (3, 4) and leaf.parent is short and short.alloc == {2} and short.cnt == 1
    assert short.is_large is True and leaf.is_large is False
    assert GlobalRadixTree.key_portion(leaf) is short


ops = st.lists(
    st.one_of(
        st.tuples(st.just("route"), st.integers(0, 3), st.integers(0, 6), st.integers(0, 5)),
        st.tuples(st.just("finish"), st.integers(0, 50), st.integers(1, 30), st.integers(0, 0)),
        st.tuples(st.just("ttft"), st.integers(0, 50), st.integers(1, 30), st.integers(0, 0)),
        st.tuples(st.just("tick"), st.integers(1, 6), st.integers(0, 0), st.integers(0, 0)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, st.booleans(), st.integers(0, 2**16))
def test_random_route_finish_sequences_keep_integrity(seq, small_cache: bool, seed: int) -> None:
    from toolkit.route.base import RequestEvent

    rng = random.Random(seed)
    bases = [tuple(rng.randrange(3) for _ in range(8)) for _ in range(4)]
    router = PrebleE2Router(3, cost=LinearCostModel(), window_s=10.0, rebalance_warmup_per_gpu=0)
    view = StaticView.of(3, kv_capacity_tokens=12 if small_cache else 0)
    inflight, window, ever = [], [], []
    for i, (op, a, b, c) in enumerate(seq):
        if op == "route":
            key = bases[a][:b] + tuple(rng.randrange(3) for _ in range(c))
            req = make_request(i, key, view.now_s, output_len=b)
            g = router.route(req, view)
            inflight.append((req, g))
            window.append((view.now_s, key))
            ever.append(key)
        elif op in ("finish", "ttft") and inflight:
            req, g = inflight[a % len(inflight)]
            kind = "finish" if op == "finish" else "first_token"
            router.observe(RequestEvent(kind, req, g, view.now_s, 0.01 * b, 0.001 * b, 0))
            if kind == "finish":
                inflight.remove((req, g))
        elif op == "tick":
            view.time_s += a
        router.check_integrity()
        probe = bases[rng.randrange(4)][: rng.randint(0, 8)] + (rng.randrange(3),)
        m = router.tree.match(probe).matched
        live = [k for t, k in window if t > view.now_s - 10.0]
        assert max((lcp(k, probe) for k in live), default=0) <= m
        assert m <= max((lcp(k, probe) for k in ever), default=0)
    for req, g in inflight:
        router.observe(RequestEvent("finish", req, g, view.now_s, 0.1, 0.01, 0))
    view.time_s += 100
    last_gpu = router.route(make_request("last", (9,)), view)
    router.check_integrity()
    # memory stays bounded: a node outlives its window only while a (virtual) cache holds it
    for node in router.tree.nodes():
        assert node.cached_on or node.children or node.cnt
    if small_cache:
        # a virtual cache trims itself when a request is routed to its GPU (lazily): one that
        # overflowed while its nodes were in use stays over until its next request
        assert router.state.gpus[last_gpu].cached_tokens <= 12
