"""Random operation sequences on prefix caches against a brute-force token-level oracle.

The oracle stores every cached prefix (as a tuple) with the logical time of its last touch
and its lock count. Because a radix node's elements are always touched together, LRU over
radix leaves with tail trimming equals "repeatedly evict the least recently touched cached
prefix that has no cached extension and no lock", so the oracle predicts eviction exactly.
"""

from __future__ import annotations

from collections import Counter

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from toolkit.cache.block_hash import BlockHashCache
from toolkit.cache.radix import RadixCache

Key = tuple[int, ...]
KEYS = st.lists(st.integers(0, 2), max_size=8).map(tuple)


class PrefixOracle:
    """Every cached prefix, its last touch time, its lock count and its child count."""

    def __init__(self) -> None:
        self.touched: dict[Key, int] = {}
        self.locks: Counter[Key] = Counter()
        self.num_children: Counter[Key] = Counter()
        self.clock = 0

    def match_len(self, key: Key) -> int:
        length = 0
        while length < len(key) and key[: length + 1] in self.touched:
            length += 1
        return length

    def touch(self, key: Key, length: int) -> None:
        self.clock += 1
        for end in range(1, length + 1):
            prefix = key[:end]
            if prefix not in self.touched:
                self.num_children[prefix[:-1]] += 1
            self.touched[prefix] = self.clock

    def lock(self, key: Key, delta: int) -> None:
        for end in range(1, len(key) + 1):
            self.locks[key[:end]] += delta

    def sizes(self) -> tuple[int, int]:
        protected = sum(1 for p in self.touched if self.locks[p] > 0)
        return len(self.touched) - protected, protected

    def evict(self, num: int) -> int:
        for done in range(num):
            leaves = [p for p in self.touched if not self.num_children[p] and not self.locks[p]]
            if not leaves:
                return done
            victim = min(leaves, key=self.touched.__getitem__)
            del self.touched[victim]
            self.num_children[victim[:-1]] -= 1
        return num


def cached_prefixes(cache: RadixCache | BlockHashCache) -> set[Key]:
    """Every cached prefix, read from the cache's structure."""
    return {
        cache.path_key(node)[:end]
        for node in cache.iter_leaves()
        for end in range(1, len(cache.path_key(node)) + 1)
    }


class CacheMachine(RuleBasedStateMachine):
    """Drives one cache and the oracle with the same operations."""

    make_cache = RadixCache

    def __init__(self) -> None:
        super().__init__()
        self.cache = self.make_cache()
        self.oracle = PrefixOracle()
        self.held: list[tuple[object, Key]] = []
        self.evicted_log: list[tuple[Key, int]] = []
        self.cache.on_evict = lambda path, num: self.evicted_log.append((path, num))

    @rule(key=KEYS)
    def match(self, key: Key) -> None:
        length, node = self.cache.match(list(key))
        assert length == self.oracle.match_len(key) == self.cache.match_len(key)
        assert self.cache.path_key(node) == key[:length]
        self.oracle.touch(key, length)

    @rule(key=KEYS)
    def insert(self, key: Key) -> None:
        already = self.oracle.match_len(key)
        prefix_len, node = self.cache.insert(key)
        assert prefix_len == already
        assert self.cache.path_key(node) == key
        self.oracle.touch(key, len(key))

    @rule(key=KEYS, use_insert=st.booleans())
    def lock(self, key: Key, use_insert: bool) -> None:
        if use_insert:
            node = self.cache.insert(key).node
        else:
            node = self.cache.match(key).node
            key = key[: self.oracle.match_len(key)]
        self.oracle.touch(key, len(key))
        self.cache.lock(node)
        self.oracle.lock(key, +1)
        self.held.append((node, key))

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 100))
    def unlock(self, index: int) -> None:
        node, key = self.held.pop(index % len(self.held))
        self.cache.unlock(node)
        self.oracle.lock(key, -1)

    @rule(num=st.integers(0, 12))
    def evict(self, num: int) -> None:
        before = self.cache.size_info()
        self.evicted_log.clear()
        evicted = self.cache.evict(num)
        assert evicted >= min(num, before.evictable)
        assert evicted == sum(n for _, n in self.evicted_log)
        assert self.oracle.evict(evicted) == evicted
        assert self.cache.size_info().protected == before.protected
        for node, key in self.held:
            assert self.cache.path_key(node) == key, "a locked path was evicted"

    @invariant()
    def consistent(self) -> None:
        self.cache.check_integrity()
        assert tuple(self.cache.size_info()) == self.oracle.sizes()
        assert cached_prefixes(self.cache) == set(self.oracle.touched)

    def teardown(self) -> None:
        for node, _ in self.held:
            self.cache.unlock(node)
        self.cache.reset()
        self.cache.check_integrity()
        assert self.cache.total_size == 0


class UnitBlockMachine(CacheMachine):
    """With one element per block, the block-hash cache obeys the same oracle exactly."""

    make_cache = staticmethod(lambda: BlockHashCache(block_size=1))


_SETTINGS = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestRadixCacheStateful = CacheMachine.TestCase
TestRadixCacheStateful.settings = _SETTINGS
TestBlockHashCacheStateful = UnitBlockMachine.TestCase
TestBlockHashCacheStateful.settings = _SETTINGS
