"""Prefix sharing of a set of keys (token ids or block hashes), fast enough for 20k prompts.

Keys are encoded as fixed-width bytes and sorted; the longest common prefix (LCP) of each
key with its sorted neighbours is the longest prefix it shares with any other key, and a
compressed trie (one node per branching or ending depth) is built from the sorted keys and
their LCPs with a stack, as a suffix tree is built from a suffix array. All lengths here
are in key elements (tokens, or blocks for block-hash keys).
"""

from __future__ import annotations

import array
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def encode_keys(keys: Sequence[Sequence[int]]) -> tuple[list[bytes], int]:
    """Fixed-width byte encodings of the keys and the width; byte order groups equal prefixes."""
    for code in ("I", "q", "Q"):
        try:
            enc = [array.array(code, k).tobytes() for k in keys]
        except OverflowError:
            continue
        return enc, array.array(code).itemsize
    raise ValueError("key elements must fit in 64 bits")


def _lcp(a: bytes, b: bytes, width: int) -> int:
    m = min(len(a), len(b))
    if a[:m] == b[:m]:
        return m // width
    x = np.frombuffer(a, np.uint8, m)
    y = np.frombuffer(b, np.uint8, m)
    return int(np.argmax(x != y)) // width


def sorted_lcps(keys: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(order, lcp): keys sorted (indices), and lcp[t] = LCP(sorted t-1, sorted t), lcp[0] = 0."""
    enc, width = encode_keys(keys)
    order = sorted(range(len(enc)), key=enc.__getitem__)
    lcp = np.zeros(len(enc), dtype=np.int64)
    for t in range(1, len(order)):
        lcp[t] = _lcp(enc[order[t - 1]], enc[order[t]], width)
    return np.asarray(order, dtype=np.int64), lcp


def shared_with_any(order: np.ndarray, lcp: np.ndarray) -> np.ndarray:
    """Per key (original index): the longest prefix it shares with any other key."""
    best_sorted = np.maximum(lcp, np.append(lcp[1:], 0))
    out = np.zeros(len(order), dtype=np.int64)
    out[order] = best_sorted
    return out


def shared_with_earlier(order: np.ndarray, lcp: np.ndarray) -> np.ndarray:
    """Per key: the longest prefix it shares with any key of lower index (earlier arrival),
    i.e. its hit in an infinite prefix cache that saw the earlier keys."""
    n = len(order)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    table = _sparse_min(lcp)
    out = np.zeros(n, dtype=np.int64)
    seen: list[int] = []
    for i, p in enumerate(pos.tolist()):
        j = bisect_left(seen, p)
        best = 0
        if j > 0:
            best = _range_min(table, seen[j - 1] + 1, p)
        if j < len(seen):
            best = max(best, _range_min(table, p + 1, seen[j]))
        out[i] = best
        insort(seen, p)
    return out


def _sparse_min(values: np.ndarray) -> list[list[int]]:
    levels = [values.tolist()]
    cur = values
    span = 1
    while 2 * span <= len(values):
        cur = np.minimum(cur[:-span], cur[span:])
        levels.append(cur.tolist())
        span *= 2
    return levels


def _range_min(table: list[list[int]], lo: int, hi: int) -> int:
    """Minimum of values[lo..hi] (inclusive)."""
    k = (hi - lo + 1).bit_length() - 1
    return min(table[k][lo], table[k][hi - (1 << k) + 1])


@dataclass
class PrefixTree:
    """A compressed trie of keys: node depths (elements), parents, keys through each node,
    and for every key the node where it ends and its key-portion node."""

    depth: np.ndarray
    parent: np.ndarray
    count: np.ndarray
    end_node: np.ndarray
    key_node: np.ndarray

    @classmethod
    def build(cls, order: np.ndarray, lcp: np.ndarray, lengths: Sequence[int]) -> PrefixTree:
        """Build from `sorted_lcps` output and the key lengths (by original index)."""
        depth, parent, end = _build_nodes(order.tolist(), lcp.tolist(), lengths)
        depth_a = np.asarray(depth, dtype=np.int64)
        parent_a = np.asarray(parent, dtype=np.int64)
        count = np.bincount(np.asarray(end, dtype=np.int64), minlength=len(depth))
        by_depth = np.argsort(depth_a, kind="stable")
        for v in by_depth[::-1].tolist():
            if parent[v] >= 0:
                count[parent[v]] += count[v]
        key = np.full(len(depth), -1, dtype=np.int64)
        for v in by_depth.tolist():
            p = parent[v]
            if p >= 0:
                key[v] = v if depth[v] > 2 * depth[p] else key[p]
        end_a = np.asarray(end, dtype=np.int64)
        return cls(depth_a, parent_a, count, end_a, key[end_a])


def _build_nodes(
    order: list[int], lcp: list[int], lengths: Sequence[int]
) -> tuple[list[int], list[int], list[int]]:
    depth, parent = [0], [-1]
    end = [0] * len(order)
    stack = [0]
    for t, k in enumerate(order):
        h = lcp[t]
        last = -1
        while depth[stack[-1]] > h:
            last = stack.pop()
        if depth[stack[-1]] < h:
            depth.append(h)
            parent.append(stack[-1])
            if last >= 0:
                parent[last] = len(depth) - 1
            stack.append(len(depth) - 1)
        if lengths[k] > h:
            depth.append(lengths[k])
            parent.append(stack[-1])
            stack.append(len(depth) - 1)
        end[k] = stack[-1]
    return depth, parent, end
