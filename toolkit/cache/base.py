"""The prefix-cache contract every backend's cache honours.

Sizes are counted in key elements: one element is a token for token-id prompts, or a block
for block-hash traces (see `Request.tokens_per_key`). LRU order uses a logical clock that
the cache advances itself, so runs are deterministic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple


class MatchResult(NamedTuple):
    """`length` key elements matched; `node` is the handle whose root path is exactly them."""

    length: int
    node: Any


class InsertResult(NamedTuple):
    """`prefix_len` elements were already cached; `node` ends the inserted key's path."""

    prefix_len: int
    node: Any


class SizeInfo(NamedTuple):
    """Cached elements split by whether eviction may remove them."""

    evictable: int
    protected: int

    @property
    def total(self) -> int:
        return self.evictable + self.protected


class PrefixCache(ABC):
    """A cache of key prefixes with reference-counted locks and LRU eviction."""

    @property
    @abstractmethod
    def root(self) -> Any:
        """The handle of the empty prefix (always matched, never evicted)."""

    @abstractmethod
    def match(self, key: Sequence[int]) -> MatchResult:
        """Longest cached prefix of `key`.

        Content is unchanged; the structure may change (a node split at the match point) and
        the matched path becomes most recently used.
        """

    @abstractmethod
    def insert(self, key: Sequence[int]) -> InsertResult:
        """Cache the whole `key`; return how much of it was already cached and its end node."""

    @abstractmethod
    def lock(self, node: Any) -> None:
        """Protect the path from the root to `node` from eviction (reference counted)."""

    @abstractmethod
    def unlock(self, node: Any) -> None:
        """Undo one `lock(node)`; unlocking an unlocked path raises."""

    @abstractmethod
    def evict(self, num: int) -> int:
        """Evict at least `num` elements (if possible) from unlocked leaves, least recently
        used first, trimming a leaf partially when only part of it is needed; return the
        number of elements evicted."""

    @abstractmethod
    def size_info(self) -> SizeInfo:
        """Evictable and protected element counts."""

    @abstractmethod
    def check_integrity(self) -> None:
        """Raise AssertionError if any internal invariant is broken."""

    @abstractmethod
    def reset(self) -> None:
        """Drop everything (all locks must have been released)."""

    @property
    def total_size(self) -> int:
        return self.size_info().total

    @property
    def evictable_size(self) -> int:
        return self.size_info().evictable
