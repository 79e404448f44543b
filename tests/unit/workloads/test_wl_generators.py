"""Generators: determinism, structure (shared prefixes, sessions, popularity), speed."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from toolkit.core import ConfigError, Trace
from toolkit.workloads import (
    VOCAB_SIZE,
    azure_mix_trace,
    embodied_trace,
    loogle_trace,
    programming_trace,
    scale_to_gpus,
    toolbench_trace,
    videoqa_trace,
)

SMALL = {
    "toolbench": lambda seed: toolbench_trace(20, 200, 5.0, seed=seed),
    "embodied": lambda seed: embodied_trace(10, 200, 5.0, seed=seed),
    "programming": lambda seed: programming_trace(10, 100, 5.0, seed=seed),
    "videoqa": lambda seed: videoqa_trace(10, 80, 5.0, seed=seed),
    "loogle": lambda seed: loogle_trace(3, 12, 1.0, seed=seed),
}


def _fingerprint(trace: Trace) -> list[tuple]:
    return [(r.id, r.arrival_s, r.output_len, tuple(r.prompt_token_ids), r.session) for r in trace]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_trace(name: str) -> None:
    a, b, c = SMALL[name](3), SMALL[name](3), SMALL[name](4)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_tokens_in_vocab_and_sorted_arrivals(name: str) -> None:
    trace = SMALL[name](0)
    for r in trace:
        assert all(0 <= t < VOCAB_SIZE for t in r.prompt_token_ids)
        assert r.output_len >= 1
    times = [r.arrival_s for r in trace]
    assert times == sorted(times) and times[0] == 0.0


def test_rate_does_not_change_prompts() -> None:
    slow, fast = toolbench_trace(5, 50, 1.0), toolbench_trace(5, 50, 10.0)
    assert sorted(r.prompt_token_ids for r in slow) == sorted(r.prompt_token_ids for r in fast)
    assert slow.duration_s > 5 * fast.duration_s


def test_even_vs_zipf_popularity() -> None:
    def per_tool(trace: Trace) -> list[int]:
        return sorted(Counter(tuple(r.prompt_token_ids[:400]) for r in trace).values())

    even = per_tool(toolbench_trace(50, 2000, 5.0, tool_len=(1000, 1), popularity="even"))
    zipf = per_tool(toolbench_trace(50, 2000, 5.0, tool_len=(1000, 1), popularity="zipf"))
    assert even == [40] * 50
    assert zipf[-1] > 4 * zipf[len(zipf) // 2]  # the most popular tool dominates
    with pytest.raises(ConfigError, match="popularity"):
        toolbench_trace(5, 50, 1.0, popularity="uniform")


def test_shared_prefix_ints_are_shared_objects() -> None:
    """Prompts of one tool share the int objects of the prefix (memory)."""
    trace = toolbench_trace(1, 3, 1.0)
    a, b = trace.requests[0].prompt_token_ids, trace.requests[1].prompt_token_ids
    assert all(x is y for x, y in zip(a[:100], b[:100]))


def test_embodied_sessions_extend_in_order() -> None:
    trace = embodied_trace(6, 60, 5.0)
    by_session: dict[str, list] = {}
    for r in trace:
        by_session.setdefault(r.session, []).append(r)
    assert len(by_session) == 6
    for reqs in by_session.values():
        assert [r.meta["turn"] for r in reqs] == list(range(len(reqs)))
        for prev, cur in zip(reqs, reqs[1:]):
            assert cur.prompt_token_ids[: prev.prompt_len] == prev.prompt_token_ids
            assert cur.prompt_len >= prev.prompt_len + prev.output_len


def test_programming_system_prefix_and_loogle_cap() -> None:
    prog = programming_trace(5, 30, 1.0)
    first = prog.requests[0].prompt_token_ids[:2400]
    assert all(r.prompt_token_ids[:2400] == first for r in prog)
    assert max(r.prompt_len for r in loogle_trace(20, 40, 1.0)) <= 32723


def test_scale_to_gpus() -> None:
    assert scale_to_gpus(300, 3600, 12.0, 4) == (600, 7200, 24.0)
    assert len(toolbench_trace(10, 100, 5.0, num_gpus=8)) == 400
    with pytest.raises(ConfigError, match="num_gpus"):
        scale_to_gpus(1, 1, 1.0, 0)


def test_bad_counts_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="num_prefixes"):
        videoqa_trace(0, 10, 1.0)
    with pytest.raises(ConfigError, match="num_requests"):
        embodied_trace(10, 5, 1.0)


def test_twenty_thousand_tool_requests() -> None:
    """The scale the figures use; the time is printed, not asserted (speed lives in benchmarks)."""
    start = time.perf_counter()
    trace = toolbench_trace(300, 20000, 12.0)
    print(f"\n20,000 ToolBench requests generated in {time.perf_counter() - start:.2f} s")
    assert len(trace) == 20000
    assert len({r.id for r in trace}) == 20000


def test_azure_mix(data_dir) -> None:
    trace = azure_mix_trace(num_gpus=2, azure_path=data_dir / "AzureLLMInferenceTrace_code.csv")
    kinds = Counter(r.meta["workload"] for r in trace)
    assert kinds == {"toolbench": 3600, "videoqa": 900}
    assert trace.requests[0].arrival_s == 0.0
    four = azure_mix_trace(num_gpus=4, azure_trace="conv")
    assert len(four) == 9000
    with pytest.raises(ConfigError, match="azure_path"):
        azure_mix_trace(num_gpus=4, azure_trace="code")


def test_azure_mix_time_scale(data_dir) -> None:
    path = data_dir / "AzureLLMInferenceTrace_conv.csv"
    full = azure_mix_trace(azure_path=path, time_scale=1.0)
    scaled = azure_mix_trace(azure_path=path, time_scale=0.7)
    assert np.isclose(scaled.duration_s, 0.7 * full.duration_s)
