"""An approximate per-worker radix tree for the SGLang-style cache-aware router.

It remembers the keys a router sent to one worker (not what the worker really caches),
counts its size in key elements and evicts least-recently-inserted leaves when it grows
past a limit. Access times come from a logical clock, so runs are deterministic.
"""

from __future__ import annotations

import heapq
import itertools

from toolkit.route.prefix import common_prefix_len


class _Node:
    __slots__ = ("key", "parent", "children", "last", "uid")

    def __init__(self, key: tuple[int, ...], parent: _Node | None, uid: int) -> None:
        self.key = key
        self.parent = parent
        self.children: dict[int, _Node] = {}
        self.last = 0
        self.uid = uid


class ApproxRadixTree:
    """Keys routed to one worker: longest-prefix match, insert, LRU eviction by size."""

    def __init__(self) -> None:
        self._uids = itertools.count()
        self.root = _Node((), None, next(self._uids))
        self.size = 0  # key elements stored
        self.clock = 0

    def match(self, key: tuple[int, ...]) -> int:
        """Length of the longest prefix of `key` stored in the tree."""
        node, pos = self.root, 0
        while pos < len(key):
            child = node.children.get(key[pos])
            if child is None:
                break
            n = common_prefix_len(key, pos, child.key)
            pos += n
            if n < len(child.key):
                break
            node = child
        return pos

    def insert(self, key: tuple[int, ...]) -> None:
        """Store `key`; its whole path becomes the most recently used."""
        self.clock += 1
        node, pos = self.root, 0
        while pos < len(key):
            child = node.children.get(key[pos])
            if child is None:
                leaf = _Node(key[pos:], node, next(self._uids))
                leaf.last = self.clock
                node.children[key[pos]] = leaf
                self.size += len(leaf.key)
                return
            n = common_prefix_len(key, pos, child.key)
            if n < len(child.key):
                child = self._split(child, n)
            child.last = self.clock
            pos += n
            node = child

    def _split(self, node: _Node, offset: int) -> _Node:
        up = _Node(node.key[:offset], node.parent, next(self._uids))
        up.last = node.last
        node.parent.children[node.key[0]] = up  # type: ignore[union-attr]
        node.key, node.parent = node.key[offset:], up
        up.children[node.key[0]] = node
        return up

    def evict_to(self, max_size: int) -> None:
        """Remove least recently used leaves until at most `max_size` elements remain."""
        if self.size <= max_size:
            return
        heap = [(n.last, n.uid, n) for n in self._leaves()]
        heapq.heapify(heap)
        while self.size > max_size and heap:
            _, _, leaf = heapq.heappop(heap)
            parent = leaf.parent
            del parent.children[leaf.key[0]]  # type: ignore[union-attr]
            self.size -= len(leaf.key)
            if parent is not self.root and not parent.children:  # type: ignore[union-attr]
                heapq.heappush(heap, (parent.last, parent.uid, parent))  # type: ignore[union-attr]

    def _leaves(self) -> list[_Node]:
        out, stack = [], list(self.root.children.values())
        while stack:
            n = stack.pop()
            if n.children:
                stack.extend(n.children.values())
            else:
                out.append(n)
        return out
