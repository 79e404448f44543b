"""Chained-block-hash prefix cache in the style of nano-vllm's block manager.

A key is cut into full blocks of `block_size` elements; block i is identified by
`hash((hash of block i-1, tokens of block i))`, so one dict lookup per block finds a prefix,
and the stored tokens are compared to guard against hash collisions. A trailing partial
block is never cached. Blocks form a tree through their parent links, and the lock, LRU heap
and eviction machinery is `RadixCache`'s, with every edge exactly one block long; eviction
removes whole blocks, so it may evict up to `block_size - 1` elements more than asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.cache.base import InsertResult, MatchResult
from toolkit.cache.radix import EvictCallback, Key, RadixCache, RadixNode, as_key

_ROOT_HASH = 0x9E3779B97F4A7C15


class HashBlock(RadixNode):
    """One cached block: `key` holds its elements, `block_hash` its chained hash."""

    __slots__ = ("block_hash",)

    def __init__(
        self, key: Key, parent: RadixNode | None, last_access: int, block_hash: int
    ) -> None:
        super().__init__(key, parent, last_access)
        self.block_hash = block_hash


class BlockHashCache(RadixCache):
    """Prefix cache over full blocks found by chained hashes (see the module docstring).

    Lengths and sizes count key elements (multiples of `block_size`).
    """

    def __init__(self, block_size: int = 16, on_evict: EvictCallback | None = None) -> None:
        if block_size < 1:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        super().__init__(on_evict)

    def _clear(self) -> None:
        super()._clear()
        self._root = HashBlock((), None, 0, _ROOT_HASH)
        self._blocks: dict[int, HashBlock] = {}

    def _walk(self, key: Key, touch: bool) -> tuple[int, HashBlock]:
        """Follow cached full blocks of `key`; stamp them with a fresh time if `touch`."""
        size = self.block_size
        node: HashBlock = self._root  # type: ignore[assignment]
        if touch:
            self._clock += 1
            node.last_access = self._clock
        pos = 0
        for pos in range(0, len(key) - size + 1, size):
            tokens = key[pos : pos + size]
            block = self._blocks.get(hash((node.block_hash, tokens)))
            if block is None or block.key != tokens or block.parent is not node:
                return pos, node
            node = block
            if touch:
                node.last_access = self._clock
        else:
            pos = len(key) - len(key) % size
        return pos, node

    def match(self, key: Sequence[int]) -> MatchResult:
        """Longest cached run of full blocks at the start of `key`; touches it (LRU)."""
        pos, node = self._walk(as_key(key), touch=True)
        self._push_if_evictable(node)
        return MatchResult(pos, node)

    def match_len(self, key: Sequence[int]) -> int:
        """Length of the longest cached block prefix of `key`; changes nothing."""
        return self._walk(as_key(key), touch=False)[0]

    def insert(self, key: Sequence[int]) -> InsertResult:
        """Cache every full block of `key` (a partial last block is dropped; a block whose
        hash slot holds other tokens stops the insert). Returns the cached length before
        the call and the last block of `key` that is now cached."""
        key = as_key(key)
        prefix_len, node = self._walk(key, touch=True)
        size = self.block_size
        for pos in range(prefix_len, len(key) - size + 1, size):
            tokens = key[pos : pos + size]
            block_hash = hash((node.block_hash, tokens))
            if block_hash in self._blocks:
                break  # collision with a different chain: leave this tail uncached
            block = HashBlock(tokens, node, self._clock, block_hash)
            node.children[block_hash] = block
            self._blocks[block_hash] = block
            self._evictable += size
            self._num_nodes += 1
            node = block
        self._push_if_evictable(node)
        return InsertResult(prefix_len, node)

    def _evict_leaf(self, node: RadixNode, need: int) -> int:
        """Remove one whole unlocked leaf block, whatever `need` is."""
        assert isinstance(node, HashBlock) and node.parent is not None
        path = self.path_key(node) if self.on_evict is not None else ()
        parent = node.parent
        del parent.children[node.block_hash]
        del self._blocks[node.block_hash]
        node.alive = False
        self._num_nodes -= 1
        self._evictable -= len(node.key)
        self._push_if_evictable(parent)
        if self.on_evict is not None:
            self.on_evict(path, len(node.key))
        return len(node.key)

    def check_integrity(self) -> None:
        """Recompute sizes, reference counts and heap coverage; check hashes and blocks."""
        live = {(ts, id(node)) for ts, _, node in self._heap}
        evictable = protected = 0
        blocks = [n for n in self._iter_nodes() if n is not self._root]
        for node in [self._root, *blocks]:
            assert isinstance(node, HashBlock)
            child_refs = 0
            for block_hash, child in node.children.items():
                assert isinstance(child, HashBlock) and child.parent is node and child.alive
                assert child.block_hash == block_hash == hash((node.block_hash, child.key))
                assert self._blocks[block_hash] is child
                assert child.last_access <= node.last_access
                child_refs += child.ref
            assert node.num_locks >= 0 and node.ref == node.num_locks + child_refs
        for node in blocks:
            assert len(node.key) == self.block_size
            if node.ref:
                protected += self.block_size
            else:
                evictable += self.block_size
                if not node.children:
                    assert node.heap_ts == node.last_access
                    assert (node.heap_ts, id(node)) in live
        assert len(blocks) == len(self._blocks) == self._num_nodes
        assert (evictable, protected) == (self._evictable, self._protected)
