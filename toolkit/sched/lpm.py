"""SGLang's longest-prefix-match policy."""

from __future__ import annotations

from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


class LPMScheduler(LocalScheduler):
    """Admit the waiting request with the longest cached prefix first (ties by arrival).

    By default the whole queue is sorted, as in SGLang v0.1.x, the baseline Preble ran.
    `max_match_queue=N` falls back to FCFS when more than N requests wait, as later SGLang
    releases do (N = 128 there), where matching every waiting prompt each iteration costs
    more than it saves; under overload that fallback discards most of LPM's cache affinity.
    """

    def __init__(self, *args, max_match_queue: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_match_queue is not None and max_match_queue < 0:
            raise ValueError(f"local_sched.max_match_queue must be >= 0 or null, got {max_match_queue}")
        self.max_match_queue = max_match_queue

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        if self.max_match_queue is not None and len(waiting) > self.max_match_queue:
            return sorted(waiting, key=FCFS_KEY)
        return sorted(waiting, key=lambda s: (-kv.match_tokens(s), s.arrival_s, s.admit_seq))
