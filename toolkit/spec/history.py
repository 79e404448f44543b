"""Output lengths of recent rollouts per problem: what a length-aware budget predicts from."""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict, deque
from collections.abc import Hashable, Sequence


class LengthHistory:
    """Final output lengths per problem over the last `window` epochs."""

    def __init__(self, window: int = 4) -> None:
        if window < 1:
            raise ValueError(f"LengthHistory: window must be >= 1, got {window}")
        self.window = window
        self._epochs: deque[dict[Hashable, list[int]]] = deque([defaultdict(list)])

    def add(self, problem: Hashable, length: int) -> None:
        self._epochs[0][problem].append(length)

    def new_epoch(self) -> None:
        self._epochs.appendleft(defaultdict(list))
        while len(self._epochs) > self.window + 1:
            self._epochs.pop()

    def finished(self) -> dict[Hashable, list[int]]:
        """Lengths per problem over the finished epochs of the window."""
        out: dict[Hashable, list[int]] = defaultdict(list)
        for epoch in list(self._epochs)[1:]:
            for problem, lengths in epoch.items():
                out[problem].extend(lengths)
        return dict(out)

    def finished_lengths(self, problem: Hashable) -> list[int]:
        """`problem`'s lengths over the finished epochs of the window."""
        return [n for e in list(self._epochs)[1:] for n in e.get(problem, ())]

    def predict(self, problem: Hashable, generated: int = 0, default: float = 0.0) -> float:
        """Expected final length given `generated` tokens so far: the mean of the problem's
        past lengths (finished epochs) that exceed `generated`, or `max(generated,
        default)` once none do."""
        past = [n for n in self.finished_lengths(problem) if n > generated]
        if past:
            return sum(past) / len(past)
        return float(max(generated, default))


class LengthClasses:
    """DAS's deployed heuristic: Short / Medium / Long by length, with cuts at quantiles of
    the finished epochs' lengths (`quantiles`: the Short/Medium and Medium/Long cuts; the
    paper does not publish its thresholds). Start class: the most common class among the
    problem's past samples. Run-time class: argmax_c P(c | final length > generated, start
    class), counted over past samples of problems with that start class.

    Reads the finished epochs only, so `refresh()` (called by the budget at each
    `new_epoch`) fixes everything a step needs."""

    NAMES = ("short", "medium", "long")

    def __init__(self, history: LengthHistory, quantiles: Sequence[float] = (0.5, 0.9)) -> None:
        lo, hi = quantiles
        if not 0 < lo < hi < 1:
            raise ValueError(f"LengthClasses: need 0 < q_short < q_long < 1, got {quantiles}")
        self.history, self.quantiles = history, (lo, hi)
        self.refresh()

    def refresh(self) -> None:
        past = self.history.finished()
        ls = sorted(n for lengths in past.values() for n in lengths)
        self.cuts = tuple(float(ls[min(len(ls) - 1, int(q * len(ls)))]) if ls else math.inf
                          for q in self.quantiles)
        self.start: dict[Hashable, int] = {}
        for problem, lengths in past.items():
            counts = Counter(self.of_length(n) for n in lengths)
            self.start[problem] = max(counts, key=lambda c: (counts[c], c))
        self._peers: dict[int, list[list[int]]] = {}
        for problem, lengths in past.items():
            by_class = self._peers.setdefault(self.start[problem], [[], [], []])
            for n in lengths:
                by_class[self.of_length(n)].append(n)
        for by_class in self._peers.values():
            for lengths in by_class:
                lengths.sort()

    def of_length(self, length: float) -> int:
        """0 short (<= the first cut), 1 medium (<= the second), 2 long."""
        lo, hi = self.cuts
        return 0 if length <= lo else (1 if length <= hi else 2)

    def runtime_class(self, problem: Hashable, generated: int) -> int | None:
        """The most likely class of a sample of `problem` still running after `generated`
        tokens; None for a problem with no history."""
        start = self.start.get(problem)
        if start is None:
            return None
        if generated > self.cuts[1]:
            return 2
        counts = [len(ls) - bisect.bisect_right(ls, generated) for ls in self._peers[start]]
        if not any(counts):
            return self.of_length(generated)
        return max(range(3), key=lambda c: (counts[c], c))

    def next_change(self, problem: Hashable, generated: int) -> float:
        """The output length at which `runtime_class` may next change: the next past
        length above `generated` among the problem's start-class peers, or the next cut
        (once no peer is left, the class is that of `generated` itself)."""
        start = self.start.get(problem)
        if start is None:
            return math.inf
        if generated > self.cuts[1]:
            return math.inf
        nxt = [ls[i] for ls in self._peers[start]
               if (i := bisect.bisect_right(ls, generated)) < len(ls)]
        cuts = [c for c in (math.floor(x) + 1 for x in self.cuts) if c > generated]
        return float(min([*nxt, *cuts]))
