"""`common_prefix_len` and `first_mismatch` against an element-by-element scan."""

from __future__ import annotations

import random

import pytest

from toolkit.cache.radix_node import common_prefix_len, first_mismatch


def _scan(edge: tuple, key: tuple, start: int) -> int:
    n = 0
    while n < len(edge) and start + n < len(key) and edge[n] == key[start + n]:
        n += 1
    return n


@pytest.mark.parametrize("seed", range(10))
def test_prefix_lengths_equal_a_scan(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        edge = tuple(rng.randrange(3) for _ in range(rng.choice([1, 5, 40, 300])))
        start = rng.randint(0, 20)
        cut = rng.randint(0, len(edge))
        tail = tuple(rng.randrange(3) for _ in range(rng.randint(0, 50)))
        key = tuple(rng.randrange(3) for _ in range(start)) + edge[:cut] + tail
        want = _scan(edge, key, start)
        assert common_prefix_len(edge, key, start) == want
        limit = min(len(edge), len(key) - start)
        if want < limit:  # first_mismatch's precondition: a mismatch below limit
            assert first_mismatch(edge, key, start, limit) == want
