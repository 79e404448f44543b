"""`PreblePriorityScheduler.order`'s fast paths (the FCFS order kept across calls, the fused
re-match) give what the plain algorithm gives: the same order, groups, matches and cache."""

from __future__ import annotations

import math
import random

import pytest

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.sched.base import FCFS_KEY
from toolkit.sched.kv import KVManager
from toolkit.sched.preble import PreblePriorityScheduler
from toolkit.sched.seq import Seq


class PlainPreble(PreblePriorityScheduler):
    """The algorithm written plainly: sort, re-match through the KV manager, group, merge."""

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        fcfs = sorted(waiting, key=FCFS_KEY)
        limit = self.max_match_queue
        fresh = fcfs if len(fcfs) <= limit else (
            fcfs[:limit] + [s for s in fcfs[limit:] if s.match_epoch < 0])
        kv.refresh_matches(fresh)
        for seq in fresh:
            if seq.priority_len != seq.match_len:
                req = seq.request
                hit = req.key_tokens(seq.match_len) / max(req.prompt_len, 1)
                seq.priority = 0 if hit <= 0 else max(0, math.ceil(self.num_groups * hit) - 1)
                seq.priority_len = seq.match_len
        groups: list[list[Seq]] = [[] for _ in range(self.num_groups)]
        for seq in fcfs:
            groups[min(seq.priority, self.num_groups - 1)].append(seq)
        self._join(g for g in range(self.num_groups) if groups[g])
        keyed = []
        for g, members in enumerate(groups):
            step, key = 1.0 / (g + 1), self._pass[g]
            for j in range(min(len(members), self.max_order)):
                keyed.append((key, -g, j))
                key += step
        keyed.sort()
        head = [groups[-neg][j] for _, neg, j in keyed[: self.max_order]]
        chosen = {id(s) for s in head}
        return head + [s for s in fcfs if id(s) not in chosen]

    def on_admitted(self, admitted: list[Seq]) -> None:
        for seq in admitted:
            g = min(seq.priority, self.num_groups - 1)
            self._pass[g] += 1.0 / (g + 1)


def _cache_state(cache: RadixCache) -> list[tuple]:
    return sorted((cache.path_key(n), n.last_access, n.ref) for n in cache._iter_nodes())


class World:
    def __init__(self, sched: PreblePriorityScheduler) -> None:
        self.sched = sched
        self.kv = KVManager(RadixCache(), 10**6)
        self.waiting: list[Seq] = []
        self.by_id: dict[str, Seq] = {}

    def seq(self, rid: str, key: tuple[int, ...], t: float, admit_seq: int) -> Seq:
        seq = Seq(Request(rid, t, 3, prompt_token_ids=key))
        seq.admit_seq = admit_seq
        self.by_id[rid] = seq
        return seq


@pytest.mark.parametrize("seed", range(30))
def test_fast_order_equals_plain_order(seed: int) -> None:
    rng = random.Random(seed)
    bases = [tuple(rng.randrange(5) for _ in range(rng.randint(1, 10))) for _ in range(4)]
    opts = {"max_match_queue": rng.choice([2, 4, 64]), "max_order": rng.choice([3, 5, 64])}
    fast, plain = World(PreblePriorityScheduler(**opts)), World(PlainPreble(**opts))
    worlds = (fast, plain)
    t = 0.0
    for step in range(250):
        op = rng.random()
        if op < 0.3:  # arrivals (sometimes at an equal time)
            t += rng.choice([0.0, 1.0])
            key = rng.choice(bases) + tuple(rng.randrange(5) for _ in range(rng.randint(1, 5)))
            for w in worlds:
                w.waiting.append(w.seq(f"a{step}", key, t, 0))
        elif op < 0.38:  # a preemption puts an old sequence back at the front
            key = rng.choice(bases) + (9,)
            arrival, admit_seq = rng.choice([0.0, t / 2, t]), rng.randint(1, 3)
            for w in worlds:
                w.waiting.insert(0, w.seq(f"p{step}", key, arrival, admit_seq))
        elif op < 0.5:  # the cache changes: an insertion or an eviction
            key = rng.choice(bases) + tuple(rng.randrange(5) for _ in range(rng.randint(0, 4)))
            n = rng.randint(1, 6)
            insert = rng.random() < 0.6
            for w in worlds:
                if insert:
                    w.kv.cache.insert(key)
                else:
                    w.kv.cache.evict(n)
                w.kv.epoch += 1
        elif op < 0.53 and fast.waiting:  # an unexpected change: a removal from the middle
            i = rng.randrange(len(fast.waiting))
            for w in worlds:
                del w.waiting[i]
        elif op < 0.55:  # a new list object with the same sequences
            for w in worlds:
                w.waiting = list(w.waiting)
        else:  # order, then admit the first few
            got = [s.id for s in fast.sched.order(fast.waiting, fast.kv)]
            want = [s.id for s in plain.sched.order(plain.waiting, plain.kv)]
            assert got == want
            k = rng.randint(0, min(3, len(got)))
            for w in worlds:
                admitted = [w.by_id[i] for i in got[:k]]
                if admitted:
                    w.sched.on_admitted(admitted)
                for seq in admitted:
                    w.waiting.remove(seq)
        for a, b in zip(fast.waiting, plain.waiting, strict=True):
            assert (a.id, a.priority, a.match_len, a.match_epoch) == (
                b.id, b.priority, b.match_len, b.match_epoch)
        assert fast.sched._pass == plain.sched._pass
        assert _cache_state(fast.kv.cache) == _cache_state(plain.kv.cache)
        fast.kv.cache.check_integrity()
