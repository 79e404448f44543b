"""Each synthetic generator's statistics against Preble's Table 1 (Appendix A).

Tolerances (stated once, applied to every workload unless a row overrides them):
- prompt length mean within 10 %, std within 20 %;
- output length mean within 10 % (or 0.5 token), std within 20 % (or 0.5 token);
- shared prefix (the infinite-cache reading, `cached_prefix_share`): mean within 3
  percentage points, std within 5 points;
- key portion: mean within 4 points, std within 7 points;
- requests sharing the key portion: mean within 15 %, over the distinct key nodes
  (LooGLE: per request, see below); the std only where noted.
The sizes (num_prefixes, num_requests) are the datasets' ratios, not Preble's serving configs;
the seed is 0 (other seeds land within the tolerances for most rows, not all).
"""

from __future__ import annotations

import pytest

from toolkit.workloads import (
    embodied_trace,
    loogle_trace,
    programming_trace,
    toolbench_trace,
    videoqa_trace,
    workload_stats,
)

# (prompt mean, std), (output mean, std), (shared %), (key %), (sharing mean, std)
TABLE1 = {
    "toolbench": ((1835, 742), (43, 16), (85, 13), (76, 16), (39, 64)),
    "embodied": ((2285, 471), (16, 13), (97, 14), (76, 12), (48, 8)),
    "programming": ((3871, 1656), (190, 343), (97, 7.4), (78, 13), (126, 2157)),
    "videoqa": ((9865, 5976), (4, 1.5), (88, 32), (99, 0.2), (8.6, 2)),
    "loogle": ((23474, 6105), (16, 9.9), (91, 24), (94, 15), (18, 8.6)),
}

BUILDERS = {
    "toolbench": lambda: toolbench_trace(510, 20000, 10.0, popularity="zipf", zipf_a=0.7),
    "embodied": lambda: embodied_trace(150, 7200, 10.0),
    "programming": lambda: programming_trace(160, 2812, 4.5, max_output_len=None),
    "videoqa": lambda: videoqa_trace(350, 3010, 2.0),
    "loogle": lambda: loogle_trace(100, 1800, 0.5),
}


def _close(value: float, target: float, rel: float, floor: float = 0.0) -> bool:
    return abs(value - target) <= max(rel * abs(target), floor)


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_generator_matches_table1(name: str) -> None:
    row = workload_stats(BUILDERS[name]()).iloc[0]
    prompt, output, shared, key, sharing = TABLE1[name]
    assert _close(row.prompt_len_mean, prompt[0], 0.10)
    assert _close(row.prompt_len_std, prompt[1], 0.20)
    assert _close(row.output_len_mean, output[0], 0.10, 0.5)
    assert _close(row.output_len_std, output[1], 0.20, 0.5)
    assert abs(100 * row.cached_prefix_share_mean - shared[0]) <= 3
    assert abs(100 * row.cached_prefix_share_std - shared[1]) <= 5
    assert abs(100 * row.key_portion_share_mean - key[0]) <= 4
    assert abs(100 * row.key_portion_share_std - key[1]) <= 7
    per_node = name != "loogle"  # LooGLE's cut tails are singleton key nodes; per request
    mean = row.key_sharing_mean if per_node else row.key_sharing_per_request_mean
    assert _close(mean, sharing[0], 0.15)
    if name in ("toolbench", "loogle"):
        std = row.key_sharing_std if per_node else row.key_sharing_per_request_std
        assert _close(std, sharing[1], 0.25)


def test_programming_output_cap() -> None:
    """Preble caps solutions at 512 tokens: the capped trace never exceeds it."""
    trace = programming_trace(40, 400, 4.5)
    assert max(r.output_len for r in trace) <= 512
    assert programming_trace(40, 400, 4.5, max_output_len=None).requests[0].output_len >= 1


def test_fixed_output_overrides() -> None:
    assert {r.output_len for r in loogle_trace(5, 20, 1.0, fixed_output_len=45)} == {45}
    assert {r.output_len for r in embodied_trace(5, 20, 1.0, fixed_output_len=26)} == {26}
