"""Where a request goes (global dispatch) and how a group fills its batch (local policy).

Both see groups through `GroupLoad`, the same on every backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
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


def serving(groups: Sequence[GroupLoad], tier: str) -> list[GroupLoad]:
    """Groups that take new requests of `tier` (their tier or shared; not decode-only)."""
    return [g for g in groups if g.role != "decode" and (g.tier is None or g.tier == tier)]


class Dispatcher(ABC):
    """Chooses a group for each arriving request."""

    @abstractmethod
    def choose(self, tier: str, groups: Sequence[GroupLoad]) -> int:
        """Index of the chosen group among `groups` (every group, in plan order)."""


class RoundRobinDispatch(Dispatcher):
    """Round-robin over the groups serving the tier (vanilla SGLang's data-parallel router);
    over every group if none does."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, tier: str, groups: Sequence[GroupLoad]) -> int:
        pool = serving(groups, tier) or [g for g in groups if g.role != "decode"]
        self._next += 1
        return pool[self._next % len(pool)].index


class LeastLoadedDispatch(Dispatcher):
    """The group serving the tier with the fewest requests per SLO-safe slot."""

    def choose(self, tier: str, groups: Sequence[GroupLoad]) -> int:
        pool = serving(groups, tier) or [g for g in groups if g.role != "decode"]
        return min(pool, key=lambda g: (g.load / max(1, g.safe_batch or g.tp), g.index)).index


class NitsumDispatch(Dispatcher):
    """Feasible requests (a group of their tier has SLO-safe room: fewer requests than its
    SLO-safe batch and none queued) go to the least-loaded such group; the rest, and the
    requests of tiers without groups (background), are best effort, round-robin over every
    group."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, tier: str, groups: Sequence[GroupLoad]) -> int:
        own = [g for g in serving(groups, tier) if g.tier == tier and g.up
               and g.load < g.safe_batch]
        if own:
            return min(own, key=lambda g: (g.load / g.safe_batch, g.index)).index
        pool = [g for g in groups if g.role != "decode"]
        self._next += 1
        return pool[self._next % len(pool)].index


class LocalPolicy(ABC):
    """Orders a group's waiting requests and caps its batch."""

    slo_aware: bool = False

    def __init__(self, max_batch: int = 256) -> None:
        self.max_batch = max_batch

    @abstractmethod
    def cap(self, safe_batch: int) -> int:
        """The most requests the group may run at once, given its SLO-safe batch."""


class FCFSLocal(LocalPolicy):
    """First come, first served, up to `max_batch` (SLO-unaware)."""

    def cap(self, safe_batch: int) -> int:
        return self.max_batch


class SLOAwareLocal(LocalPolicy):
    """Fills the batch up to its SLO-safe size (or `max_batch` where no tier bounds it),
    feasible requests (TTFT deadline not yet passed) first, earliest deadline first, then
    the rest in arrival order."""

    slo_aware = True

    def cap(self, safe_batch: int) -> int:
        return min(self.max_batch, safe_batch) if safe_batch > 0 else self.max_batch
