"""Example-based tests of RadixCache and BlockHashCache: splits, LRU, partial eviction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.cache.base import PrefixCache, SizeInfo
from toolkit.cache.block_hash import BlockHashCache
from toolkit.cache.radix import RadixCache, as_key, common_prefix_len


def test_is_a_prefix_cache() -> None:
    assert isinstance(RadixCache(), PrefixCache)
    assert isinstance(BlockHashCache(), PrefixCache)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=1, max_size=70),
    st.lists(st.integers(0, 1), max_size=70),
    st.integers(0, 5),
)
def test_common_prefix_len_matches_a_loop(edge: list[int], tail: list[int], start: int) -> None:
    key = tuple([9] * start + [edge[0]] + tail)
    expected = 0
    while (
        expected < len(edge)
        and start + expected < len(key)
        and edge[expected] == key[start + expected]
    ):
        expected += 1
    assert common_prefix_len(tuple(edge), key, start) == expected


def test_match_splits_so_node_path_is_the_matched_prefix() -> None:
    cache = RadixCache()
    _, leaf = cache.insert([1, 2, 3, 4, 5])
    assert cache.num_nodes == 1
    length, node = cache.match([1, 2, 3, 9])
    assert length == 3 and cache.path_key(node) == (1, 2, 3)
    assert cache.num_nodes == 2 and leaf.parent is node and leaf.key == (4, 5)
    assert cache.match([1, 2]).length == 2 and cache.num_nodes == 3
    assert cache.match([7]) == (0, cache.root)
    assert cache.size_info() == SizeInfo(5, 0)
    cache.check_integrity()


def test_split_keeps_locked_handle_and_moves_protection() -> None:
    cache = RadixCache()
    _, leaf = cache.insert([1, 2, 3, 4])
    cache.lock(leaf)
    _, upper = cache.match([1, 2])
    assert upper.ref == 1 and cache.path_key(leaf) == (1, 2, 3, 4)
    assert cache.size_info() == SizeInfo(0, 4)
    with pytest.raises(ValueError):
        cache.unlock(upper)  # the lock belongs to `leaf`, not to the split-off parent
    cache.unlock(leaf)
    assert cache.size_info() == SizeInfo(4, 0)
    cache.check_integrity()


def test_insert_reports_cached_prefix_and_end_node() -> None:
    cache = RadixCache()
    assert cache.insert([1, 2, 3]).prefix_len == 0
    prefix_len, node = cache.insert([1, 2, 3, 4, 5])
    assert prefix_len == 3 and node.key == (4, 5)
    prefix_len, node = cache.insert([1, 2])
    assert prefix_len == 2 and cache.path_key(node) == (1, 2)
    assert cache.insert([]) == (0, cache.root)
    assert cache.total_size == 5
    cache.check_integrity()


def test_lru_order_and_parents_become_leaves() -> None:
    cache = RadixCache()
    cache.insert([1, 1, 1])
    cache.insert([2, 2])
    cache.insert([1, 1, 1, 3, 3])
    cache.match([2, 2])  # now [1,1,1,3,3] is the least recently used leaf
    assert cache.evict(2) == 2 and cache.match_len([1, 1, 1, 3, 3]) == 3
    assert cache.evict(3) == 3
    assert cache.match_len([1, 1, 1]) == 0 and cache.match_len([2, 2]) == 2
    cache.check_integrity()


def test_partial_eviction_trims_only_the_tail() -> None:
    log: list[tuple[tuple[int, ...], int]] = []
    cache = RadixCache(on_evict=lambda path, num: log.append((path, num)))
    cache.insert([5, 6, 7, 8, 9, 10])
    cache.match([5, 6])  # split: [5, 6] + [7, 8, 9, 10]
    assert cache.evict(3) == 3
    assert cache.match_len([5, 6, 7, 8, 9, 10]) == 3
    assert log == [((5, 6, 7, 8, 9, 10), 3)]
    assert cache.evict(100) == 3 and cache.total_size == 0
    assert log[1:] == [((5, 6, 7), 1), ((5, 6), 2)]
    cache.check_integrity()


def test_locked_paths_survive_eviction() -> None:
    cache = RadixCache()
    _, a = cache.insert([1, 2, 3])
    cache.insert([1, 2, 4, 4])
    cache.lock(a)
    assert cache.evict(100) == 2  # only the unlocked [4, 4] tail can go
    assert cache.size_info() == SizeInfo(0, 3)
    cache.unlock(a)
    with pytest.raises(ValueError):
        cache.unlock(a)
    assert cache.evict(100) == 3
    with pytest.raises(ValueError):
        cache.lock(a)  # evicted handle
    cache.check_integrity()


def test_reset_requires_released_locks() -> None:
    cache = RadixCache()
    _, node = cache.insert([1, 2])
    cache.lock(node)
    with pytest.raises(RuntimeError):
        cache.reset()
    cache.unlock(node)
    cache.reset()
    assert cache.total_size == 0 and cache.num_nodes == 0 and not node.alive
    cache.check_integrity()


@pytest.mark.parametrize("make", [RadixCache, lambda: BlockHashCache(block_size=2)])
def test_numpy_and_list_keys_behave_the_same(make) -> None:
    rng = np.random.default_rng(0)
    keys = [rng.integers(0, 3, rng.integers(0, 12)) for _ in range(60)]
    as_list, as_array = make(), make()
    for i, key in enumerate(keys):
        op = ("match", "insert", "evict")[i % 3]
        if op == "evict":
            assert as_list.evict(i % 5) == as_array.evict(i % 5)
            continue
        got_list = getattr(as_list, op)(key.tolist())
        got_array = getattr(as_array, op)(key)
        assert got_list[0] == got_array[0]
        assert as_list.path_key(got_list[1]) == as_array.path_key(got_array[1])
        assert all(type(x) is int for x in as_array.path_key(got_array[1]))
        assert as_list.size_info() == as_array.size_info()
    as_array.check_integrity()
    assert as_key(np.arange(3)) == (0, 1, 2)


def test_heap_stays_bounded_without_eviction() -> None:
    cache = RadixCache()
    for i in range(10):
        cache.insert([i, 1, 2])
    for step in range(20_000):
        cache.match([step % 10, 1, 2])
    assert len(cache._heap) <= 2 * cache.num_nodes + 1024
    assert cache.evict(3) == 3 and cache.match_len([0, 1, 2]) == 0  # step 0's key is oldest
    cache.check_integrity()


def test_heap_rebuild_during_eviction() -> None:
    cache = RadixCache()
    cache.on_evict = lambda path, num: cache._rebuild_heap()  # as if stale entries piled up
    for i in range(30):
        cache.insert([i, 0, 0])
        cache.insert([i, 1, 1])
    for i in range(30):
        cache.match([i, 1, 1])
    assert cache.evict(10**6) == 150
    assert cache.total_size == 0 and cache.num_nodes == 0
    cache.check_integrity()


def test_block_hash_cache_caches_full_blocks_only() -> None:
    log: list[tuple[tuple[int, ...], int]] = []
    cache = BlockHashCache(block_size=2, on_evict=lambda path, num: log.append((path, num)))
    assert cache.insert([1, 2, 3, 4, 5]).prefix_len == 0
    assert cache.total_size == 4 and cache.match_len([1, 2, 3, 4, 5]) == 4
    assert cache.match([1, 2, 3, 9]).length == 2
    prefix_len, node = cache.insert([1, 2, 7, 8])
    assert prefix_len == 2 and cache.path_key(node) == (1, 2, 7, 8)
    cache.lock(node)
    assert cache.evict(1) == 2 and log == [((1, 2, 3, 4), 2)]  # whole blocks only
    assert cache.evict(10) == 0 and cache.size_info() == SizeInfo(0, 4)
    cache.unlock(node)
    cache.check_integrity()
    with pytest.raises(ValueError):
        BlockHashCache(block_size=0)
