"""Workload statistics: the fast sorted-LCP / compressed-trie path against O(n^2) oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.core import Request, Trace
from toolkit.workloads import read_mooncake, request_prefix_stats, workload_stats


def _lcp(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _oracle(keys: list[tuple[int, ...]]) -> list[tuple[int, int, int, int]]:
    """Per key: (shared with any other, shared with an earlier one, key-portion length,
    keys through the key-portion node), by brute force over all pairs."""
    n = len(keys)
    lcps = [[_lcp(keys[i], keys[j]) for j in range(n)] for i in range(n)]
    out = []
    for i in range(n):
        others = [lcps[i][j] for j in range(n) if j != i]
        earlier = [lcps[i][j] for j in range(i)]
        bounds = sorted({d for d in others if d > 0} | ({len(keys[i])} - {0}))
        key_len, sharing, prev = 0, 0, 0
        for b in bounds:
            if b - prev > prev:
                key_len, sharing = b - prev, sum(1 for j in range(n) if lcps[i][j] >= b)
            prev = b
        out.append((max(others, default=0), max(earlier, default=0), key_len, sharing))
    return out


def _trace(keys: list[tuple[int, ...]]) -> Trace:
    reqs = [Request(f"r{i:04d}", float(i), 1, prompt_token_ids=k) for i, k in enumerate(keys)]
    return Trace(reqs)


keys_strategy = st.lists(
    st.lists(st.integers(0, 2), min_size=0, max_size=12).map(tuple), min_size=1, max_size=25
)


@settings(max_examples=150, deadline=None)
@given(keys_strategy)
def test_fast_stats_equal_brute_force(keys: list[tuple[int, ...]]) -> None:
    df = request_prefix_stats(_trace(keys))
    fast = list(
        zip(df.shared_prefix_len, df.cached_prefix_len, df.key_portion_len, df.key_sharing)
    )
    assert fast == _oracle(keys)


def test_structured_prefixes_brute_force() -> None:
    """Long shared prefixes with unique tails (the generators' shape), random order."""
    rng = np.random.default_rng(0)
    heads = [tuple(rng.integers(0, 50, int(n)).tolist()) for n in rng.integers(1, 60, 8)]
    keys = []
    for _ in range(80):
        head = heads[int(rng.integers(len(heads)))]
        keys.append(head[: int(rng.integers(1, len(head) + 1))] + tuple(rng.integers(0, 3, 3)))
    df = request_prefix_stats(_trace(keys))
    got = list(zip(df.shared_prefix_len, df.cached_prefix_len, df.key_portion_len, df.key_sharing))
    assert got == _oracle(keys)


def test_block_hash_trace_counts_tokens() -> None:
    """Block-hash keys are measured in tokens, the last block partial; big hashes work."""
    big = 2**62
    reqs = [
        Request("a", 0.0, 1, prompt_len=1000, block_hashes=(big, 1), block_size=512),
        Request("b", 1.0, 1, prompt_len=1300, block_hashes=(big, 1, 7), block_size=512),
        Request("c", 2.0, 1, prompt_len=300, block_hashes=(-5,), block_size=512),
    ]
    df = request_prefix_stats(Trace(reqs))
    assert df.shared_prefix_len.tolist() == [1000, 1024, 0]
    assert df.cached_prefix_len.tolist() == [0, 1024, 0]
    assert df.key_portion_len.tolist() == [1000, 1024, 300]  # node (big, 1), per request


def test_mixed_keys_rejected() -> None:
    reqs = [
        Request("a", 0.0, 1, prompt_token_ids=(1, 2)),
        Request("b", 1.0, 1, prompt_len=10, block_hashes=(1,), block_size=16),
    ]
    with pytest.raises(ValueError, match="block-hash"):
        request_prefix_stats(Trace(reqs))


def test_workload_stats_row_and_mooncake(data_dir) -> None:
    trace = read_mooncake(data_dir / "mooncake_conversation_trace.jsonl")
    row = workload_stats(trace).iloc[0]
    assert row.num_requests == 12031
    assert row.prompt_len_mean == pytest.approx(12035, abs=1)
    df = request_prefix_stats(trace)
    # The data README: 36.6 % of the prefix blocks were seen before (counted in blocks).
    assert df.cached_prefix_len.sum() / df.prompt_len.sum() == pytest.approx(0.366, abs=0.01)
    assert 0 <= row.cached_prefix_share_mean <= row.shared_prefix_share_mean <= 1
