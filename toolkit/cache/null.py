"""A prefix cache that caches nothing: each inserted prompt lives only while it is locked.

For engines without prefix caching (the vLLM InferCept compared against): a prompt's KV
slots belong to its request, and a request that drops them (finished, preempted or
discarded at a pause) recomputes everything next time.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.cache.base import InsertResult, MatchResult, PrefixCache, SizeInfo


class _Entry:
    __slots__ = ("size", "ref")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ref = 0


class NoPrefixCache(PrefixCache):
    """Matches nothing; an inserted key is one private entry freed at its last unlock.

    An entry nobody has locked yet is freed by the next `evict`, so nothing stays cached.
    """

    def __init__(self) -> None:
        self._root = _Entry(0)
        self._live: dict[int, _Entry] = {}
        self._protected = 0
        self._evictable = 0

    @property
    def root(self) -> _Entry:
        return self._root

    def match(self, key: Sequence[int]) -> MatchResult:
        return MatchResult(0, self._root)

    def insert(self, key: Sequence[int]) -> InsertResult:
        entry = _Entry(len(key))
        self._live[id(entry)] = entry
        self._evictable += entry.size
        return InsertResult(0, entry)

    def lock(self, node: _Entry) -> None:
        if node is self._root:
            return
        if id(node) not in self._live:
            raise ValueError("lock of an entry that is no longer cached")
        if node.ref == 0:
            self._evictable -= node.size
            self._protected += node.size
        node.ref += 1

    def unlock(self, node: _Entry) -> None:
        if node is self._root:
            return
        if node.ref <= 0:
            raise ValueError("unlock of an unlocked entry")
        node.ref -= 1
        if node.ref == 0:
            self._protected -= node.size
            del self._live[id(node)]

    def evict(self, num: int) -> int:
        freed = 0
        for key, entry in list(self._live.items()):
            if entry.ref == 0:
                freed += entry.size
                del self._live[key]
        self._evictable = 0
        return freed

    def size_info(self) -> SizeInfo:
        return SizeInfo(self._evictable, self._protected)

    def check_integrity(self) -> None:
        assert self._protected == sum(e.size for e in self._live.values() if e.ref > 0)
        assert self._evictable == sum(e.size for e in self._live.values() if e.ref == 0)
        assert all(e.ref >= 0 for e in self._live.values())

    def reset(self) -> None:
        assert self._protected == 0, "reset with locked entries"
        self.__init__()
