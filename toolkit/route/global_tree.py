"""Preble's global radix tree: every routed key, with per-node per-GPU statistics.

Lengths are in key elements (tokens, or blocks for block-hash traces); `tokens_per_key`
converts. A node's statistics cover every window request whose key passes through it, so a
node's numbers are those of its whole subtree. A split keeps the old node object as the
*lower* part, so a request's leaf (the node its key ends at) never changes identity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import NamedTuple

from toolkit.route.prefix import common_prefix_len
from toolkit.route.ttft_window import TtftWindow


class GlobalNode:
    """One edge of the global tree and the statistics of the requests through it."""

    __slots__ = (
        "key", "parent", "children", "ctx", "refs", "alloc", "cnt", "cnt_gpu", "load",
        "hit_tokens", "prompt_tokens", "last_access_s", "cached_on", "records", "ttft",
        "pf_s",
    )

    def __init__(self, key: tuple[int, ...], parent: GlobalNode | None, ctx: int) -> None:
        self.key = key
        self.parent = parent
        self.children: dict[int, GlobalNode] = {}
        self.ctx = ctx  # key elements above this node
        self.refs: dict[int, int] = {}  # gpu -> in-flight requests through it (no zeros)
        self.alloc: set[int] = set()  # GPUs routing sends this prefix to
        self.cnt = 0  # window requests through the node
        self.cnt_gpu: dict[int, int] = {}  # gpu -> window requests through the node
        self.load: dict[int, float] = {}  # gpu -> Σ prefill seconds of those requests
        self.hit_tokens = 0
        self.prompt_tokens = 0
        self.last_access_s = 0.0
        self.cached_on: set[int] = set()  # GPUs whose (virtual) cache holds the node
        self.records: deque = deque()  # window records whose key ends here (time order)
        self.ttft: dict[int, TtftWindow] = {}  # gpu -> first-token samples (key portions)
        self.pf_s = -1.0  # memo of the node's own prefill seconds; < 0 = unknown

    @property
    def end(self) -> int:
        """Key elements from the root through this node."""
        return self.ctx + len(self.key)

    @property
    def is_large(self) -> bool:
        """Preble's 'important' node: its own length exceeds the elements above it."""
        return len(self.key) > self.ctx

    @property
    def miss_rate(self) -> float:
        """1 − hit tokens / prompt tokens over the window requests through the node."""
        return 1.0 - self.hit_tokens / self.prompt_tokens if self.prompt_tokens else 1.0

    def in_use(self) -> bool:
        """Whether the node must stay: children, window history, in-flight or cached."""
        return bool(self.children or self.cnt or self.cached_on or self.refs)


class TreeMatch(NamedTuple):
    """`matched` key elements; `nodes` are the touched nodes root-down (the last one may be
    matched only for its first `last_len` elements)."""

    matched: int
    nodes: list[GlobalNode]
    last_len: int


class GlobalRadixTree:
    """The radix tree itself: match, insert (with splits), prune, integrity check."""

    def __init__(self, on_split: Callable[[GlobalNode, GlobalNode], None] | None = None) -> None:
        self.root = GlobalNode((), None, 0)
        self.num_nodes = 0
        self.on_split = on_split  # called as on_split(upper, lower) after each split

    def match(self, key: tuple[int, ...]) -> TreeMatch:
        """Longest prefix of `key` in the tree; the tree is not changed."""
        node, pos, nodes, last_len = self.root, 0, [], 0
        while pos < len(key):
            child = node.children.get(key[pos])
            if child is None:
                break
            n = common_prefix_len(key, pos, child.key)
            nodes.append(child)
            pos += n
            if n < len(child.key):
                last_len = n
                break
            node = child
        if nodes and last_len == 0:
            last_len = len(nodes[-1].key)
        return TreeMatch(pos, nodes, last_len)

    def insert(self, key: tuple[int, ...], m: TreeMatch) -> GlobalNode:
        """Add `key` given its fresh match `m`; return its leaf (the node it ends at)."""
        parent = self.root
        if m.nodes:
            parent = m.nodes[-1]
            if m.last_len < len(parent.key):
                parent = self.split(parent, m.last_len)
        if m.matched == len(key):
            return parent
        leaf = GlobalNode(key[m.matched :], parent, m.matched)
        parent.children[key[m.matched]] = leaf
        self.num_nodes += 1
        return leaf

    def split(self, node: GlobalNode, offset: int) -> GlobalNode:
        """Cut `node` after `offset` elements; return the new upper node (stats copied)."""
        up = GlobalNode(node.key[:offset], node.parent, node.ctx)
        for name in ("refs", "cnt_gpu", "load"):
            setattr(up, name, dict(getattr(node, name)))
        up.alloc, up.cached_on = set(node.alloc), set(node.cached_on)
        up.ttft = {g: w.copy() for g, w in node.ttft.items()}
        up.cnt, up.hit_tokens, up.prompt_tokens = node.cnt, node.hit_tokens, node.prompt_tokens
        up.last_access_s = node.last_access_s
        node.parent.children[node.key[0]] = up  # type: ignore[union-attr]
        node.key, node.ctx, node.parent, node.pf_s = node.key[offset:], node.ctx + offset, up, -1.0
        up.children[node.key[0]] = node
        self.num_nodes += 1
        if self.on_split is not None:
            self.on_split(up, node)
        return up

    def prune(self, node: GlobalNode) -> None:
        """Remove `node` and then its ancestors while they are no longer in use."""
        while node is not self.root and not node.in_use():
            parent = node.parent
            del parent.children[node.key[0]]  # type: ignore[union-attr]
            node.parent = None
            self.num_nodes -= 1
            node = parent  # type: ignore[assignment]

    @staticmethod
    def path_up(leaf: GlobalNode) -> Iterator[GlobalNode]:
        """`leaf` and its ancestors, leaf first, root excluded."""
        node: GlobalNode | None = leaf
        while node is not None and node.parent is not None:
            yield node
            node = node.parent

    @staticmethod
    def key_portion(node: GlobalNode) -> GlobalNode:
        """Nearest large ancestor-or-self (a child of the root is always large)."""
        while not node.is_large and node.parent is not None and node.parent.parent is not None:
            node = node.parent
        return node

    def nodes(self) -> Iterator[GlobalNode]:
        """Every node but the root, depth first (for tests and integrity checks)."""
        stack = list(self.root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def check_integrity(self) -> None:
        """Raise AssertionError if structure or subtree statistics are inconsistent."""
        count = 0
        for node in self.nodes():
            count += 1
            assert node.key and node.parent is not None
            assert node.parent.children[node.key[0]] is node
            assert node.ctx == node.parent.end
            below = sum(c.cnt for c in node.children.values()) + len(node.records)
            assert node.cnt == below, (node.cnt, below)
            assert sum(node.cnt_gpu.values()) == node.cnt and min(node.cnt_gpu.values(), default=1) > 0
            assert all(v > 0 for v in node.refs.values())
            assert node.cnt >= 1 or not node.alloc, "a node without window history is allocated"
        assert count == self.num_nodes, (count, self.num_nodes)
