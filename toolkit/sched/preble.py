"""Preble's local scheduler: priority groups by prefix-hit ratio (Algorithm 3)."""

from __future__ import annotations

import math

from toolkit.sched.base import FCFS_KEY, LocalScheduler
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
        seq.priority_len = seq.match_len
        return min(seq.priority, self.num_groups - 1)

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        fcfs = sorted(waiting, key=FCFS_KEY)
        num_groups, limit = self.num_groups, self.max_match_queue
        # past the first `max_match_queue` requests, groups from an earlier match stand
        fresh = fcfs if len(fcfs) <= limit else (
            fcfs[:limit] + [s for s in fcfs[limit:] if s.match_epoch < 0])
        kv.refresh_matches(fresh)  # the matches `group` would make, in one batch
        for seq in fresh:
            if seq.priority_len != seq.match_len:  # else `priority` is already this match's
                req = seq.request
                hit = req.key_tokens(seq.match_len) / max(req.prompt_len, 1)
                seq.priority = 0 if hit <= 0 else max(0, math.ceil(num_groups * hit) - 1)
                seq.priority_len = seq.match_len
        # group g takes its first (g+1)·quota in FCFS order; everyone else follows in FCFS
        groups: list[list[Seq]] = [[] for _ in range(num_groups)]
        caps = [(g + 1) * self.quota for g in range(num_groups)]
        rest: list[Seq] = []
        top = num_groups - 1
        for seq in fcfs:
            g = seq.priority if seq.priority < top else top
            grp = groups[g]
            if len(grp) < caps[g]:
                grp.append(seq)
            else:
                rest.append(seq)
        out: list[Seq] = []
        for g in range(top, -1, -1):
            out += groups[g]
        out += rest
        return out
