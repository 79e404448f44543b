"""Where a request goes (global dispatch) and how a group fills its batch (local policy).

Both see groups through `GroupLoad`'s fields, the same on every backend (a backend may pass
its own group objects that carry those fields, as the simulator does)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class GroupLoad:
    """A group as a dispatcher sees it: its tier (None: shared), role, TP, requests it
    holds, and its SLO-safe batch (0: unknown)."""

    index: int
    tier: str | None
    role: str
    tp: int
    load: int
    safe_batch: int
    up: bool = True
    queued: int = 0
    safe_rate: float = 0.0
    gid: int = -1


def serving(groups: Sequence[GroupLoad], tier: str) -> list[GroupLoad]:
    """Groups that take new requests of `tier` (their tier or shared; not decode-only)."""
    return [g for g in groups if g.role != "decode" and (g.tier is None or g.tier == tier)]


class Dispatcher(ABC):
    """Chooses a group for each arriving request. `feasible` tells whether the last choice
    had SLO-safe capacity for it; a backend serves requests placed as not feasible (best
    effort) after the feasible ones."""

    feasible: bool = True

    @abstractmethod
    def choose(self, tier: str, groups: Sequence[GroupLoad], now: float = 0.0) -> int:
        """Index of the chosen group among `groups` (every group, in plan order) for a
        request arriving at `now`."""


class RoundRobinDispatch(Dispatcher):
    """Round-robin over the groups serving the tier (vanilla SGLang's data-parallel router);
    over every group if none does."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, tier: str, groups: Sequence[GroupLoad], now: float = 0.0) -> int:
        pool = serving(groups, tier) or [g for g in groups if g.role != "decode"]
        self._next += 1
        return pool[self._next % len(pool)].index


class LeastLoadedDispatch(Dispatcher):
    """The group serving the tier with the fewest requests per SLO-safe slot."""

    def choose(self, tier: str, groups: Sequence[GroupLoad], now: float = 0.0) -> int:
        pool = serving(groups, tier) or [g for g in groups if g.role != "decode"]
        return min(pool, key=lambda g: (g.load / max(1, g.safe_batch or g.tp), g.index)).index


class NitsumDispatch(Dispatcher):
    """Feasible requests go to the least-loaded group of their tier that has SLO-safe
    capacity left: fewer feasible placements over the last `window_s` than its profiled
    SLO-safe rate allows. The rest, and the requests of tiers without groups (background),
    are best effort, round-robin over every GPU (a group of t GPUs takes t turns)."""

    def __init__(self, window_s: float = 1.0) -> None:
        if window_s <= 0:
            raise ValueError(f"NitsumDispatch: window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self._next = 0
        self._placed: dict[int, deque[float]] = {}

    def _recent(self, gid: int, now: float) -> deque[float]:
        q = self._placed.setdefault(gid, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def choose(self, tier: str, groups: Sequence[GroupLoad], now: float = 0.0) -> int:
        own = [(len(self._recent(g.gid, now)) / (g.safe_rate * self.window_s), g)
               for g in serving(groups, tier) if g.tier == tier and g.up and g.safe_rate > 0]
        own = [(used, g) for used, g in own if used < 1.0]
        self.feasible = bool(own)
        if own:
            g = min(own, key=lambda x: (x[0], x[1].index))[1]
            self._placed[g.gid].append(now)
            return g.index
        gpus = [g.index for g in groups if g.role != "decode" for _ in range(g.tp)]
        self._next += 1
        return gpus[self._next % len(gpus)]


class LocalPolicy(ABC):
    """Orders a group's waiting requests and caps its batch."""

    slo_aware: bool = False

    def __init__(self, max_batch: int = 256) -> None:
        self.max_batch = max_batch

    @abstractmethod
    def cap(self, safe_batch: int) -> int:
        """The most requests the group may run at once, given its SLO-safe batch."""

    def best_effort_cap(self, cap: int) -> int:
        """The most requests a batch of at most `cap` may hold when it admits one that has
        no TTFT target left to meet (best effort, or past its deadline)."""
        return cap


class FCFSLocal(LocalPolicy):
    """First come, first served, up to `max_batch` (SLO-unaware)."""

    def cap(self, safe_batch: int) -> int:
        return self.max_batch


class SLOAwareLocal(LocalPolicy):
    """Fills the batch up to its SLO-safe size (or `max_batch` where no tier bounds it),
    feasible requests (TTFT deadline not yet passed) first, earliest deadline first, then
    the rest in arrival order. Requests with no deadline left to meet (best effort, or past
    it) join only while the batch keeps `reserve` of its slots free (floor(reserve x cap)):
    a slot they take is held until they finish, so without a reserve a burst of feasible
    arrivals waits behind them. With `preempt_best_effort`, a full batch gives up running
    best-effort requests (newest first; they recompute their KV later) for waiting
    requests that can still meet their deadline."""

    slo_aware = True

    def __init__(self, max_batch: int = 256, preempt_best_effort: bool = False,
                 reserve: float = 0.25) -> None:
        super().__init__(max_batch)
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"SLOAwareLocal: reserve must be in [0, 1), got {reserve!r}")
        self.preempt_best_effort = preempt_best_effort
        self.reserve = reserve

    def best_effort_cap(self, cap: int) -> int:
        return cap - int(self.reserve * cap)

    def cap(self, safe_batch: int) -> int:
        return min(self.max_batch, safe_batch) if safe_batch > 0 else self.max_batch
