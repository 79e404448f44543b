"""An engine's prefix-hit ratio over a sliding time window (what routers see)."""

from __future__ import annotations

from collections import deque


class HitWindow:
    """Cached and prompt tokens of the admissions in the last `window_s` seconds."""

    __slots__ = ("window_s", "_hits", "_cached", "_prompt")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._hits: deque[tuple[float, int, int]] = deque()
        self._cached = 0
        self._prompt = 0

    def record(self, now_s: float, cached: int, prompt: int) -> None:
        """One admission at `now_s` that found `cached` of its `prompt` tokens cached."""
        self._hits.append((now_s, cached, prompt))
        self._cached += cached
        self._prompt += prompt

    def ratio(self, now_s: float) -> float:
        """Cached / prompt tokens of the admissions after `now_s - window_s` (0 if none)."""
        hits, horizon = self._hits, now_s - self.window_s
        while hits and hits[0][0] < horizon:
            _, c, p = hits.popleft()
            self._cached -= c
            self._prompt -= p
        return self._cached / self._prompt if self._prompt else 0.0
