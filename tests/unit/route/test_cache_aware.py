"""SGLang-style cache-aware router against a brute-force re-implementation of its rule."""

from __future__ import annotations

import random

import pytest

from toolkit.route.approx_tree import ApproxRadixTree
from toolkit.route.cache_aware import SGLangCacheAwareRouter
from toolkit.route.testing import StaticView, make_request


def lcp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def brute_choice(keys_of: list[list[tuple[int, ...]]], key: tuple[int, ...], load: list[int],
                 thr: float, abs_t: int, rel_t: float, fallback: str) -> int:
    ids = range(len(load))
    least = min(ids, key=lambda i: (load[i], i))
    if max(load) - min(load) > abs_t and max(load) > rel_t * min(load):
        return least
    matched = [max((lcp(k, key) for k in keys_of[i]), default=0) for i in ids]
    best = min(ids, key=lambda i: (-matched[i], i))
    if key and matched[best] / len(key) > thr:
        return best
    if fallback == "least_load":
        return least
    size = [len({k[:j] for k in keys_of[i] for j in range(1, len(k) + 1)}) for i in ids]
    return min(ids, key=lambda i: (size[i], i))


def random_key(rng: random.Random, bases: list[tuple[int, ...]]) -> tuple[int, ...]:
    base = rng.choice(bases)
    cut = rng.randint(0, len(base))
    return base[:cut] + tuple(rng.randrange(4) for _ in range(rng.randint(0, 6)))


@pytest.mark.parametrize("fallback", ["smallest_tree", "least_load"])
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_rule(seed: int, fallback: str) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 4)
    thr, abs_t, rel_t = rng.choice([0.3, 0.5]), rng.choice([1, 3]), rng.choice([1.2, 1.5])
    router = SGLangCacheAwareRouter(n, cache_threshold=thr, balance_abs_threshold=abs_t,
                                    balance_rel_threshold=rel_t, fallback=fallback)
    bases = [tuple(rng.randrange(4) for _ in range(10)) for _ in range(3)]
    keys_of: list[list[tuple[int, ...]]] = [[] for _ in range(n)]
    view = StaticView.of(n)
    for step in range(150):
        load = [rng.randrange(6) for _ in range(n)]
        for i in range(n):
            view.engines[i].num_running = load[i]
        key = random_key(rng, bases)
        want = brute_choice(keys_of, key, load, thr, abs_t, rel_t, fallback)
        assert router.route(make_request(step, key), view) == want
        keys_of[want].append(key)
        assert router.trees[want].size == len(
            {k[:j] for k in keys_of[want] for j in range(1, len(k) + 1)}
        )


def test_tree_eviction_bounds_size_and_keeps_recent_keys() -> None:
    tree = ApproxRadixTree()
    rng = random.Random(3)
    keys = [tuple(rng.randrange(100) for _ in range(20)) for _ in range(50)]
    for k in keys:
        tree.insert(k)
        tree.evict_to(100)
        assert tree.size <= 100
    assert tree.match(keys[-1]) == 20
    assert tree.match(keys[0]) < 20


def test_imbalance_overrides_cache_hit() -> None:
    view = StaticView.of(2)
    r = SGLangCacheAwareRouter(2, balance_abs_threshold=2, balance_rel_threshold=1.5)
    key = tuple(range(50))
    assert r.route(make_request(0, key), view) == 0
    assert r.route(make_request(1, key), view) == 0  # full hit
    view.engines[0].num_running = 10
    assert r.route(make_request(2, key), view) == 1  # imbalanced: least loaded
