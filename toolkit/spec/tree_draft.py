"""Drafting from a suffix trie: match the context's longest suffix, then continue it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from toolkit.spec.base import EMPTY, Draft
from toolkit.spec.trie import sampled_draft


def draft_from(trie, context: Sequence[int], max_tokens: int, *,
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
    max_match = max(1, trie.depth - max_tokens)
    if rng is None:
        m, tokens, scores = trie.draft(context, max_match, max_tokens, min_prob,
                                       -1.0 if factor is None else factor)
        return Draft(tuple(tokens), (1.0,) * len(tokens), tuple(scores), None, m) if m else EMPTY
    m, node = trie.match(context, max_match)
    if node is None:
        return EMPTY
    if factor is not None:
        max_tokens = min(max_tokens, math.floor(factor * m))
    tokens, probs, scores, laws = sampled_draft(trie, node, max_tokens, min_prob, rng)
    return Draft(tuple(tokens), tuple(probs), tuple(scores), tuple(laws), m)


def best_over_matches(trie, context: Sequence[int], max_tokens: int, *,
                      min_prob: float = 0.0, factor: float = 1.0) -> Draft:
    """SuffixDecoding's search over every match length (`trie.best_draft`) as a draft."""
    m, tokens, scores = trie.best_draft(context, max_tokens, min_prob, factor)
    return Draft(tuple(tokens), (1.0,) * len(tokens), tuple(scores), None, m) if tokens else EMPTY


def better(a: Draft, b: Draft) -> Draft:
    """The draft with more expected accepted tokens (ties: the first)."""
    return b if b.expected_accepted > a.expected_accepted else a
