"""First come, first served."""

from __future__ import annotations

from toolkit.sched.base import FCFS_KEY, LocalScheduler
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq


class FCFSScheduler(LocalScheduler):
    """Admit in arrival order (preempted sequences keep their original arrival time)."""

    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        return sorted(waiting, key=FCFS_KEY)
