"""The radix tree's node and key helpers (see `toolkit.cache.radix`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Key = tuple[int, ...]
EvictCallback = Callable[[Key, int], None]
"""`on_evict(path, num_evicted)`: the last `num_evicted` elements of `path` (the root path of
the evicted leaf, taken before eviction) left the cache; `path[:-num_evicted]` is still there."""

_NO_ENTRY = -1  # RadixNode.heap_ts when the heap holds no entry for the node


def as_key(key: Sequence[int]) -> Key:
    """`key` as a tuple of ints; numpy arrays go through `tolist()` so elements are ints."""
    if type(key) is tuple:
        return key
    tolist = getattr(key, "tolist", None)
    return tuple(tolist()) if tolist is not None else tuple(key)


def common_prefix_len(edge: Key, key: Key, start: int) -> int:
    """Length of the common prefix of `edge` and `key[start:]`, found with slice equality."""
    limit = min(len(edge), len(key) - start)
    if limit <= 0 or key[start] != edge[0]:  # the common case at a branch: no slice copies
        return 0
    if key[start : start + limit] == edge[:limit]:
        return limit
    return first_mismatch(edge, key, start, limit)


_GALLOP_MAX = 32  # widest window of the gallop; wider searches bisect the rest at once


def first_mismatch(edge: Key, key: Key, start: int, limit: int) -> int:
    """Index of the first mismatch of `edge` and `key[start:]`, known to lie below `limit`.

    A near mismatch is found by galloping with small windows; past `_GALLOP_MAX` elements
    the rest is bisected (each step compares one half), so a far mismatch costs about two
    copies of the range rather than galloping's six.
    """
    lo, step = 0, 1
    while step <= _GALLOP_MAX:  # find a window [lo, hi) that holds the first mismatch
        hi = lo + step
        if hi >= limit:
            hi = limit
            break
        if key[start + lo : start + hi] != edge[lo:hi]:
            break
        lo, step = hi, step * 2
    else:
        hi = limit
    while hi - lo > 1:  # invariant: [0, lo) matches, [lo, hi) holds a mismatch
        mid = (lo + hi) // 2
        if key[start + lo : start + mid] == edge[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class RadixNode:
    """A tree node; an opaque handle for callers (read-only attributes)."""

    __slots__ = ("key", "parent", "children", "ref", "num_locks", "last_access", "heap_ts", "alive",
                 "end")

    def __init__(self, key: Key, parent: RadixNode | None, last_access: int) -> None:
        self.key = key  # edge label from the parent; empty only at the root
        self.parent = parent
        self.end = len(key) + (parent.end if parent is not None else 0)  # root-path length
        self.children: dict[int, RadixNode] = {}
        self.ref = 0  # locks on this node and on all its descendants
        self.num_locks = 0  # locks taken on this very handle
        self.last_access = last_access
        self.heap_ts = _NO_ENTRY  # last_access of this node's live heap entry
        self.alive = True

    def __repr__(self) -> str:
        return f"RadixNode(len={len(self.key)}, ref={self.ref}, t={self.last_access})"
