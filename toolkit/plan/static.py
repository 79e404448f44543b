"""Static plans: one TP level everywhere (shared by every tier), or a split cluster (each
tier its own GPUs, in proportion to its share), or static prefill/decode disaggregation."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.core import ConfigError
from toolkit.plan.base import ClusterPlan, GroupSpec, Planner


class StaticTPPlanner(Planner):
    """Every GPU in groups of `tp`, serving every tier."""

    def __init__(self, tp: int = 1) -> None:
        GroupSpec(tp)
        self.tp = tp

    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        if num_gpus < self.tp:
            raise ConfigError("tp", f"tp={self.tp} needs {self.tp} GPUs, cluster has {num_gpus}")
        return ClusterPlan(tuple(GroupSpec(self.tp) for _ in range(num_gpus // self.tp)))


class SplitPlanner(Planner):
    """A separate cluster per tier: groups of `tp` dealt to tiers in proportion to `shares`
    (largest remainder; every tier gets at least one group)."""

    def __init__(self, shares: dict[str, float], tp: int = 1) -> None:
        GroupSpec(tp)
        self.tp, self.shares = tp, dict(shares)

    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        if set(tiers) != set(self.shares):
            raise ConfigError("shares", f"shares name {sorted(self.shares)}, tiers are {sorted(tiers)}")
        n = num_gpus // self.tp
        if n < len(tiers):
            raise ConfigError("num_gpus", f"{n} groups cannot split over {len(tiers)} tiers")
        counts = deal(n, [self.shares[t] for t in tiers])
        return ClusterPlan(tuple(GroupSpec(self.tp, t) for t, c in zip(tiers, counts)
                                 for _ in range(c)))


class DisaggPlanner(Planner):
    """DistServe-style: `prefill_fraction` of the groups prefill, the rest decode; every tier
    shares both pools."""

    def __init__(self, tp: int = 1, prefill_fraction: float = 0.5) -> None:
        GroupSpec(tp)
        if not 0 < prefill_fraction < 1:
            raise ConfigError("prefill_fraction", f"must be in (0, 1), got {prefill_fraction}")
        self.tp, self.prefill_fraction = tp, prefill_fraction

    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        n = num_gpus // self.tp
        if n < 2:
            raise ConfigError("num_gpus", f"disaggregation needs two groups, have {n}")
        num_p = min(n - 1, max(1, round(n * self.prefill_fraction)))
        return ClusterPlan(tuple(GroupSpec(self.tp, None, "prefill") for _ in range(num_p))
                           + tuple(GroupSpec(self.tp, None, "decode") for _ in range(n - num_p)))


def deal(n: int, weights: Sequence[float]) -> list[int]:
    """`n` items over `weights` by largest remainder, at least one each."""
    total = sum(weights)
    raw = [n * w / total for w in weights]
    counts = [max(1, int(r)) for r in raw]
    while sum(counts) > n:
        i = max(range(len(counts)), key=lambda j: (counts[j] - raw[j], counts[j]))
        counts[i] -= 1
    order = sorted(range(len(raw)), key=lambda j: counts[j] - raw[j])
    for j in order[: n - sum(counts)]:
        counts[j] += 1
    return counts
