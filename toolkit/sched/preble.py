"""Preble's local scheduler: priority groups by prefix-hit ratio (Algorithm 3)."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress, filterfalse, repeat
from operator import attrgetter, lt

from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq

_PRIORITY = attrgetter("priority")
_EPOCH = attrgetter("match_epoch")


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
        # FCFS order kept across calls (see `_fcfs_order`): the waiting list last ordered,
        # what it holds once the admitted leave it, and that content sorted by FCFS_KEY
        self._waiting_ref: list[Seq] | None = None
        self._snapshot: list[Seq] = []
        self._fcfs: list[Seq] = []

    def group(self, seq: Seq, kv: KVManager) -> int:
        """Priority group of a waiting sequence from its current prefix hit ratio."""
        hit = kv.match_tokens(seq) / max(seq.request.prompt_len, 1)
        seq.priority = 0 if hit <= 0 else max(0, math.ceil(self.num_groups * hit) - 1)
        seq.priority_len = seq.match_len
        return min(seq.priority, self.num_groups - 1)

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        fcfs = self._fcfs_order(waiting)
        self._refresh_groups(fcfs, kv)
        by_group, runs = self._group_runs(fcfs)
        self._join(g for g, _, _ in runs)
        head = self._by_share(by_group, runs)
        if len(head) == len(fcfs):
            return head
        try:
            chosen = set(head)  # sequences hash by identity
        except TypeError:
            return head + [s for s in fcfs if all(s is not h for h in head)]
        return head + list(filterfalse(chosen.__contains__, fcfs))

    def _group_runs(self, fcfs: list[Seq]) -> tuple[list[Seq], list[tuple[int, int, int]]]:
        """The sequences by group (FCFS inside each), and each non-empty group's run in that
        list as (group, first index, end index), lowest group first."""
        top = self.num_groups - 1
        by_group = sorted(fcfs, key=_PRIORITY)  # stable: FCFS inside each group
        n = len(by_group)
        if n and not 0 <= by_group[0].priority <= by_group[-1].priority <= top:
            # never so after `_refresh_groups`: place out-of-range priorities as indexing a
            # list of groups with them would
            groups: list[list[Seq]] = [[] for _ in range(self.num_groups)]
            for seq in fcfs:
                groups[min(seq.priority, top)].append(seq)
            by_group, runs, lo = [], [], 0
            for g, members in enumerate(groups):
                if members:
                    by_group += members
                    runs.append((g, lo, lo + len(members)))
                    lo += len(members)
            return by_group, runs
        runs = []
        lo = 0
        while lo < n:
            g = by_group[lo].priority
            hi = bisect_right(by_group, g, lo, n, key=_PRIORITY)
            runs.append((g, lo, hi))
            lo = hi
        return by_group, runs

    def on_admitted(self, admitted: list[Seq]) -> None:
        top = self.num_groups - 1
        for seq in admitted:
            g = min(seq.priority, top)
            self._pass[g] += 1.0 / (g + 1)
        if self._waiting_ref is not None:  # `schedule` removes them from the waiting list next
            snap, fcfs = self._snapshot, self._fcfs
            try:
                for seq in admitted:
                    del snap[snap.index(seq)]
                    del fcfs[fcfs.index(seq)]
            except ValueError:  # not admitted from the list last ordered
                self._waiting_ref = None

    def _fcfs_order(self, waiting: list[Seq]) -> list[Seq]:
        """`sorted(waiting, key=FCFS_KEY)`, kept up to date across calls.

        Between two calls on the same list an engine only inserts sequences at its front
        (preemptions) and appends them (arrivals), and `schedule` removes the admitted. When
        the list is exactly front + what the last call left + back, the new sequences are
        placed by binary search (front ones before equal keys, back ones after, in list
        order): what a stable sort of the whole list gives. Anything else sorts anew.
        """
        snap, fcfs = self._snapshot, self._fcfs
        if waiting is self._waiting_ref and len(waiting) >= len(snap):
            n = len(snap)
            if n == 0:
                i = 0
            else:
                try:
                    i = waiting.index(snap[0])
                except ValueError:
                    i = -1
            if i >= 0 and waiting[i : i + n] == snap:  # identity first: cheap in C
                for seq in reversed(waiting[:i]):
                    fcfs.insert(bisect_left(fcfs, FCFS_KEY(seq), key=FCFS_KEY), seq)
                for seq in waiting[i + n :]:
                    fcfs.insert(bisect_right(fcfs, FCFS_KEY(seq), key=FCFS_KEY), seq)
                self._snapshot = waiting[:]
                return fcfs
        self._waiting_ref = waiting
        self._snapshot = waiting[:]
        self._fcfs = sorted(waiting, key=FCFS_KEY)
        return self._fcfs

    def _refresh_groups(self, fcfs: list[Seq], kv: KVManager) -> None:
        num_groups, limit = self.num_groups, self.max_match_queue
        # past the first `max_match_queue` requests, groups from an earlier match stand
        if len(fcfs) <= limit:
            fresh = fcfs
        else:
            rest = fcfs[limit:]
            fresh = fcfs[:limit]
            fresh += compress(rest, map(lt, map(_EPOCH, rest), repeat(0)))
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

    def _by_share(self, by_group: list[Seq], runs: list[tuple[int, int, int]]) -> list[Seq]:
        # The j-th pick from group g comes at pass_g + j/(g+1) (added up one step at a time,
        # as `on_admitted` does); merging those keys, ties to the higher group and then the
        # earlier pick, is the stride schedule's order. Higher groups are laid out first, so
        # a stable sort on the keys alone breaks ties that way.
        keys: list[float] = []
        where: list[int] = []  # index in by_group of each key's sequence
        limit = self.max_order
        for g, lo, hi in reversed(runs):
            m = min(hi - lo, limit)
            keys += accumulate(repeat(1.0 / (g + 1), m - 1), initial=self._pass[g])
            where += range(lo, lo + m)
        picks = sorted(range(len(keys)), key=keys.__getitem__)
        del picks[limit:]
        return list(map(by_group.__getitem__, map(where.__getitem__, picks)))
