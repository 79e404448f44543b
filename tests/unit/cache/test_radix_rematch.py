"""`RadixCache.rematch_many` leaves the cache as sequential `match` calls do."""

from __future__ import annotations

import random

import pytest

from toolkit.cache.radix import RadixCache


def _state(cache: RadixCache) -> list[tuple]:
    return sorted((cache.path_key(n), n.last_access, n.ref) for n in cache._iter_nodes())


@pytest.mark.parametrize("seed", range(20))
def test_rematch_many_equals_sequential_matches(seed: int) -> None:
    rng = random.Random(seed)
    bases = [tuple(rng.randrange(4) for _ in range(rng.randint(1, 12))) for _ in range(5)]
    keys = [b + tuple(rng.randrange(4) for _ in range(rng.randint(0, 6)))
            for b in bases for _ in range(4)]
    plain, fast = RadixCache(), RadixCache()
    hints: dict[int, object] = {}
    locked: list[tuple] = []
    for _ in range(300):
        op = rng.random()
        if op < 0.3:
            k = rng.choice(keys)
            for c in (plain, fast):
                c.insert(k)
        elif op < 0.45:
            n = rng.randint(1, 8)
            assert plain.evict(n) == fast.evict(n)
        elif op < 0.55:
            k = rng.choice(keys)
            a, b = plain.match(k), fast.match(k)
            plain.lock(a.node)
            fast.lock(b.node)
            locked.append((a.node, b.node))
        elif op < 0.65 and locked:
            a, b = locked.pop(rng.randrange(len(locked)))
            plain.unlock(a)
            fast.unlock(b)
        else:
            idx = [rng.randrange(len(keys)) for _ in range(rng.randint(1, 10))]
            want = [plain.match(keys[i]).length for i in idx]
            got = fast.rematch_many([(keys[i], hints.get(i)) for i in idx])
            assert [m.length for m in got] == want
            hints.update(zip(idx, got))
        assert _state(plain) == _state(fast)
        plain.check_integrity()
        fast.check_integrity()
