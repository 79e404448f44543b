"""Drafting from a suffix trie: match the context's longest suffix, then continue it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from toolkit.spec.base import EMPTY, Draft
from toolkit.spec.trie import SuffixTrie, greedy_draft, sampled_draft


def draft_from(trie: SuffixTrie, context: Sequence[int], max_tokens: int, *,
               min_prob: float = 0.0, factor: float | None = None,
               rng: random.Random | None = None) -> Draft:
    """A draft continuing the longest suffix of `context` seen in `trie`.

    The trie holds substrings up to `trie.depth` tokens, so match plus draft fit in it:
    the match is capped at `depth - max_tokens` tokens (at least 1) so that a full draft
    stays possible. `factor` caps the draft at `floor(factor * match length)` tokens
    (SuffixDecoding's `max_spec_factor`); `min_prob` stops it once the path's estimated
    probability falls below it. With `rng` the tokens are drawn from the continuation
    frequencies (a random proposal, whose law goes with the draft); without, the heaviest
    continuation is taken (probability 1 under the proposal)."""
    if max_tokens <= 0 or not context:
        return EMPTY
    m, node = trie.match(context, max(1, trie.depth - max_tokens))
    if node is None:
        return EMPTY
    if factor is not None:
        max_tokens = min(max_tokens, math.floor(factor * m))
    if rng is None:
        tokens, scores = greedy_draft(node, max_tokens, min_prob)
        return Draft(tuple(tokens), (1.0,) * len(tokens), tuple(scores), None, m)
    tokens, probs, scores, laws = sampled_draft(node, max_tokens, min_prob, rng)
    return Draft(tuple(tokens), tuple(probs), tuple(scores), tuple(laws), m)


def best_over_matches(trie: SuffixTrie, context: Sequence[int], max_tokens: int, *,
                      min_prob: float = 0.0, factor: float = 1.0) -> Draft:
    """SuffixDecoding's search (as ArcticInference runs it): for every match length m
    from 1 up, while the context's last m tokens occur, draft greedily up to
    `min(max_tokens, floor(factor * m))` tokens; keep the draft with the largest sum of
    path probabilities (ties: the longer match)."""
    best, best_score = EMPTY, -1.0
    n = len(context)
    for m in range(1, min(n, trie.depth - 1) + 1):
        node = trie.walk(context[n - m:])
        if node is None:
            break
        tokens, scores = greedy_draft(node, min(max_tokens, math.floor(factor * m)), min_prob)
        score = sum(scores)
        if score >= best_score:
            best_score = score
            best = Draft(tuple(tokens), (1.0,) * len(tokens), tuple(scores), None, m)
    return best if best.tokens else EMPTY


def better(a: Draft, b: Draft) -> Draft:
    """The draft with more expected accepted tokens (ties: the first)."""
    return b if b.expected_accepted > a.expected_accepted else a
