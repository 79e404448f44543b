"""While a request is routed, `SimCluster.stats` answers what the engine's own `stats()` does."""

from __future__ import annotations

import dataclasses

from tests.unit.sim.helpers import CycleRouter, make_cluster, shared_prefix_trace
from toolkit.route.base import EngineStats


class CheckingRouter(CycleRouter):
    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    def route(self, request, view) -> int:
        assert view.live_engine_ids() == [
            i for i in range(view.num_engines) if view.engines[i].stats().alive]
        for i in range(view.num_engines):
            lazy = view.stats(i)
            full = view.engines[i].stats()
            # the fields read without the engine's full statistics first, then the rest
            assert (lazy.engine_id, lazy.alive, lazy.kv_capacity_tokens, lazy.window_hit_ratio
                    ) == (full.engine_id, full.alive, full.kv_capacity_tokens,
                          full.window_hit_ratio)
            assert isinstance(lazy, EngineStats)
            assert view.stats(i) is lazy  # one object per engine and decision
            assert dataclasses.astuple(lazy) == dataclasses.astuple(view.engines[i].stats())
            assert lazy == view.engines[i].stats()
            self.checked += 1
        return super().route(request, view)


def test_routing_stats_equal_the_engines_stats():
    cluster = make_cluster(num_engines=3, capacity=4000)
    cluster.router = router = CheckingRouter()
    cluster.run(shared_prefix_trace(200, rps=50.0))
    assert router.checked == 600
