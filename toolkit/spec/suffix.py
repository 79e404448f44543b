"""SuffixDecoding (Oliaro et al., arXiv 2411.04975; vLLM's `suffix` method, which runs
Snowflake's ArcticInference): a global suffix trie over past outputs and a per-request trie
over the request's own context (prompt and output); each is searched over every match
length, and the draft comes from whichever predicts more accepted tokens (ties: the
request's own)."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from toolkit.spec.base import EMPTY, Draft, Drafter, SeqKey
from toolkit.spec.tree_draft import best_over_matches, better, draft_from
from toolkit.spec.trie import trie_class


class SuffixDecoding(Drafter):
    """Global trie of the last `max_cached_requests` outputs (oldest evicted first, as
    vLLM does), per-request trie of the context; draft length at most `factor` x match
    length, tokens kept while the path probability is >= `min_prob`. Defaults are vLLM's:
    depth 24, factor 1.0, min probability 0.1, 10,000 cached requests. With `sample=True`
    the draft is drawn from the continuation frequencies at the longest match (a random
    proposal, verified against its law) instead. `trie` picks the trie's implementation
    (`toolkit.spec.trie.trie_class`); both draft alike.

    Outputs enter the global trie online, as `observe` hands over verified tokens."""

    def __init__(self, depth: int = 24, factor: float = 1.0, min_prob: float = 0.1,
                 max_cached_requests: int = 10_000, sample: bool = False,
                 seed: int = 0, trie: str = "auto") -> None:
        if max_cached_requests < 1:
            raise ValueError(f"SuffixDecoding: max_cached_requests must be >= 1, "
                             f"got {max_cached_requests}")
        self.depth, self.factor, self.min_prob = depth, factor, min_prob
        self.max_cached_requests = max_cached_requests
        self.rng = random.Random(seed) if sample else None
        self._trie_cls = trie_class(trie)
        self.global_trie = self._trie_cls(depth)
        self._outputs: OrderedDict[Hashable, list[int]] = OrderedDict()
        self._local: dict[Hashable, tuple[object, int]] = {}

    def propose(self, key: SeqKey, context: Sequence[int], max_tokens: int) -> Draft:
        if max_tokens <= 0 or not context:
            return EMPTY
        local = self._local_trie(key.seq, context)
        if self.rng is not None:
            kw = dict(min_prob=self.min_prob, factor=self.factor, rng=self.rng)
            return better(draft_from(local, context, max_tokens, **kw),
                          draft_from(self.global_trie, context, max_tokens, **kw))
        kw = dict(min_prob=self.min_prob, factor=self.factor)
        return better(best_over_matches(local, context, max_tokens, **kw),
                      best_over_matches(self.global_trie, context, max_tokens, **kw))

    def observe(self, key: SeqKey, tokens: Sequence[int]) -> None:
        if not tokens:
            return
        out = self._outputs.get(key.seq)
        if out is None:
            out = self._outputs[key.seq] = []
            self._evict()
        out.extend(tokens)
        self.global_trie.append(key.seq, tokens)

    def finish(self, key: SeqKey) -> None:
        self.global_trie.close(key.seq)
        self._local.pop(key.seq, None)

    def _local_trie(self, seq: Hashable, context: Sequence[int]) -> object:
        trie, seen = self._local.get(seq, (None, 0))
        if trie is None or seen > len(context):
            trie, seen = self._trie_cls(self.depth), 0
        trie.append(seq, context[seen:])
        self._local[seq] = (trie, len(context))
        return trie

    def _evict(self) -> None:
        while len(self._outputs) > self.max_cached_requests:
            seq, tokens = self._outputs.popitem(last=False)
            self.global_trie.close(seq)
            self.global_trie.remove(tokens)
