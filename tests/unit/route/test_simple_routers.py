"""Round-robin, least-load and consistent-hash routers."""

from __future__ import annotations

import random

from toolkit.route.consistent_hash import ConsistentHashRouter
from toolkit.route.least_load import LeastLoadRouter
from toolkit.route.round_robin import RoundRobinRouter
from toolkit.route.testing import StaticView, make_request


def test_round_robin_cycles_over_live_engines() -> None:
    view = StaticView.of(3)
    r = RoundRobinRouter(3)
    assert [r.route(make_request(i, [i]), view) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    view.engines[1].alive = False
    got = [RoundRobinRouter(3).route(make_request(i, [i]), view) for i in range(1)]
    assert got == [0]
    r2 = RoundRobinRouter(3)
    assert [r2.route(make_request(i, [i]), view) for i in range(4)] == [0, 2, 0, 2]


def test_least_load_picks_fewest_outstanding_ties_to_lowest_id() -> None:
    view = StaticView.of(4)
    for i, (run, wait) in enumerate([(3, 1), (1, 1), (2, 0), (0, 5)]):
        view.engines[i].num_running, view.engines[i].num_waiting = run, wait
    r = LeastLoadRouter(4)
    assert r.route(make_request(0, [1]), view) == 1  # 2 outstanding, ties with 2 -> lowest id
    view.engines[1].alive = False
    assert r.route(make_request(1, [1]), view) == 2


def _keys(n: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(1000) for _ in range(20)] for _ in range(n)]


def test_consistent_hash_is_deterministic_and_uses_only_the_prefix() -> None:
    view = StaticView.of(5)
    a, b = ConsistentHashRouter(5, prefix_len=8), ConsistentHashRouter(5, prefix_len=8)
    for i, k in enumerate(_keys(200)):
        e = a.route(make_request(i, k), view)
        assert e == b.route(make_request(i, k), view)
        assert e == a.route(make_request(i, k[:8] + [7] * 30), view)


def test_consistent_hash_moves_few_keys_when_an_engine_is_added() -> None:
    keys = _keys(2000, seed=1)
    before = [ConsistentHashRouter(4).route(make_request(i, k), StaticView.of(4))
              for i, k in enumerate(keys)]
    after = [ConsistentHashRouter(5).route(make_request(i, k), StaticView.of(5))
             for i, k in enumerate(keys)]
    moved = [(x, y) for x, y in zip(before, after) if x != y]
    assert all(y == 4 for _, y in moved)  # keys only move to the new engine
    assert 0.1 < len(moved) / len(keys) < 0.3  # about 1/5 of them
    counts = [after.count(e) for e in range(5)]
    assert min(counts) > 0.5 * len(keys) / 5


def test_consistent_hash_skips_dead_engines() -> None:
    view = StaticView.of(3)
    view.engines[0].alive = False
    r = ConsistentHashRouter(3)
    assert {r.route(make_request(i, k), view) for i, k in enumerate(_keys(100))} == {1, 2}
