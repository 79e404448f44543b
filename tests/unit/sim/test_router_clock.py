"""The simulator charges each routing decision, one decision at a time."""

from __future__ import annotations

import pytest

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.sched.fcfs import FCFSScheduler
from toolkit.sched.kv import KVManager
from toolkit.sim.cluster import SimCluster
from toolkit.sim.engine import SimEngine

from .helpers import CycleRouter, LinearCost


class TimedRouter(CycleRouter):
    decision_s = 0.125


def _cluster(router_decision_s: float | None) -> SimCluster:
    def factory(i, loop, listener):
        return SimEngine(i, FCFSScheduler(chunk_size=128), KVManager(RadixCache(), 10_000),
                         LinearCost(), loop, listener)

    return SimCluster(TimedRouter(), 2, factory, router_decision_s=router_decision_s)


def _first_tokens(cluster: SimCluster) -> list[float]:
    # three 10-token prompts, one output token each: the first token ends the prefill
    trace = Trace([Request(f"r{i}", t, 1, prompt_token_ids=list(range(100 * i, 100 * i + 10)))
                   for i, t in enumerate([0.0, 0.0, 1.0])])
    return [r.first_token_s for r in cluster.run(trace)]


PREFILL_S = 5e-3 + 1e-4 * 10  # LinearCost of one 10-token prefill (no cached context)


def test_decisions_queue_at_the_router_and_delay_arrival_at_the_engine() -> None:
    # hand-computed: r0 decided in [0, 0.25), r1 waits for it and is decided in [0.25, 0.5),
    # r2 arrives at 1.0 to an idle router
    got = _first_tokens(_cluster(0.25))
    assert got == pytest.approx([0.25 + PREFILL_S, 0.5 + PREFILL_S, 1.25 + PREFILL_S])


def test_default_is_the_routers_measured_time_and_zero_turns_it_off() -> None:
    assert _first_tokens(_cluster(None)) == pytest.approx(
        [0.125 + PREFILL_S, 0.25 + PREFILL_S, 1.125 + PREFILL_S])
    assert _first_tokens(_cluster(0.0)) == pytest.approx([PREFILL_S, PREFILL_S, 1.0 + PREFILL_S])


def test_negative_decision_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="router_decision_s"):
        _cluster(-1.0)
