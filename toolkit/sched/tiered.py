"""A tiered-SLO local policy (`toolkit.plan.dispatch.LocalPolicy`) as an engine's scheduler.

The simulator's pool applies a `LocalPolicy` to its groups' queues; `TieredScheduler` applies
the same object to a real engine's waiting queue, so `policy.local` runs unchanged on both:

- order: with an SLO-aware policy, requests that can still meet their TTFT target, earliest
  deadline first, then the rest (past their deadline, or best effort) first come first
  served; otherwise first come first served;
- batch cap: `local.cap(safe_batch)` requests at once (and at most `max_running`), where
  `safe_batch` is the engine's SLO-safe batch (0: unknown);
- a request with no deadline left to meet joins only while the batch holds fewer than
  `local.best_effort_cap(cap)`; as in the simulator, admission stops at the first request
  that may not join (no skipping ahead).

A request's deadline is its arrival plus `request.meta["ttft_slo_s"]`, on the clock the
engine stamps arrivals with (`clock`, `time.monotonic` by default); a request without that
key is best effort.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from toolkit.plan.dispatch import LocalPolicy
from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


def deadline_s(seq: Seq) -> float:
    """The request's TTFT deadline (inf: best effort)."""
    slo = seq.request.meta.get("ttft_slo_s")
    return math.inf if slo is None else seq.arrival_s + float(slo)


class TieredScheduler(LocalScheduler):
    """See the module docstring. Other arguments are `LocalScheduler`'s."""

    def __init__(self, local: LocalPolicy, safe_batch: int = 0,
                 clock: Callable[[], float] = time.monotonic, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if safe_batch < 0:
            raise ValueError(f"TieredScheduler: safe_batch must be >= 0, got {safe_batch}")
        self.local, self.safe_batch, self.clock = local, safe_batch, clock
        self.cap = min(self.max_running, local.cap(safe_batch))
        self.best_effort_cap = local.best_effort_cap(self.cap)
        self._now = 0.0

    def _feasible_by(self, deadline: float) -> bool:
        return self._now <= deadline < math.inf

    def _feasible(self, seq: Seq) -> bool:
        return self._feasible_by(deadline_s(seq))

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        self._now = self.clock()
        if not self.local.slo_aware:
            return sorted(waiting, key=FCFS_KEY)
        due, rest = [], []
        for s in waiting:
            d = deadline_s(s)
            if self._feasible_by(d):
                due.append((d, s))
            else:
                rest.append(s)
        return [s for _, s in sorted(due, key=lambda x: x[0])] + sorted(rest, key=FCFS_KEY)

    def admit_limit(self, seq: Seq) -> int:
        if self.local.slo_aware and not self._feasible(seq):
            return self.best_effort_cap
        return self.cap
