"""Physical KV blocks under the shared prefix cache: the engine's `KVManager`.

The prefix cache is the simulator's very `RadixCache`, keyed by chained hashes of full prompt
blocks (one key element = one block = `block_size` token slots). Every physical block is in
exactly one place: the free list, the tree (`block_of_hash`, freed by the cache's `on_evict`
callback), or one running sequence's private tail of its block table. The parent's slot
accounting stays exact: `free_tokens == len(free_blocks) * block_size`.
"""

from __future__ import annotations

from collections import deque

from toolkit.cache.radix import RadixCache
from toolkit.engine.sequence import EngineSeq
from toolkit.sched.kv import KVManager


class PagedKVManager(KVManager):
    """A `KVManager` whose admissions, growth and releases move real block ids."""

    def __init__(self, num_blocks: int, block_size: int, cache: RadixCache | None = None) -> None:
        cache = cache if cache is not None else RadixCache()
        super().__init__(cache, num_blocks * block_size, tokens_per_key=block_size)
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.free_blocks: deque[int] = deque(range(num_blocks))
        self.block_of_hash: dict[int, int] = {}
        chained = cache.on_evict

        def on_evict(path: tuple[int, ...], num: int) -> None:
            self._on_evict(path, num)
            if chained is not None:
                chained(path, num)

        cache.on_evict = on_evict

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def can_ever_fit(self, seq: EngineSeq) -> bool:
        """Whether the prompt and all `max_tokens` outputs fit an empty pool."""
        return self.blocks_for(seq.request.prompt_len + seq.target_output_len) <= self.num_blocks

    def admit(self, seq: EngineSeq) -> bool:
        """Match the prompt's full blocks, lock the usable prefix and allocate blocks for the
        rest of the prefill; False (nothing changed) if they cannot be found by eviction.

        At least the last prefill token is always computed (it yields the next token), so a
        match is used only up to the last full block before it. A resumed sequence whose KV
        was preserved (it holds blocks) or swapped out (`seq.swapped`) keeps its
        `num_prefilled` KV tokens and gets blocks for the rest only (the caller copies a
        swapped one's blocks back in).
        """
        if seq.block_table:
            return self._admit_resident(seq)
        if seq.swapped is not None:
            return self._admit_swapped(seq)
        total = seq.prefill_len
        m = self._match(seq)
        usable = min(m.length, (total - 1) // self.block_size)
        key = seq.request.key
        node = m.node if usable == m.length else self.cache.match(key[:usable]).node
        self.cache.lock(node)
        need = self.blocks_for(total) - usable
        if need * self.block_size > self.available_tokens:
            self.cache.unlock(node)
            return False
        tree = [self.block_of_hash[h] for h in key[:usable]]
        seq.block_table = tree + self._take(need)
        seq.num_tree_blocks = usable
        seq.node = node
        seq.match_len = usable
        seq.num_cached_tokens = seq.num_prefilled = usable * self.block_size
        seq.held_tokens = need * self.block_size
        self.held_tokens += seq.held_tokens
        return True

    def _admit_resident(self, seq: EngineSeq) -> bool:
        need = max(self.blocks_for(seq.prefill_len) - len(seq.block_table), 0)
        if need * self.block_size > self.available_tokens:
            return False
        self._hold(seq, need)
        seq.num_cached_tokens = seq.num_prefilled
        return True

    def _admit_swapped(self, seq: EngineSeq) -> bool:
        need = self.blocks_for(seq.prefill_len)
        if need * self.block_size > self.available_tokens:
            return False
        node = self.cache.match(seq.request.key[:0]).node  # the root: nothing shared
        self.cache.lock(node)
        seq.node, seq.match_len, seq.num_tree_blocks = node, 0, 0
        seq.block_table = []
        self._hold(seq, need)
        seq.num_cached_tokens = seq.num_prefilled
        return True

    def _hold(self, seq: EngineSeq, num_blocks: int) -> None:
        seq.block_table.extend(self._take(num_blocks))
        seq.held_tokens += num_blocks * self.block_size
        self.held_tokens += num_blocks * self.block_size

    def finish_prefill(self, seq: EngineSeq) -> None:
        """Hand the prompt's full blocks to the tree; blocks another sequence cached first
        are freed and the block table points at the tree's copies instead."""
        key = seq.request.key
        res = self.cache.insert(key)
        table = seq.block_table
        for i in range(seq.num_tree_blocks, len(key)):
            if i < res.prefix_len:  # a duplicate of a cached block
                self.free_blocks.append(table[i])
                table[i] = self.block_of_hash[key[i]]
            else:
                self.block_of_hash[key[i]] = table[i]
        moved = (len(key) - seq.num_tree_blocks) * self.block_size
        self.cache.lock(res.node)
        self.cache.unlock(seq.node)
        seq.node = res.node
        seq.match_len = seq.num_tree_blocks = len(key)
        seq.held_tokens -= moved
        self.held_tokens -= moved
        self.epoch += 1

    def blocks_to_grow(self, seqs: list[EngineSeq]) -> int:
        """New blocks the sequences need to write one more token each (a decode step)."""
        return sum(len(s.block_table) * self.block_size < s.num_tokens for s in seqs)

    def can_grow(self, num_blocks: int) -> bool:
        """Whether `num_blocks` blocks are free or can be freed by eviction."""
        return len(self.free_blocks) + self.cache.evictable_size >= num_blocks

    def grow(self, seqs: list[EngineSeq]) -> None:
        """Give each sequence that needs one a new block for its next token (evicting if
        needed); the caller checked `can_grow` first."""
        for seq in seqs:
            if len(seq.block_table) * self.block_size < seq.num_tokens:
                self._hold(seq, 1)

    def reserve_slots(self, seq: EngineSeq, num_tokens: int) -> int:
        """Grow `seq`'s blocks toward room for `num_tokens` token slots (speculative tokens
        beyond the next one), as far as free or evictable blocks allow; return the slots it
        then has."""
        need = self.blocks_for(num_tokens) - len(seq.block_table)
        if need > 0:
            self._hold(seq, min(need, len(self.free_blocks) + self.cache.evictable_size))
        return len(seq.block_table) * self.block_size

    def trim(self, seq: EngineSeq) -> None:
        """Free the private blocks past what `seq`'s tokens need (those that held rejected
        draft tokens)."""
        keep = max(self.blocks_for(seq.num_tokens), seq.num_tree_blocks)
        extra = seq.block_table[keep:]
        if extra:
            del seq.block_table[keep:]
            self.free_blocks.extend(extra)
            seq.held_tokens -= len(extra) * self.block_size
            self.held_tokens -= len(extra) * self.block_size

    def allocate(self, num_tokens: int) -> bool:
        raise NotImplementedError("PagedKVManager allocates whole blocks: use grow()")

    def release(self, seq: EngineSeq, output_slots: int = 0) -> None:
        """Free the sequence's private blocks and unlock its cached prefix (`output_slots` is
        ignored: output blocks are already among the private ones)."""
        self.free_blocks.extend(seq.block_table[seq.num_tree_blocks:])
        seq.block_table = []
        seq.num_tree_blocks = 0
        super().release(seq, 0)

    def _take(self, num: int) -> list[int]:
        self._make_free(num * self.block_size)
        if len(self.free_blocks) < num:
            raise RuntimeError(f"out of KV blocks: need {num}, have {len(self.free_blocks)}")
        return [self.free_blocks.popleft() for _ in range(num)]

    def _on_evict(self, path: tuple[int, ...], num: int) -> None:
        for h in path[len(path) - num:]:
            self.free_blocks.append(self.block_of_hash.pop(h))

    def check_integrity(self, seqs: list[EngineSeq] = ()) -> None:  # type: ignore[assignment]
        """Assert every block has exactly one owner and the slot accounting matches; `seqs`
        are all sequences holding blocks (running ones, and paused or resumed ones that
        kept their KV)."""
        self.cache.check_integrity()
        assert len(self.block_of_hash) == self.cache.total_size
        assert self.free_tokens == len(self.free_blocks) * self.block_size
        owned = list(self.free_blocks) + list(self.block_of_hash.values())
        for seq in seqs:
            owned.extend(seq.block_table[seq.num_tree_blocks:])
            assert seq.held_tokens == (len(seq.block_table) - seq.num_tree_blocks) * self.block_size
        assert sorted(owned) == list(range(self.num_blocks)), "each block has one owner"
        assert sum(s.held_tokens for s in seqs) == self.held_tokens
