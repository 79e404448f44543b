"""Preble's local scheduler: priority groups by prefix-hit ratio (Algorithm 3)."""

from __future__ import annotations

import math

from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


class PreblePriorityScheduler(LocalScheduler):
    """Waiting requests fall into `num_groups` groups by cached/prompt tokens (group 0 = no
    hit, group g = ceil(num_groups·h) − 1) and groups share admissions in proportion to
    g + 1 — the paper's example: of 55 admissions, 10 from the top group, 9 from the next,
    down to 1 from group 0 — FCFS inside a group. Shares are kept across iterations by
    stride scheduling: each group has a pass that advances by 1/(g+1) per admitted request,
    and the group with the lowest pass goes next; a group that was empty rejoins at the
    current pass, so it cannot claim a backlog. High-hit requests go first, and no group
    starves. Only the oldest `max_match_queue` waiting requests are re-matched each
    iteration; `max_order` candidates are ordered by group share, the rest follow in FCFS.
    (The Preble code instead serves one group per iteration with a cap of (g+1)·k, k = 10.)
    """

    def __init__(self, *args, num_groups: int = 10, quota: int = 10, max_match_queue: int = 64,
                 max_order: int = 64, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_groups = num_groups
        self.quota = quota  # kept for configs; shares come from the group weights g + 1
        self.max_match_queue = max_match_queue
        self.max_order = max_order
        self._pass = [0.0] * num_groups
        self._active: set[int] = set()

    def group(self, seq: Seq, kv: KVManager) -> int:
        """Priority group of a waiting sequence from its current prefix hit ratio."""
        hit = kv.match_tokens(seq) / max(seq.request.prompt_len, 1)
        seq.priority = 0 if hit <= 0 else max(0, math.ceil(self.num_groups * hit) - 1)
        seq.priority_len = seq.match_len
        return min(seq.priority, self.num_groups - 1)

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        fcfs = sorted(waiting, key=FCFS_KEY)
        self._refresh_groups(fcfs, kv)
        groups: list[list[Seq]] = [[] for _ in range(self.num_groups)]
        top = self.num_groups - 1
        for seq in fcfs:
            groups[min(seq.priority, top)].append(seq)
        self._join(g for g in range(self.num_groups) if groups[g])
        head = self._by_share(groups)
        chosen = {id(s) for s in head}
        return head + [s for s in fcfs if id(s) not in chosen]

    def on_admitted(self, admitted: list[Seq]) -> None:
        top = self.num_groups - 1
        for seq in admitted:
            g = min(seq.priority, top)
            self._pass[g] += 1.0 / (g + 1)

    def _refresh_groups(self, fcfs: list[Seq], kv: KVManager) -> None:
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

    def _join(self, active_groups) -> None:
        active = set(active_groups)
        if self._active:
            now = min(self._pass[g] for g in self._active)
            for g in active - self._active:
                self._pass[g] = max(self._pass[g], now)
        self._active = active

    def _by_share(self, groups: list[list[Seq]]) -> list[Seq]:
        # The j-th pick from group g comes at pass_g + j/(g+1) (added up one step at a time,
        # as `on_admitted` does); merging those keys is the stride schedule's order.
        keyed: list[tuple[float, int, int]] = []
        limit = self.max_order
        for g, members in enumerate(groups):
            step, key = 1.0 / (g + 1), self._pass[g]
            for j in range(min(len(members), limit)):
                keyed.append((key, -g, j))
                key += step
        keyed.sort()
        return [groups[-neg][j] for _, neg, j in keyed[:limit]]
