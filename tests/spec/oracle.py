"""Brute-force references for the drafters: plain scans over the corpus, no tries."""

from __future__ import annotations

import math
from collections.abc import Sequence


def next_counts(corpus: Sequence[tuple[Sequence[int], float]], pattern: Sequence[int],
                depth: int) -> dict[int, float]:
    """Weighted counts of the token after each occurrence of `pattern` (substrings up to
    `depth` tokens are indexed, so pattern plus one must fit)."""
    counts: dict[int, float] = {}
    n = len(pattern)
    if n + 1 > depth:
        return counts
    pattern = list(pattern)
    for seq, w in corpus:
        seq = list(seq)
        for i in range(len(seq) - n):
            if seq[i:i + n] == pattern:
                counts[seq[i + n]] = counts.get(seq[i + n], 0.0) + w
    return counts


def occurrences(corpus, pattern, depth) -> float:
    """Weighted occurrences of `pattern` (only substrings up to `depth` are indexed)."""
    n = len(pattern)
    if n > depth:
        return 0.0
    pattern = list(pattern)
    return sum(w for seq, w in corpus for i in range(len(seq) - n + 1)
               if list(seq[i:i + n]) == pattern)


def greedy(corpus, pattern, max_tokens, depth, min_prob):
    """Heaviest continuations of `pattern` while the path probability (continuation count
    over pattern occurrences) stays >= min_prob."""
    pattern, tokens, scores, path = list(pattern), [], [], 1.0
    while len(tokens) < max_tokens:
        counts = next_counts(corpus, pattern, depth)
        if not counts:
            break
        t = min(counts, key=lambda x: (-counts[x], x))
        path *= counts[t] / occurrences(corpus, pattern, depth)
        if path < min_prob:
            break
        tokens.append(t)
        scores.append(path)
        pattern.append(t)
    return tokens, scores


def best_over_matches(corpus, context, max_tokens, depth, min_prob=0.0, factor=1.0):
    """SuffixDecoding's search: every match length while it occurs, best score sum, ties to
    the longer match: (tokens, scores, match length)."""
    best, best_score = ([], [], 0), -1.0
    for m in range(1, min(len(context), depth - 1) + 1):
        if occurrences(corpus, context[-m:], depth) == 0:
            break
        tokens, scores = greedy(corpus, context[-m:], min(max_tokens, math.floor(factor * m)),
                                depth, min_prob)
        if sum(scores) >= best_score:
            best, best_score = (tokens, scores, m), sum(scores)
    return best


def tree_draft(corpus, context, max_tokens, depth, min_prob=0.0, factor=None):
    """(draft tokens, path probabilities, match length) by scanning the corpus."""
    if max_tokens <= 0 or not context:
        return [], [], 0
    cap = min(max(1, depth - max_tokens), len(context), depth - 1)
    m = next((n for n in range(cap, 0, -1) if next_counts(corpus, context[-n:], depth)), 0)
    if m == 0:
        return [], [], 0
    if factor is not None:
        max_tokens = min(max_tokens, math.floor(factor * m))
    tokens, scores = greedy(corpus, context[-m:], max_tokens, depth, min_prob)
    return tokens, scores, m


def prompt_lookup(context, max_tokens, min_n, max_n):
    """The tokens after the latest earlier occurrence of the longest matching tail n-gram."""
    ctx = list(context)
    for n in range(min(max_n, len(ctx) - 1), min_n - 1, -1):
        tail = ctx[-n:]
        for i in range(len(ctx) - n - 1, -1, -1):
            if ctx[i:i + n] == tail:
                follow = ctx[i + n:i + n + max_tokens]
                if follow:
                    return follow
                break
    return []
