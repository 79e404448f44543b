"""SGLang's longest-prefix-match policy."""

from __future__ import annotations

from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


class LPMScheduler(LocalScheduler):
    """Admit the waiting request with the longest cached prefix first (ties by arrival).

    Like SGLang, it falls back to FCFS when the queue is longer than `max_match_queue`,
    where matching every waiting prompt each iteration costs more than it saves.
    """

    def __init__(self, *args, max_match_queue: int = 128, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_match_queue = max_match_queue

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        if len(waiting) > self.max_match_queue:
            return sorted(waiting, key=FCFS_KEY)
        return sorted(waiting, key=lambda s: (-kv.match_tokens(s), s.arrival_s, s.admit_seq))
