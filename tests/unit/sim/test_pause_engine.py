"""The pause-aware simulated engine: every policy runs every request to its end, KV and
host accounting stay exact after every event, and timeouts and bad requests fail cleanly."""

from __future__ import annotations

import heapq
import math
import random

import pandas as pd
import pytest

from toolkit.cache.null import NoPrefixCache
from toolkit.core.record import records_to_frame
from toolkit.core.request import Request, Segment
from toolkit.core.trace import Trace
from toolkit.cost.base import CostModel
from toolkit.route.round_robin import RoundRobinRouter
from toolkit.sched.fcfs import FCFSScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.pause import (
    DiscardPausePolicy,
    ImprovedDiscardPausePolicy,
    MinWastePausePolicy,
    PauseAction,
    PreservePausePolicy,
    SwapPausePolicy,
)
from toolkit.sim.cluster import SimCluster
from toolkit.sim.pause_engine import PauseSimEngine

BYTES_PER_TOKEN = 2 * 28 * 16 * 256 * 2  # GPT-J-6B, fp16
PCIE_BPS = 25e9


class LinearCost(CostModel):
    def iteration_s(self, batch):  # GPT-J-6B's released fit plus a small context term
        return (0.0463 * batch.num_new_tokens + 10 + 1e-5 * batch.decode_ctx_sum) / 1000


class LinearTiming:
    def fwd_s(self, num_query_tokens: int, num_context_tokens: int) -> float:
        return (0.0463 * num_query_tokens + 10) / 1000

    def swap_s(self, num_tokens: int) -> float:
        return num_tokens * BYTES_PER_TOKEN / PCIE_BPS

    def swap_tokens_within_s(self, seconds: float) -> int:
        return int(seconds * PCIE_BPS / BYTES_PER_TOKEN)


def make_trace(n: int, seed: int, rate: float = 2.0) -> Trace:
    rng = random.Random(seed)
    reqs, t = [], 0.0
    for i in range(n):
        t += rng.expovariate(rate)
        segs = [Segment(rng.randint(1, 40), rng.choice([1e-4, 0.1, 0.7, 8.0, 25.0]),
                        rng.randint(0, 150)) for _ in range(rng.randint(0, 5))]
        plen = rng.randint(50, 1200)
        hashes = tuple(rng.getrandbits(62) for _ in range(math.ceil(plen / 16)))
        reqs.append(Request(id=f"r{i}", arrival_s=t, output_len=rng.randint(1, 60),
                            prompt_len=plen, block_hashes=hashes, block_size=16, segments=segs))
    return Trace(reqs, name="pauses")


def make_cluster(policy, capacity=12_000, swap_space=50_000, chunked=False, **kw) -> SimCluster:
    def factory(i, loop, listener):
        kv = KVManager(NoPrefixCache(), capacity, 16)
        sched = FCFSScheduler(chunked_prefill=chunked, chunk_size=384, max_prefill_tokens=2048)
        return PauseSimEngine(i, sched, kv, LinearCost(), loop, listener, policy=policy,
                              timing=LinearTiming(), swap_space_tokens=swap_space, **kw)
    return SimCluster(RoundRobinRouter(1), 1, factory)


def run_checked(cluster: SimCluster, trace: Trace):
    """Run event by event, checking every engine's invariants after each."""
    loop = cluster.loop
    original = loop.run

    def stepwise(until_s=math.inf):
        heap = loop._heap
        while heap and heap[0][0] <= until_s:
            time_s, _, _, fn, args = heapq.heappop(heap)
            loop.now_s = time_s
            fn(*args)
            for eng in cluster.engines:
                eng.check_invariants()

    loop.run = stepwise
    try:
        return records_to_frame(cluster.run(trace))
    finally:
        loop.run = original


POLICIES = [
    (DiscardPausePolicy, False), (ImprovedDiscardPausePolicy, False),
    (PreservePausePolicy, False), (SwapPausePolicy, False), (MinWastePausePolicy, True),
]


@pytest.mark.parametrize("policy_cls,chunked", POLICIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_request_finishes_with_exact_accounting(policy_cls, chunked, seed):
    trace = make_trace(80, seed)
    cluster = make_cluster(policy_cls(), chunked=chunked)
    df = run_checked(cluster, trace)
    eng = cluster.engines[0]
    assert not df.failed.any() and df.finish_s.notna().all()
    want = {r.id: sum(max(1, s.output_len) for s in r.segments) + max(1, r.output_len) for r in trace}
    assert dict(zip(df.request_id, df.num_output_tokens)) == want
    assert dict(zip(df.request_id, df.num_pauses)) == {r.id: len(r.segments) for r in trace}
    assert eng.kv.used_tokens == 0 and eng.host_tokens == 0 and eng.paused_gpu_tokens == 0
    assert len(eng.pause_rows) == sum(len(r.segments) for r in trace)


def test_actions_follow_the_policy():
    trace = make_trace(60, 3)
    for policy, only in [(PreservePausePolicy(), "preserve"), (DiscardPausePolicy(), "discard"),
                         (SwapPausePolicy(), "swap")]:
        cluster = make_cluster(policy, capacity=200_000)
        run_checked(cluster, trace)
        assert {row[2] for row in cluster.engines[0].pause_rows} == {only}


def test_a_preserved_request_without_room_to_rejoin_is_logged_as_recomputed():
    cluster = make_cluster(PreservePausePolicy(), capacity=6_000)
    df = run_checked(cluster, make_trace(60, 3))
    rows = cluster.engines[0].pause_rows
    relabelled = [r for r in rows if r[2] == "discard"]
    assert relabelled and all(r[3] == "preserve" for r in relabelled)
    assert df.num_preemptions.sum() >= len(relabelled)


def test_discard_recomputes_and_preserve_does_not():
    trace = make_trace(60, 4)
    meters = {}
    for policy in (DiscardPausePolicy(), PreservePausePolicy(), SwapPausePolicy()):
        cluster = make_cluster(policy, capacity=200_000)
        run_checked(cluster, trace)
        meters[policy.name] = cluster.engines[0].meter.summary()
    assert meters["vllm"]["recompute_time_frac"] > 0.05
    assert meters["preserve"]["recompute_time_frac"] == 0
    assert meters["preserve"]["waste_preserve_frac"] > meters["vllm"]["waste_preserve_frac"]
    assert meters["swap"]["swap_stall_time_frac"] > 0


def test_same_config_same_records():
    trace = make_trace(60, 5)
    a = run_checked(make_cluster(MinWastePausePolicy(), chunked=True), trace)
    b = run_checked(make_cluster(MinWastePausePolicy(), chunked=True), trace)
    assert a.equals(b)


def test_tool_that_never_returns_times_out_without_stalling_others():
    trace = make_trace(20, 6)
    stuck = Request(id="stuck", arrival_s=0.5, output_len=5, prompt_len=100,
                    block_hashes=tuple(range(7)), block_size=16,
                    segments=[Segment(3, 1e9, 10)])
    trace = Trace(sorted([*trace.requests, stuck], key=lambda r: r.arrival_s), name="t")
    cluster = make_cluster(PreservePausePolicy(), pause_timeout_s=30.0)
    df = run_checked(cluster, trace).set_index("request_id")
    assert df.loc["stuck", "failed"] and "stuck" in df.loc["stuck", "error"]
    assert "pause_timeout_s" in df.loc["stuck", "error"]
    others = df.drop(index="stuck")
    assert not others.failed.any() and others.finish_s.notna().all()
    assert cluster.engines[0].kv.used_tokens == 0


def test_prompt_beyond_the_model_fails_with_the_request_id():
    req = Request(id="big", arrival_s=0.0, output_len=5, prompt_len=2100,
                  block_hashes=tuple(range(132)), block_size=16, segments=[Segment(3, 0.1, 50)])
    cluster = make_cluster(PreservePausePolicy(), max_context_len=2048, capacity=20_000)
    df = run_checked(cluster, Trace([req], name="t"))
    assert df.failed.iloc[0] and "big" in df.error.iloc[0] and "2048" in df.error.iloc[0]


def test_swap_falls_back_to_discard_without_host_memory():
    cluster = make_cluster(SwapPausePolicy(), swap_space=0)
    run_checked(cluster, make_trace(30, 7))
    assert {row[2] for row in cluster.engines[0].pause_rows} == {"discard"}


def one(rid: str, t: float, plen: int, out: int, segs: list[Segment]) -> Request:
    hashes = tuple(hash((rid, i)) & ((1 << 62) - 1) for i in range(math.ceil(plen / 16)))
    return Request(id=rid, arrival_s=t, output_len=out, prompt_len=plen, block_hashes=hashes,
                   block_size=16, segments=segs)


def test_a_swapped_request_comes_back_once_the_review_frees_memory():
    # Y returns while preserved X fills the GPU; the same iteration's review discards X
    cluster = make_cluster(MinWastePausePolicy(), capacity=20_000, swap_space=1_500,
                           chunked=True, known_duration=False)
    trace = Trace([one("Y", 0.0, 1000, 2, [Segment(2, 20.0, 10)]), one("Z", 0.0, 8000, 600, []),
                   one("X", 10.0, 19000, 2, [Segment(2, 1000.0, 10)])], name="t")
    df = run_checked(cluster, trace).set_index("request_id")
    assert df.loc["Y", "finish_s"] < 21.0  # not ~1,000 s later, when X's tool returns


def test_stretches_change_no_record():
    """Stretches are a shortcut: one step per iteration must give the same records (a tool
    returning during a prefill stretch once had its swap-in held back to the stretch's end)."""
    trace = Trace([one("B", 0.0, 2000, 5, [Segment(5, 3.0, 10)]), one("A", 2.9, 60000, 5, [])],
                  name="t")
    for seed in (0, 1):
        traces = [trace, make_trace(80, seed)]
        for tr in traces:
            a, b = (run_checked(make_cluster(MinWastePausePolicy(), capacity=200_000, chunked=True,
                                             max_stretch_steps=steps), tr) for steps in (1, None))
            # a stretch adds its steps' times as a cumulative sum: equal up to rounding
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-9)


def test_min_waste_keeps_a_context_that_host_memory_cannot_take():
    from tests.unit.sched.test_pause_policies import paused, view

    pol = MinWastePausePolicy()
    long_pause = paused(duration=25.0, ctx=1500)
    assert pol.review([long_pause], view(budget=600))["a"] is PauseAction.SWAP
    full = view(budget=600)
    full = type(full)(**{**{f: getattr(full, f) for f in full.__slots__}, "free_cpu_tokens": 0})
    assert pol.review([long_pause], full)["a"] is PauseAction.DISCARD  # never a silent swap


class _SlowBudgetedSwap(SwapPausePolicy):
    """Swap at every pause, 16 tokens an iteration: a 1,000-token copy out takes long."""

    budgeted_swap = True

    def swap_budget_tokens(self, view) -> int:
        return 16


def _one_pause(duration_s: float) -> Trace:
    seg = Segment(output_len=4, pause_s=duration_s, return_len=8)
    return Trace([Request(id="r0", arrival_s=0.0, output_len=4, prompt_len=1000,
                          block_hashes=tuple(range(63)), block_size=16, segments=[seg])])


@pytest.mark.parametrize("timeout", [False, True], ids=["tool_returns", "tool_times_out"])
def test_a_cancelled_copy_out_is_logged_as_preserved(timeout: bool) -> None:
    # The tool ends (returns or times out) long before 1,000 tokens can leave at 16 per
    # iteration: the context never left the GPU, so the pause is no swap.
    kw = {"pause_timeout_s": 0.01} if timeout else {}
    cluster = make_cluster(_SlowBudgetedSwap(), **kw)
    cluster.run(_one_pause(0.02 if timeout else 0.005))
    rows = cluster.engines[0].pause_rows
    assert len(rows) == 1
    _, _, action, first_action, *_ = rows[0]
    assert (action, first_action) == ("preserve", "swap")
    assert cluster.engines[0].host_tokens == 0


def test_context_limit_cuts_requests_and_rejects_unfittable_prompts() -> None:
    seg = Segment(output_len=30, pause_s=0.1, return_len=40)
    long = Request(id="cut", arrival_s=0.0, output_len=50, prompt_len=100,
                   block_hashes=tuple(range(7)), block_size=16, segments=[seg])
    fits = Request(id="fits", arrival_s=0.0, output_len=5, prompt_len=40,
                   block_hashes=tuple(range(100, 103)), block_size=16)
    huge = Request(id="huge", arrival_s=0.0, output_len=5, prompt_len=200,
                   block_hashes=tuple(range(200, 213)), block_size=16)
    cluster = make_cluster(PreservePausePolicy(), max_context_len=150)
    recs = {r.request_id: r for r in cluster.run(Trace([long, fits, huge]))}
    # 100 + 30 generated; the tool's 40 would pass 150: the 30 tokens are the answer
    assert (recs["cut"].num_output_tokens, recs["cut"].num_pauses, recs["cut"].context_truncated) == (30, 0, True)
    assert (recs["fits"].num_output_tokens, recs["fits"].context_truncated) == (5, False)
    assert recs["huge"].failed and "no room" in recs["huge"].error


class _BudgetedSwap(SwapPausePolicy):
    budgeted_swap = True

    def swap_budget_tokens(self, view) -> int:
        return 100_000  # the whole context in one iteration


def test_an_overlapped_copy_is_charged_where_it_outlasts_the_iteration() -> None:
    # "long" pauses with a 4,000-token context swapped out in one iteration while "busy"
    # decodes alone: that iteration takes the copy's time, not the 1-token decode's.
    long = Request(id="long", arrival_s=0.0, output_len=2, prompt_len=4000,
                   block_hashes=tuple(range(250)), block_size=16,
                   segments=[Segment(output_len=1, pause_s=30.0, return_len=1)])
    busy = Request(id="busy", arrival_s=0.0, output_len=400, prompt_len=16,
                   block_hashes=(999,), block_size=16)
    finish = {}
    for charge in (False, True):
        cluster = make_cluster(_BudgetedSwap(), capacity=20_000, charge_copies=charge)
        finish[charge] = {r.request_id: r.finish_s for r in cluster.run(Trace([long, busy]))}
    copy_s = LinearTiming().swap_s(4000)  # 18.4 ms: GPT-J-6B's 114,688 B/token at 25 GB/s
    decode_s = (0.0463 + 10) / 1000  # about 10 ms: one decode step of `busy`
    # busy ends long before the tool returns: only the copy out overlaps it
    extra = finish[True]["busy"] - finish[False]["busy"]
    assert extra == pytest.approx(copy_s - decode_s, abs=2e-4)
