"""Small fakes for simulator tests: a linear cost model, a round-robin router, traces."""

from __future__ import annotations

import random

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.cost.base import BatchShape, CostModel
from toolkit.route.base import ClusterView, Router
from toolkit.sched.fcfs import FCFSScheduler
from toolkit.sched.kv import KVManager
from toolkit.sim.cluster import SimCluster
from toolkit.sim.engine import SimEngine


class LinearCost(CostModel):
    """t = 5 ms + 0.1 ms per new prefill token + 0.02 ms per decode + 1e-6 ms per ctx token."""

    def iteration_s(self, batch: BatchShape) -> float:
        return (5e-3 + 1e-4 * sum(batch.prefill_new) + 2e-5 * batch.num_decode
                + 1e-9 * (batch.decode_ctx_sum + sum(batch.prefill_ctx)))


class CycleRouter(Router):
    def __init__(self) -> None:
        self.i = -1

    def route(self, request: Request, view: ClusterView) -> int:
        self.i += 1
        return self.i % view.num_engines


def shared_prefix_trace(n: int, rps: float, seed: int = 0, num_prefixes: int = 8,
                        prefix_len: int = 300, tail_len: int = 60, max_out: int = 40) -> Trace:
    rng = random.Random(seed)
    prefixes = [[rng.randrange(1000) for _ in range(prefix_len)] for _ in range(num_prefixes)]
    reqs, t = [], 0.0
    for i in range(n):
        t += rng.expovariate(rps)
        tail = [rng.randrange(1000) for _ in range(rng.randint(1, tail_len))]
        reqs.append(Request(f"r{i}", t, rng.randint(1, max_out),
                            prompt_token_ids=prefixes[rng.randrange(num_prefixes)] + tail))
    return Trace(reqs)


def make_cluster(num_engines: int = 2, capacity: int = 20000, scheduler=None,
                 max_stretch_steps: int | None = None, check: bool = False) -> SimCluster:
    def factory(i, loop, listener):
        sched = scheduler() if scheduler else FCFSScheduler(chunk_size=128)
        kv = KVManager(RadixCache(), capacity)
        return SimEngine(i, sched, kv, LinearCost(), loop, listener,
                         max_stretch_steps=max_stretch_steps)

    cluster = SimCluster(CycleRouter(), num_engines, factory)
    if check:
        _wrap_checks(cluster)
    return cluster


def _wrap_checks(cluster: SimCluster) -> None:
    for eng in cluster.engines:
        original = eng._end_iteration

        def checked(version, _eng=eng, _orig=original):
            _orig(version)
            _eng.check_invariants()

        eng._end_iteration = checked
