"""Preble's local scheduler: priority groups by prefix-hit ratio (Algorithm 3)."""

from __future__ import annotations

import math

from toolkit.sched.base import LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


class PreblePriorityScheduler(LocalScheduler):
    """Waiting requests fall into `num_groups` groups by cached/prompt tokens
    (group 0 = no hit, group g = ceil(g_count·h) − 1); each iteration takes up to
    (g+1)·`quota` requests from every group, highest group first, FCFS inside a group,
    then the rest in FCFS order — high-hit requests first without starving the others.
    Only the oldest `max_match_queue` waiting requests are re-matched each iteration.
    Constants from the Preble code (10 groups, k = 10); the paper gives only the example.
    """

    def __init__(self, *args, num_groups: int = 10, quota: int = 10, max_match_queue: int = 64,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_groups = num_groups
        self.quota = quota
        self.max_match_queue = max_match_queue

    def group(self, seq: Seq, kv: KVManager) -> int:
        """Priority group of a waiting sequence from its current prefix hit ratio."""
        hit = kv.match_tokens(seq) / max(seq.request.prompt_len, 1)
        seq.priority = 0 if hit <= 0 else max(0, math.ceil(self.num_groups * hit) - 1)
        return min(seq.priority, self.num_groups - 1)

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        fcfs = sorted(waiting, key=lambda s: (s.arrival_s, s.admit_seq))
        groups: list[list[Seq]] = [[] for _ in range(self.num_groups)]
        for i, seq in enumerate(fcfs):
            # past the first `max_match_queue` requests, groups from an earlier match stand
            fresh = i < self.max_match_queue or seq.match_epoch < 0
            groups[self.group(seq, kv) if fresh else seq.priority].append(seq)
        first: list[Seq] = []
        for g in range(self.num_groups - 1, -1, -1):
            first.extend(groups[g][: (g + 1) * self.quota])
        chosen = {id(s) for s in first}
        return first + [s for s in fcfs if id(s) not in chosen]
