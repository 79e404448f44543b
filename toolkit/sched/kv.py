"""KV-slot accounting around a prefix cache: admission, growth, eviction, release.

One `KVManager` per engine. The prefix tree owns the slots of cached prefixes; each running
sequence owns (`held_tokens`) the slots of its prompt tail until the tail enters the tree,
plus recomputed and generated tokens. Cache sizes are in key elements; one element is
`tokens_per_key` slots (1 for token ids, the block size for block-hash traces).
"""

from __future__ import annotations

from toolkit.cache.base import MatchResult, PrefixCache
from toolkit.sched.seq import Seq


class KVManager:
    """Token-slot accounting for one engine's KV cache of `capacity_tokens` slots."""

    def __init__(self, cache: PrefixCache, capacity_tokens: int, tokens_per_key: int = 1) -> None:
        if capacity_tokens <= 0:
            raise ValueError(f"KV capacity must be positive, got {capacity_tokens}")
        self.cache = cache
        self.capacity_tokens = capacity_tokens
        self.tokens_per_key = tokens_per_key
        self.held_tokens = 0
        self.reserved_tokens = 0
        self.epoch = 0
        self._rematch = getattr(cache, "rematch_many", None)  # RadixCache's shortcut, if any

    # -- sizes ---------------------------------------------------------------------------
    @property
    def used_tokens(self) -> int:
        return self.cache.total_size * self.tokens_per_key + self.held_tokens

    @property
    def free_tokens(self) -> int:
        return self.capacity_tokens - self.cache.total_size * self.tokens_per_key - self.held_tokens

    @property
    def available_tokens(self) -> int:
        """Free slots plus what eviction could free, less slots reserved for decodes."""
        cache, tpk = self.cache, self.tokens_per_key
        return (self.capacity_tokens - self.held_tokens - self.reserved_tokens
                + (cache.evictable_size - cache.total_size) * tpk)

    # -- operations ----------------------------------------------------------------------
    def match_tokens(self, seq: Seq) -> int:
        """Prompt tokens of `seq` the cache holds now (touches LRU, takes no lock)."""
        if seq.match_epoch != self.epoch:
            seq.match_len = self._match(seq).length
            seq.match_epoch = self.epoch
        req = seq.request
        n = seq.match_len * req.tokens_per_key  # req.key_tokens(seq.match_len)
        return n if n < req.prompt_len else req.prompt_len

    def refresh_matches(self, seqs: list[Seq]) -> None:
        """`match_tokens` for each sequence in turn (the same matches, in one batch)."""
        epoch = self.epoch
        stale = [s for s in seqs if s.match_epoch != epoch]
        if not stale:
            return
        if self._rematch is None:
            for seq in stale:
                self.match_tokens(seq)
            return
        for seq, m in zip(stale, self._rematch([(s.request.key, s.match_hint) for s in stale])):
            seq.match_hint = m
            seq.match_len = m[0]
            seq.match_epoch = epoch

    def _match(self, seq: Seq) -> MatchResult:
        """`cache.match` of the prompt, through the cache's `rematch` shortcut when it has
        one and an earlier result of this prompt (same result, same side effects)."""
        prev = seq.match_hint
        if prev is not None and self._rematch is not None:
            m = self._rematch([(seq.request.key, prev)])[0]
        else:
            m = self.cache.match(seq.request.key)
        seq.match_hint = m
        return m

    def can_ever_fit(self, seq: Seq) -> bool:
        """Whether the sequence's prompt and output could fit an empty cache."""
        need = len(seq.request.key) * self.tokens_per_key + seq.target_output_len
        return need <= self.capacity_tokens

    def admit(self, seq: Seq) -> bool:
        """Match, lock and allocate the uncached prompt tail; False (nothing changed) if the
        slots cannot be found even by eviction."""
        req = seq.request
        length, node = self._match(seq)
        need = (len(req.key) - length) * self.tokens_per_key + seq.recompute_tokens
        cache = self.cache
        cache.lock(node)  # first: the matched path itself must not count as evictable
        if need > self.available_tokens:
            cache.unlock(node)
            return False
        self._make_free(need)
        seq.node = node
        seq.match_len = length
        # min(req.key_tokens(length), max(req.prompt_len - 1, 0))
        cap = req.prompt_len - 1 if req.prompt_len > 0 else 0
        cached = length * req.tokens_per_key
        if cached > cap:
            cached = cap
        seq.num_cached_tokens = cached
        seq.num_prefilled = cached
        seq.held_tokens = need
        self.held_tokens += need
        return True

    def finish_prefill(self, seq: Seq) -> None:
        """Move the sequence's prompt tail into the prefix tree (duplicates are freed)."""
        key = seq.request.key
        cache = self.cache
        node = cache.insert(key).node
        num_key = len(key)
        moved = (num_key - seq.match_len) * self.tokens_per_key
        cache.lock(node)
        cache.unlock(seq.node)
        seq.node = node
        seq.match_len = num_key
        seq.held_tokens -= moved
        self.held_tokens -= moved
        self.epoch += 1

    def allocate(self, num_tokens: int) -> bool:
        """Take `num_tokens` slots (evicting if needed) for sequences' new tokens."""
        cache, tpk = self.cache, self.tokens_per_key
        if num_tokens > (self.capacity_tokens - self.held_tokens
                         + (cache.evictable_size - cache.total_size) * tpk):
            return False
        self._make_free(num_tokens)
        self.held_tokens += num_tokens
        return True

    def reserve(self, num_tokens: int) -> int:
        """Evict until `num_tokens` slots are free if possible; return the free slots."""
        self._make_free(num_tokens)
        return self.free_tokens

    def release(self, seq: Seq, output_slots: int) -> None:
        """Free the sequence's own slots (`held_tokens` + `output_slots`) and unlock its path."""
        self.held_tokens -= seq.held_tokens + output_slots
        seq.held_tokens = 0
        if seq.node is not None:
            self.cache.unlock(seq.node)
            seq.node = None

    def _make_free(self, num_tokens: int) -> None:
        tpk = self.tokens_per_key
        short = num_tokens - (self.capacity_tokens - self.cache.total_size * tpk
                              - self.held_tokens)  # - self.free_tokens
        if short > 0:
            self.cache.evict(-(-short // tpk))
            self.epoch += 1
