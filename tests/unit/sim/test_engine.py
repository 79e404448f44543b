"""Simulated engine: stretches equal single steps, accounting holds, runs are deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.sim.helpers import LinearCost, make_cluster, shared_prefix_trace
from toolkit.core.record import records_to_frame
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.sched.lpm import LPMScheduler
from toolkit.sched.preble import PreblePriorityScheduler


def _run(trace, **kw):
    cluster = make_cluster(**kw)
    cluster.run(trace)
    return records_to_frame(cluster.records.values()), cluster


@pytest.mark.parametrize("rps", [5.0, 60.0])
def test_decode_stretches_equal_single_steps(rps):
    trace = shared_prefix_trace(300, rps, seed=1)
    fast, _ = _run(trace)
    slow, _ = _run(trace, max_stretch_steps=1)
    np.testing.assert_allclose(fast["finish_s"], slow["finish_s"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast["first_token_s"], slow["first_token_s"], rtol=1e-9, atol=1e-9)
    assert (fast["num_cached_tokens"] == slow["num_cached_tokens"]).all()


@pytest.mark.parametrize("capacity", [60000, 6000])
@pytest.mark.parametrize("scheduler", [None, lambda: PreblePriorityScheduler(chunk_size=128)])
def test_prefill_stretches_equal_single_steps(capacity, scheduler):
    # long prompts, chunk 128: many full-chunk iterations run as one prefill stretch
    trace = shared_prefix_trace(120, 20.0, seed=4, prefix_len=1200, tail_len=700, max_out=60)
    fast, cluster = _run(trace, capacity=capacity, scheduler=scheduler, check=True)
    slow, _ = _run(trace, capacity=capacity, scheduler=scheduler, max_stretch_steps=1)
    assert sum(e.num_iterations for e in cluster.engines) > 0
    for col in ("first_token_s", "finish_s"):
        np.testing.assert_allclose(fast[col], slow[col], rtol=1e-9, atol=1e-9)
    for col in ("num_cached_tokens", "num_preemptions", "num_output_tokens"):
        assert (fast[col] == slow[col]).all()


def test_same_config_same_records_bit_for_bit():
    trace = shared_prefix_trace(200, 40.0, seed=2)
    a, _ = _run(trace)
    b, _ = _run(trace)
    assert a.equals(b)


@pytest.mark.parametrize("scheduler", [None, lambda: LPMScheduler(chunked_prefill=False),
                                       lambda: PreblePriorityScheduler(chunk_size=64)])
def test_accounting_invariants_under_memory_pressure(scheduler):
    trace = shared_prefix_trace(150, 80.0, seed=3, prefix_len=200, max_out=120)
    df, cluster = _run(trace, capacity=2500, scheduler=scheduler, check=True)
    assert df["finish_s"].notna().all()
    assert (df["num_output_tokens"] == [max(1, r.output_len) for r in trace]).all()
    assert df["num_preemptions"].sum() > 0  # the capacity is tight enough to preempt
    for eng in cluster.engines:
        assert eng.kv.held_tokens == 0
        assert eng.kv.cache.size_info().protected == 0


def test_single_request_latency_by_hand():
    req = Request("a", 1.0, 3, prompt_token_ids=list(range(100)))
    df, _ = _run(Trace([req]), num_engines=1)
    cost = LinearCost()
    prefill = 5e-3 + 1e-4 * 100
    step1 = 5e-3 + 2e-5 + 1e-9 * 100
    step2 = 5e-3 + 2e-5 + 1e-9 * 101
    assert math.isclose(df["first_token_s"][0], 1.0 + prefill, rel_tol=1e-12)
    assert math.isclose(df["finish_s"][0], 1.0 + prefill + step1 + step2, rel_tol=1e-12)
    assert cost.prefill_s(100) == pytest.approx(prefill)


def test_second_request_hits_the_prefix_cache():
    a = Request("a", 0.0, 2, prompt_token_ids=list(range(500)))
    b = Request("b", 5.0, 2, prompt_token_ids=list(range(500)) + [7, 8, 9])
    df, _ = _run(Trace([a, b]), num_engines=1)
    assert df.set_index("request_id").loc["b", "num_cached_tokens"] == 500


def test_prompt_larger_than_kv_fails_with_a_record():
    big = Request("big", 0.0, 2, prompt_token_ids=list(range(3000)))
    ok = Request("ok", 0.1, 2, prompt_token_ids=list(range(50)))
    df, _ = _run(Trace([big, ok]), num_engines=1, capacity=1000)
    rows = df.set_index("request_id")
    assert rows.loc["big", "failed"] and "exceeds KV capacity" in rows.loc["big", "error"]
    assert not rows.loc["ok", "failed"] and rows.loc["ok", "finish_s"] > 0
