"""The planner contract: a `ClusterView` in, a `ClusterPlan` out, once per control window."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from toolkit.core import ConfigError

ROLES = ("mixed", "prefill", "decode")


@dataclass(frozen=True)
class GroupSpec:
    """One TP group: `tp` GPUs serving `tier` (None: every tier) in `role`."""

    tp: int
    tier: str | None = None
    role: str = "mixed"

    def __post_init__(self) -> None:
        if self.tp < 1 or self.tp & (self.tp - 1):
            raise ConfigError("tp", f"a group's tp must be a power of two, got {self.tp}")
        if self.role not in ROLES:
            raise ConfigError("role", f"role must be one of {ROLES}, got {self.role!r}")


@dataclass(frozen=True)
class ClusterPlan:
    """Groups laid over GPUs 0..N-1 in order (group i takes the next `tp` GPUs); GPUs past
    the last group stay idle."""

    groups: tuple[GroupSpec, ...]

    @property
    def num_gpus(self) -> int:
        return sum(g.tp for g in self.groups)

    def check(self, num_gpus: int) -> None:
        if self.num_gpus > num_gpus:
            raise ConfigError("plan", f"plan uses {self.num_gpus} GPUs of {num_gpus}")


@dataclass
class ClusterView:
    """What a planner sees at a control tick: per-tier arrival rate over the last window
    (req/s), per-tier requests served (finished) in it, the current plan, and the time."""

    now_s: float
    num_gpus: int
    arrival_rps: dict[str, float]
    served_rps: dict[str, float]
    plan: ClusterPlan | None = None
    queued: dict[str, int] = field(default_factory=dict)


class Planner(ABC):
    """Chooses the cluster's plan. `initial` before traffic; `replan` every control window
    (return the current plan to keep it). A static policy returns its plan from both."""

    interval_s: float = 1.0

    def bind(self, profiles: object) -> None:  # noqa: B027
        """Receive the offline profiles (`toolkit.plan.capacity.ProfileTable`) before the run
        (default: not needed)."""

    @abstractmethod
    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        """The plan at time 0."""

    def replan(self, view: ClusterView) -> ClusterPlan:
        """The plan for the next window (default: keep the current one)."""
        assert view.plan is not None
        return view.plan


def describe(plan: ClusterPlan) -> str:
    """'tp x count tier/role' terms, e.g. '2x3 interactive, 1x2 *'."""
    counts: dict[tuple[int, str, str], int] = {}
    for g in plan.groups:
        key = (g.tp, g.tier or "*", g.role)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{tp}x{c} {tier}" + ("" if role == "mixed" else f"/{role}")
                     for (tp, tier, role), c in counts.items())
