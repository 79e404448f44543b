"""A discrete-event loop with one heap key: (time, priority, sequence number)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

# Lower runs first at equal times: engines finish iterations before new arrivals are routed.
PRIO_ENGINE = 0
PRIO_ARRIVAL = 1
PRIO_TIMER = 2


class EventLoop:
    """Runs callbacks in (time, priority, insertion order); deterministic by construction."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.now_s = 0.0

    def schedule(self, time_s: float, priority: int, fn: Callable[..., None], *args: Any) -> None:
        """Run `fn(*args)` at `time_s` (never earlier than now)."""
        if time_s < self.now_s:
            time_s = self.now_s
        heapq.heappush(self._heap, (time_s, priority, self._seq, fn, args))
        self._seq += 1

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, until_s: float = float("inf")) -> None:
        """Pop and run events until the heap is empty or the next event is after `until_s`."""
        heap = self._heap
        while heap and heap[0][0] <= until_s:
            time_s, _, _, fn, args = heapq.heappop(heap)
            self.now_s = time_s
            fn(*args)
