"""Token-level radix (compressed prefix) tree: the toolkit's reference `PrefixCache`.

Each node holds the tuple of key elements on the edge from its parent; children are keyed by
the first element of their edge. Keys are compared with tuple-slice equality, so the
per-element work runs in C; a mismatch inside an edge is located by galloping and then
binary search over slice equality. Eviction pops least recently used unlocked leaves from a
heap with lazy deletion: an entry `(last_access, seq, node)` is valid only while the node is
alive, a leaf, unlocked and not touched since it was pushed.

Node handles stay valid across splits: a split inserts a new node *above* the split node, so
a locked handle's root path never changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter

from toolkit.cache.base import InsertResult, MatchResult, PrefixCache, SizeInfo
from toolkit.cache.radix_node import (  # noqa: F401 - also importable from here
    _NO_ENTRY,
    EvictCallback,
    Key,
    RadixNode,
    as_key,
    common_prefix_len,
    first_mismatch,
)


class RadixCache(PrefixCache):
    """Radix-tree prefix cache with reference-counted locks and LRU leaf eviction.

    `on_evict`, if given, is called after each leaf (or leaf tail) is evicted; see
    `EvictCallback`. Building the path costs O(depth), paid only when a callback is set.
    """

    def __init__(self, on_evict: EvictCallback | None = None) -> None:
        self.on_evict = on_evict
        self._clear()

    def _clear(self) -> None:
        self._root = RadixNode((), None, 0)
        self._heap: list[tuple[int, int, RadixNode]] = []
        self._clock = self._seq = self._num_nodes = 0
        self._evictable = self._protected = 0

    @property
    def root(self) -> RadixNode:
        return self._root

    @property
    def num_nodes(self) -> int:
        """Number of non-root nodes."""
        return self._num_nodes

    def match(self, key: Sequence[int]) -> MatchResult:
        """Longest cached prefix of `key`; splits the node the match ends inside, so the
        returned node's root path is exactly the matched prefix; touches that path (LRU)."""
        pos, node = self._descend(as_key(key))
        self._push_if_evictable(node)
        return MatchResult(pos, node)

    def rematch_many(self, items: list[tuple[Key, MatchResult | None]]) -> list[MatchResult]:
        """`match` each key in turn, given `prev`, an earlier `match` result of it (or None).

        Where `prev.node` is alive, still ends exactly `prev.length` elements down and holds
        no continuation of the key, the match cannot have changed: the result is `prev`, and
        the path is stamped walking up from the node instead of comparing the key down from
        the root. Paths of unchanged matches are stamped once per end node, with the time of
        its last match, before any full match runs: the state sequential matches leave,
        except for heap entries that would have gone stale at once.
        """
        out: list[MatchResult] = []
        pending: dict[RadixNode, int] = {}  # end node -> time of its latest match
        clock = self._clock
        for key, prev in items:
            if prev is not None:
                length, node = prev
                if node.alive and node.end == length and (
                        length == len(key) or key[length] not in node.children):
                    clock += 1
                    pending[node] = clock
                    out.append(prev)
                    continue
            self._clock = clock
            if pending:
                self._stamp_paths(pending)
                pending = {}
            out.append(self.match(key))
            clock = self._clock
        self._clock = clock
        if pending:
            self._stamp_paths(pending)
        return out

    def _stamp_paths(self, stamps: dict[RadixNode, int]) -> None:
        """Stamp each node's root path with its time, in time order (so later times win)."""
        for node, ts in sorted(stamps.items(), key=itemgetter(1)):
            cur = node
            while cur is not None:
                cur.last_access = ts
                cur = cur.parent
            if node.ref == 0 and not node.children and node.parent is not None:
                self._push(node)

    def match_len(self, key: Sequence[int]) -> int:
        """Length of the longest cached prefix of `key`; changes nothing (no split, no LRU)."""
        key = as_key(key)
        node, pos, n = self._root, 0, len(key)
        while pos < n:
            child = node.children.get(key[pos])
            if child is None:
                break
            edge = child.key
            end = pos + len(edge)
            if key[pos:end] != edge:  # a mismatch inside the edge, or the key ends in it
                if end <= n:
                    return pos + first_mismatch(edge, key, pos, len(edge))
                return pos + common_prefix_len(edge, key, pos)
            node, pos = child, end
        return pos

    def insert(self, key: Sequence[int]) -> InsertResult:
        """Cache all of `key`; return the length already cached and the node ending `key`
        (split if `key` ends inside one). The whole path becomes most recently used."""
        key = as_key(key)
        pos, node = self._descend(key)
        if pos < len(key):
            leaf = RadixNode(key[pos:], node, self._clock)
            node.children[key[pos]] = leaf
            self._evictable += len(leaf.key)
            self._num_nodes += 1
            node = leaf
        self._push_if_evictable(node)
        return InsertResult(pos, node)

    def _descend(self, key: Key) -> tuple[int, RadixNode]:
        """Walk `key` down from the root, splitting where the match ends inside a node and
        stamping every node on the matched path with a fresh logical time."""
        self._clock += 1
        ts = self._clock
        node, pos, n = self._root, 0, len(key)
        node.last_access = ts
        while pos < n:
            child = node.children.get(key[pos])
            if child is None:
                break
            edge = child.key
            end = pos + len(edge)
            if key[pos:end] == edge:
                node, pos = child, end
                node.last_access = ts
                continue
            # a mismatch inside the edge (the whole edge was compared), or the key ends in it
            if end <= n:
                matched = first_mismatch(edge, key, pos, len(edge))
            else:
                matched = common_prefix_len(edge, key, pos)
            node = self._split(child, matched)
            node.last_access = ts
            pos += matched
            break
        return pos, node

    def _split(self, node: RadixNode, at: int) -> RadixNode:
        """Insert a new parent above `node` holding `node.key[:at]`; return it."""
        parent = node.parent
        assert parent is not None and 0 < at < len(node.key)
        upper = RadixNode(node.key[:at], parent, node.last_access)  # end = parent.end + at
        upper.ref = node.ref
        node.key = node.key[at:]
        node.parent = upper
        upper.children[node.key[0]] = node
        parent.children[upper.key[0]] = upper
        self._num_nodes += 1
        return upper

    def path_key(self, node: RadixNode) -> Key:
        """The key elements on the root path of `node`."""
        parts = []
        while node is not None:
            parts.append(node.key)
            node = node.parent
        return tuple(chain.from_iterable(reversed(parts)))

    def lock(self, node: RadixNode) -> None:
        """Add one reference to every node from `node` to the root; a referenced node is
        protected (its size moves from evictable to protected). Raises on an evicted node."""
        if not node.alive:
            raise ValueError("cannot lock an evicted node")
        node.num_locks += 1
        moved = 0
        cur: RadixNode | None = node
        while cur is not None:
            if cur.ref == 0:
                moved += len(cur.key)
            cur.ref += 1
            cur = cur.parent
        self._evictable -= moved
        self._protected += moved

    def unlock(self, node: RadixNode) -> None:
        """Undo one `lock(node)`; raises ValueError if `node` itself holds no lock."""
        if node.num_locks <= 0:
            raise ValueError("unlock of a node that holds no lock")
        node.num_locks -= 1
        moved = 0
        cur: RadixNode | None = node
        while cur is not None:
            cur.ref -= 1
            if cur.ref == 0:
                moved += len(cur.key)
                if not cur.children and cur.parent is not None:
                    self._push(cur)
            cur = cur.parent
        self._evictable += moved
        self._protected -= moved

    def evict(self, num: int) -> int:
        """Evict `num` elements, or all evictable ones if fewer, from unlocked leaves in LRU
        order (a parent becomes a leaf once its children are gone); the last leaf may lose
        only its tail. Returns the number evicted, which never exceeds `num`."""
        evicted = 0
        heap = self._heap
        while evicted < num and heap:
            ts, _, node = heapq.heappop(heap)
            if node.heap_ts == ts:
                node.heap_ts = _NO_ENTRY
            if not node.alive or node.children or node.ref or node.last_access != ts:
                continue  # stale entry
            evicted += self._evict_leaf(node, num - evicted)
        return evicted

    def _evict_leaf(self, node: RadixNode, need: int) -> int:
        """Remove `node` (an unlocked leaf), or only its last `need` elements if shorter."""
        path = self.path_key(node) if self.on_evict is not None else ()
        size = len(node.key)
        if size > need:
            node.key = node.key[: size - need]
            node.end -= need
            count = need
            self._push(node)
        else:
            parent = node.parent
            assert parent is not None
            del parent.children[node.key[0]]
            node.alive = False
            count = size
            self._num_nodes -= 1
            self._push_if_evictable(parent)
        self._evictable -= count
        if self.on_evict is not None:
            self.on_evict(path, count)
        return count

    def _push_if_evictable(self, node: RadixNode) -> None:
        if node.ref == 0 and not node.children and node.parent is not None:
            self._push(node)

    def _push(self, node: RadixNode) -> None:
        """Give an evictable leaf a heap entry unless it already has a current one."""
        if node.heap_ts == node.last_access:
            return
        node.heap_ts = node.last_access
        self._seq += 1
        heapq.heappush(self._heap, (node.last_access, self._seq, node))
        if len(self._heap) > 2 * self._num_nodes + 1024:
            self._rebuild_heap()

    def _rebuild_heap(self) -> None:
        """Drop stale entries: one entry per evictable leaf, in the old (time, seq) order."""
        for node in self._iter_nodes():
            node.heap_ts = _NO_ENTRY
        self._heap.clear()  # in place: evict() holds a reference
        for node in sorted(self.iter_leaves(), key=lambda n: n.last_access):
            if node.ref == 0:
                self._push(node)

    def size_info(self) -> SizeInfo:
        """Evictable and protected element counts (O(1))."""
        return SizeInfo(self._evictable, self._protected)

    @property
    def total_size(self) -> int:
        return self._evictable + self._protected

    @property
    def evictable_size(self) -> int:
        return self._evictable

    def iter_leaves(self) -> list[RadixNode]:
        """Every leaf (non-root node without children), in a deterministic order."""
        return [n for n in self._iter_nodes() if not n.children and n is not self._root]

    def _iter_nodes(self) -> list[RadixNode]:
        nodes, stack = [], [self._root]
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(node.children.values())
        return nodes

    def check_integrity(self) -> None:
        """Recompute sizes, reference counts, tree shape and heap coverage; assert."""
        root = self._root
        assert root.key == () and root.parent is None and root.alive
        live = {(ts, id(node)) for ts, _, node in self._heap}
        evictable = protected = num_nodes = 0
        for node in self._iter_nodes():
            child_refs = 0
            for first, child in node.children.items():
                assert child.key and child.key[0] == first, "child keyed by its first element"
                assert child.parent is node and child.alive
                assert child.last_access <= node.last_access, "parent at least as recent"
                assert child.end == node.end + len(child.key), "root-path length"
                child_refs += child.ref
            assert node.num_locks >= 0 and node.ref == node.num_locks + child_refs
            assert node.last_access <= self._clock
            if node is root:
                continue
            num_nodes += 1
            if node.ref:
                protected += len(node.key)
            else:
                evictable += len(node.key)
                if not node.children:
                    assert node.heap_ts == node.last_access, "evictable leaf has no entry"
                    assert (node.heap_ts, id(node)) in live
        assert (evictable, protected) == (self._evictable, self._protected), (
            (evictable, protected),
            (self._evictable, self._protected),
        )
        assert num_nodes == self._num_nodes

    def reset(self) -> None:
        """Drop everything; raises RuntimeError while any lock is held. Old handles die."""
        if self._root.ref:
            raise RuntimeError("reset with locks held")
        for node in self._iter_nodes():
            node.alive = False
        self._clear()
