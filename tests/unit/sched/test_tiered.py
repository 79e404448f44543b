"""The tiered local policy on an engine's queue: the simulator's `SLOAwareLocal` object,
checked against a brute-force order and hand-counted batch limits."""

from __future__ import annotations

import itertools
import math

import pytest

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.plan.dispatch import FCFSLocal, SLOAwareLocal
from toolkit.sched.base import RunningState
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq
from toolkit.sched.tiered import TieredScheduler, deadline_s

NOW = 10.0


def _seq(i: int, arrival: float, slo: float | None) -> Seq:
    meta = {} if slo is None else {"ttft_slo_s": slo}
    return Seq(Request(f"s{i}", arrival, 4, prompt_token_ids=list(range(i * 100, i * 100 + 8)),
                       meta=meta))


def _queue() -> list[Seq]:
    # (arrival, TTFT target): due ones (deadlines 10.5, 12, 11), late ones (deadlines 9.5, 9),
    # best effort (no target)
    spec = [(9.0, 1.5), (8.0, 4.0), (9.5, 1.5), (7.0, 2.5), (6.0, 3.0), (5.0, None), (9.9, None)]
    return [_seq(i, a, s) for i, (a, s) in enumerate(spec)]


def _sched(local, safe_batch: int = 0, **kw) -> TieredScheduler:
    return TieredScheduler(local, safe_batch, clock=lambda: NOW, chunk_size=4096, **kw)


def test_order_is_feasible_by_deadline_then_the_rest_by_arrival():
    q = _queue()
    got = [s.id for s in _sched(SLOAwareLocal()).order(q, None)]
    due = sorted((s for s in q if NOW <= deadline_s(s) < math.inf), key=deadline_s)
    rest = sorted((s for s in q if not NOW <= deadline_s(s) < math.inf), key=lambda s: s.arrival_s)
    assert got == [s.id for s in due + rest] == ["s0", "s2", "s1", "s5", "s4", "s3", "s6"]
    fcfs = [s.id for s in _sched(FCFSLocal()).order(q, None)]
    assert fcfs == [s.id for s in sorted(q, key=lambda s: s.arrival_s)]


@pytest.mark.parametrize("running", [0, 2, 5])
def test_batch_limits_by_hand(running):
    # safe batch 8, reserve 1/4: at most 8 at once, and 6 once a request without a deadline
    # to meet is next in line (admission stops there)
    sched = _sched(SLOAwareLocal(reserve=0.25), safe_batch=8)
    assert (sched.cap, sched.best_effort_cap) == (8, 6)
    q = _queue()
    batch = sched.schedule(q, RunningState(num_decode=running), KVManager(RadixCache(), 10**6))
    feasible = min(3, 8 - running)  # s0, s2, s1
    late = max(0, min(4, 6 - running - feasible)) if feasible == 3 else 0
    assert [s.id for s in batch.admitted] == ["s0", "s2", "s1", "s5", "s4", "s3", "s6"][:feasible + late]


def test_without_a_reserve_or_a_safe_batch_the_policy_caps_as_configured():
    sched = _sched(SLOAwareLocal(max_batch=5, reserve=0.0))
    assert (sched.cap, sched.best_effort_cap) == (5, 5)
    q = _queue()
    batch = sched.schedule(q, RunningState(), KVManager(RadixCache(), 10**6))
    assert len(batch.admitted) == 5
    assert _sched(FCFSLocal(max_batch=300), max_running=64).cap == 64
    with pytest.raises(ValueError, match="safe_batch"):
        _sched(SLOAwareLocal(), safe_batch=-1)


def test_every_prefix_of_the_order_respects_its_limit():
    # brute force over running counts and reserves: the admitted list is the longest prefix of
    # the order in which each request found the batch below its own limit
    for running, reserve in itertools.product(range(9), (0.0, 0.25, 0.5)):
        sched = _sched(SLOAwareLocal(reserve=reserve), safe_batch=8)
        q = _queue()
        order = sched.order(list(q), None)
        want = []
        for s in order:
            limit = sched.cap if NOW <= deadline_s(s) < math.inf else sched.best_effort_cap
            if running + len(want) >= limit:
                break
            want.append(s.id)
        batch = sched.schedule(q, RunningState(num_decode=running), KVManager(RadixCache(), 10**6))
        assert [s.id for s in batch.admitted] == want
