"""Time-windowed TTFT samples of one prefix on one GPU, with O(log n) range means.

Preble's autoscaling detector compares the mean TTFT in the newer half of the window with
the older half; prefix sums over a time-ordered list answer both halves by binary search.
"""

from __future__ import annotations

import bisect


class TtftWindow:
    """Append-only (time, ttft) samples; old ones are dropped by `trim`."""

    __slots__ = ("times", "cums", "head")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cums: list[float] = [0.0]  # cums[k] = Σ of the first k samples ever kept
        self.head = 0  # index of the oldest live sample

    def __len__(self) -> int:
        return len(self.times) - self.head

    def copy(self) -> TtftWindow:
        """An independent copy holding the live samples."""
        out = TtftWindow()
        out.times = self.times[self.head :]
        base = self.cums[self.head]
        out.cums = [c - base for c in self.cums[self.head :]]
        return out

    def append(self, t: float, ttft_s: float) -> None:
        """Add a sample; times must not decrease (a late one is clamped to the last time)."""
        if self.times and t < self.times[-1]:
            t = self.times[-1]
        self.times.append(t)
        self.cums.append(self.cums[-1] + ttft_s)

    def trim(self, horizon_s: float) -> None:
        """Drop samples at or before `horizon_s`."""
        self.head = max(self.head, bisect.bisect_right(self.times, horizon_s))
        if self.head > 64 and self.head * 2 > len(self.times):
            base = self.cums[self.head]
            self.times = self.times[self.head :]
            self.cums = [c - base for c in self.cums[self.head :]]
            self.head = 0

    def mean(self, after_s: float, until_s: float) -> float | None:
        """Mean TTFT of the live samples with `after_s < t <= until_s` (None if none)."""
        lo = max(self.head, bisect.bisect_right(self.times, after_s))
        hi = bisect.bisect_right(self.times, until_s)
        if hi <= lo:
            return None
        return (self.cums[hi] - self.cums[lo]) / (hi - lo)
