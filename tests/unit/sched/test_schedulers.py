"""Local schedulers: admission order, token budgets and the prefill-first mode."""

from __future__ import annotations

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.sched.base import RunningState
from toolkit.sched.fcfs import FCFSScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.lpm import LPMScheduler
from toolkit.sched.preble import PreblePriorityScheduler
from toolkit.sched.seq import Seq


def _seq(i: int, tokens: list[int], t: float, out: int = 4) -> Seq:
    return Seq(Request(f"s{i}", t, out, prompt_token_ids=tokens))


def _kv_with(prefixes: list[list[int]], capacity: int = 100_000) -> KVManager:
    cache = RadixCache()
    for p in prefixes:
        cache.insert(p)
    return KVManager(cache, capacity)


def test_fcfs_admits_in_arrival_order_within_the_chunk_budget():
    kv = _kv_with([])
    waiting = [_seq(i, list(range(i * 1000, i * 1000 + 300)), t=float(3 - i)) for i in range(3)]
    batch = FCFSScheduler(chunk_size=512).schedule(waiting, RunningState(), kv)
    assert [s.id for s, _ in batch.prefill] == ["s2", "s1"]
    assert [n for _, n in batch.prefill] == [300, 212]
    assert [s.id for s in waiting] == ["s0"]


def test_lpm_prefers_the_longest_cached_prefix():
    shared = list(range(200))
    kv = _kv_with([shared])
    waiting = [_seq(0, list(range(500, 700)), 0.0), _seq(1, shared + [1, 2], 1.0),
               _seq(2, shared[:50] + [9], 0.5)]
    order = LPMScheduler().order(waiting, kv)
    assert [s.id for s in order] == ["s1", "s2", "s0"]


def test_lpm_sorts_the_whole_queue_by_default():
    # SGLang v0.1.x, the paper's baseline, had no queue-length fallback: 300 waiting requests,
    # the brute-force order is by longest cached prefix, then arrival.
    prefix = list(range(64))
    kv = _kv_with([prefix])
    waiting = [_seq(i, prefix[: (i * 7) % 64] + [1000 + i], float(300 - i)) for i in range(300)]
    expected = sorted(waiting, key=lambda s: (-((int(s.id[1:]) * 7) % 64), s.arrival_s))
    assert [s.id for s in LPMScheduler().order(waiting, kv)] == [s.id for s in expected]


def test_lpm_falls_back_to_fcfs_on_long_queues():
    kv = _kv_with([list(range(100))])
    waiting = [_seq(0, [999], 0.0), _seq(1, list(range(100)) + [5], 1.0)]
    assert [s.id for s in LPMScheduler(max_match_queue=1).order(waiting, kv)] == ["s0", "s1"]


def test_preble_groups_by_hit_ratio_with_proportional_shares():
    shared = list(range(100))
    kv = _kv_with([shared])
    hot = [_seq(i, shared + [1000 + i], float(i)) for i in range(5)]  # ~99% hit: group 9
    cold = [_seq(10 + i, [5000 + i] * 3, float(i) - 10) for i in range(5)]  # no hit: group 0
    order = PreblePriorityScheduler(num_groups=10).order(cold + hot, kv)
    # equal passes: group 9 (weight 10) first, then group 0 (weight 1) once, then group 9 ...
    assert [s.id for s in order] == ["s0", "s10", "s1", "s2", "s3", "s4",
                                     "s11", "s12", "s13", "s14"]
    assert hot[0].priority == 9 and cold[0].priority == 0


def test_preble_shares_admissions_ten_to_one_across_iterations():
    shared = list(range(100))
    kv = _kv_with([shared])
    sched = PreblePriorityScheduler(num_groups=10)
    waiting = [_seq(0, shared + [1], 0.0), _seq(1, [7, 7, 7], 0.0)]
    counts = {9: 0, 0: 0}
    for i in range(2, 112):
        first = sched.order(waiting, kv)[0]
        sched.on_admitted([first])
        counts[first.priority] += 1
        waiting.remove(first)
        tokens = shared + [i] if first.priority == 9 else [9000 + i] * 3
        waiting.append(_seq(i, tokens, float(i)))
    assert counts == {9: 100, 0: 10}


def test_prefill_first_batches_exclude_decodes_and_respect_max_prefill_tokens():
    kv = _kv_with([])
    waiting = [_seq(i, list(range(i * 1000, i * 1000 + 400)), float(i)) for i in range(3)]
    sched = LPMScheduler(chunked_prefill=False, max_prefill_tokens=1000)
    batch = sched.schedule(waiting, RunningState(num_decode=5, decode_ctx_sum=100), kv)
    assert not batch.with_decode
    assert [n for _, n in batch.prefill] == [400, 400]


def test_admission_stops_when_kv_is_full():
    kv = _kv_with([], capacity=500)
    waiting = [_seq(i, list(range(i * 1000, i * 1000 + 300)), float(i)) for i in range(3)]
    batch = FCFSScheduler(chunk_size=4096).schedule(waiting, RunningState(), kv)
    assert [s.id for s in batch.admitted] == ["s0"]
    assert kv.held_tokens == 300
