"""A depth-bounded suffix trie over token streams, built online.

Every substring of length <= `depth` of the inserted streams is a path from the root; a
node's weight `w` is the summed weight of that substring's occurrences (as in Snowflake's
ArcticInference suffix tree, an occurrence at a stream's end counts, so a node's children
weigh at most what it weighs: P(next = t | substring) = w(child t) / w(node)). Several
streams grow at once (the G samples of one problem): each keeps the nodes its current
suffixes end at, so appending a token costs O(depth) dictionary steps. Weights only grow
while a trie lives, so each node keeps its heaviest child (ties: the smaller token id) as
it is updated and a greedy draft costs O(1) per token. `remove` takes a sequence back
(SuffixDecoding's eviction); DAS's window builds a new trie instead.

Two implementations share one interface: `PySuffixTrie` here and the C++ one
(`toolkit/spec/native/trie.cpp`, built by `pip install -e .` where a compiler is found).
They agree bit for bit; nodes are opaque handles (a `Node` here, an int there).
`SuffixTrie` is the C++ one where it is built, else the Python one; `trie_class(impl)`
picks one by name.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


class Node:
    """One substring: its weight, its children, its heaviest child."""

    __slots__ = ("w", "kids", "best")

    def __init__(self) -> None:
        self.w = 0.0
        self.kids: dict[int, Node] = {}
        self.best = -1


class PySuffixTrie:
    """All substrings of length <= `depth` of the streams appended to it, weighted."""

    def __init__(self, depth: int) -> None:
        if depth < 2:
            raise ValueError(f"SuffixTrie: depth must be >= 2, got {depth}")
        self.depth = depth
        self.root = Node()
        self.num_tokens = 0
        self._open: dict[Hashable, list[Node]] = {}

    def append(self, stream: Hashable, tokens: Sequence[int], weight: float = 1.0) -> None:
        """Extend `stream` by `tokens`; each new substring occurrence adds `weight`."""
        ends = self._open.get(stream, [])
        keep = self.depth - 1
        for t in tokens:
            nxt = []
            for node in (self.root, *ends):
                kid = node.kids.get(t)
                if kid is None:
                    kid = node.kids[t] = Node()
                kid.w += weight
                b = node.best
                if b != t and (b < 0 or kid.w > node.kids[b].w
                               or (kid.w == node.kids[b].w and t < b)):
                    node.best = t
                nxt.append(kid)
            ends = nxt[:keep]
        self._open[stream] = ends
        self.num_tokens += len(tokens)

    def close(self, stream: Hashable) -> None:
        """`stream` ended: a later append with the same name starts a new one."""
        self._open.pop(stream, None)

    def close_all(self) -> None:
        """Every stream ended."""
        self._open.clear()

    def insert(self, tokens: Sequence[int], weight: float = 1.0) -> None:
        """Add one whole sequence."""
        marker = object()
        self.append(marker, tokens, weight)
        self.close(marker)

    def walk(self, tokens: Sequence[int]) -> Node | None:
        """The node of `tokens` as a substring, or None when it never occurred."""
        node = self.root
        for t in tokens:
            node = node.kids.get(t)
            if node is None:
                return None
        return node

    def match(self, context: Sequence[int], max_len: int) -> tuple[int, Node | None]:
        """The longest suffix of `context`, at most `max_len` tokens, that occurred with a
        token after it: (its length, its node); (0, None) when there is none.

        Having a continuation is monotone in the suffix's length (a shorter suffix of a
        substring occurs wherever the longer one does), so a binary search finds it, after
        one try of the longest (a context that follows a stored sequence matches in full)."""
        lo, hi, found = 0, min(max_len, len(context), self.depth - 1), None
        n = len(context)
        if hi > 0:
            node = self.walk(context[n - hi:])
            if node is not None and node.kids:
                return hi, node
            hi -= 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            node = self.walk(context[n - mid:])
            if node is not None and node.kids:
                lo, found = mid, node
            else:
                hi = mid - 1
        return lo, found

    def remove(self, tokens: Sequence[int], weight: float = 1.0) -> None:
        """Take back one whole sequence added with `insert(tokens, weight)`. Exact only for
        weights that add and subtract exactly (unit weights); emptied nodes are pruned."""
        for i in range(len(tokens)):
            self._remove_path(tokens[i:i + self.depth], weight)
        self.num_tokens -= len(tokens)

    def _remove_path(self, path: Sequence[int], weight: float) -> None:
        node = self.root
        for t in path:
            kid = node.kids.get(t)
            if kid is None:
                raise KeyError(f"SuffixTrie.remove: {list(path)} was never inserted")
            kid.w -= weight
            if kid.w <= 0:
                del node.kids[t]
            if node.best == t or kid.w <= 0:
                node.best = heaviest(node)
            if kid.w <= 0:
                return
            node = kid

    def draft(self, context: Sequence[int], max_match: int, max_tokens: int, min_prob: float,
              factor: float) -> tuple[int, list[int], list[float]]:
        """Greedy draft after the longest match of at most `max_match` tokens: (match
        length, tokens, path probabilities); `factor` >= 0 caps the draft at
        floor(factor x match length) tokens, a negative one caps nothing."""
        m, node = self.match(context, max_match)
        if node is None:
            return 0, [], []
        if factor >= 0:
            max_tokens = min(max_tokens, math.floor(factor * m))
        return (m, *greedy_draft(node, max_tokens, min_prob))

    def best_draft(self, context: Sequence[int], max_tokens: int, min_prob: float,
                   factor: float) -> tuple[int, list[int], list[float]]:
        """SuffixDecoding's search (as ArcticInference runs it): for every match length m
        from 1 up, while the context's last m tokens occur, a greedy draft of up to
        `min(max_tokens, floor(factor * m))` tokens; the one with the largest sum of path
        probabilities wins (ties: the longer match). (0, [], []) when no draft has a token."""
        best: tuple[int, list[int], list[float]] = (0, [], [])
        best_score = -1.0
        n = len(context)
        for m in range(1, min(n, self.depth - 1) + 1):
            node = self.walk(context[n - m:])
            if node is None:
                break
            tokens, scores = greedy_draft(node, min(max_tokens, math.floor(factor * m)), min_prob)
            score = 0.0
            for x in scores:  # left to right, as the C++ trie adds them
                score += x
            if score >= best_score:
                best_score, best = score, (m, tokens, scores)
        return best if best[1] else (0, [], [])

    def children(self, node: Node) -> list[tuple[int, float, Node]]:
        """(token, weight, child) of each child of `node`, in insertion order."""
        return [(t, kid.w, kid) for t, kid in node.kids.items()]

    def weight(self, node: Node) -> float:
        return node.w

    def best(self, node: Node) -> int:
        """The heaviest child's token (ties: the smaller id); -1 when none."""
        return node.best


def heaviest(node: Node) -> int:
    """The child token with the largest weight (ties: the smaller id); -1 when none."""
    if not node.kids:
        return -1
    return min(node.kids.items(), key=lambda kv: (-kv[1].w, kv[0]))[0]


def greedy_draft(node: Node, max_tokens: int, min_prob: float) -> tuple[list[int], list[float]]:
    """Follow the heaviest child from `node` while the path's frequency-estimated
    probability (the product of each step's child weight over its node's weight) stays at
    least `min_prob`: (tokens, path probability after each token)."""
    tokens: list[int] = []
    scores: list[float] = []
    path = 1.0
    while len(tokens) < max_tokens and node.kids:
        kid = node.kids[node.best]
        path *= kid.w / node.w
        if path < min_prob:
            break
        tokens.append(node.best)
        scores.append(path)
        node = kid
    return tokens, scores


def sampled_draft(trie, node, max_tokens: int, min_prob: float, rng) -> tuple[
        list[int], list[float], list[float], list[dict[int, float]]]:
    """Draw each draft token from the children of `node` in `trie` (either implementation)
    in proportion to their weights (`rng.random()` in [0, 1)); stop once the path
    probability of the drawn tokens (child over node weight, as in `greedy_draft`) falls
    below `min_prob`: (tokens, proposal probabilities, path probabilities, laws)."""
    tokens: list[int] = []
    probs: list[float] = []
    scores: list[float] = []
    laws: list[dict[int, float]] = []
    path = 1.0
    while len(tokens) < max_tokens:
        kids = trie.children(node)
        if not kids:
            break
        total = sum(w for _, w, _ in kids)
        law = {t: w / total for t, w, _ in sorted(kids, key=lambda k: k[0])}
        u, acc, pick = rng.random(), 0.0, None
        for t, p in law.items():
            acc += p
            if u < acc:
                pick = t
                break
        if pick is None:
            pick = next(reversed(law))
        kid, kid_w = next((k, w) for t, w, k in kids if t == pick)
        path *= kid_w / trie.weight(node)
        if path < min_prob:
            break
        tokens.append(pick)
        probs.append(law[pick])
        scores.append(path)
        laws.append(law)
        node = kid
    return tokens, probs, scores, laws


try:
    from toolkit.spec._ctrie import SuffixTrie as CSuffixTrie
except ImportError:  # not built (no compiler at install): the Python trie gives the same drafts
    CSuffixTrie = None

SuffixTrie = CSuffixTrie or PySuffixTrie


def trie_class(impl: str = "auto") -> type:
    """The trie implementation `impl` names: "native" (C++), "python", or "auto" (C++ where
    it is built)."""
    if impl == "auto":
        return SuffixTrie
    if impl == "python":
        return PySuffixTrie
    if impl == "native":
        if CSuffixTrie is None:
            raise ImportError("trie='native': toolkit.spec._ctrie is not built (run "
                              "`pip install -e .` with a C++ compiler, or use trie=auto)")
        return CSuffixTrie
    raise ValueError(f"trie must be 'auto', 'native' or 'python', got {impl!r}")
