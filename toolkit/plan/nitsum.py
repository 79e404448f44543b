"""Nitsum's planner (../shared/papers/nitsum.md, "Policy"): every window, GPU groups are
handed out to the tiers with targets greedily by goodput per GPU (a group's SLO-safe rate from the offline profile,
capped at its tier's unmet arrival rate, over its GPUs), each tier's score multiplied by its
starvation ratio (arrivals / served). Left-over GPUs go to the tier with the least capacity
per arriving request. Tiers without targets (background) get no groups: their requests are
best effort on every group. With `dynamic_tp=False` the TP level stays `tp` (the "Nitsum scheduler"
step of the ablation); the switch cost itself is the backend's to charge.

Choices where the notes are silent: arrival and served rates are smoothed over about
`smoothing_s` seconds (an exponential moving average of the per-window counts); a new plan
replaces the current one only when its estimated goodput beats the current plan's by
`hysteresis` (relative); the starvation ratio is capped at `max_starvation`; groups are laid
out widest first so that groups of equal width keep their GPUs across plans. The comparison
with the current plan counts goodput unweighted: with `weigh_starvation`, each tier's share
is multiplied by its starvation ratio, as in the allocation (a plan that shifts GPUs to a
starved tier then replaces the current one more readily; the Fig. 9 notebook shows both)."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.core import ConfigError
from toolkit.plan.base import ClusterPlan, ClusterView, GroupSpec, Planner
from toolkit.plan.capacity import ProfileTable, efficiency


class NitsumPlanner(Planner):
    """See the module docstring."""

    def __init__(self, tp_levels: Sequence[int] = (1, 2, 4, 8), dynamic_tp: bool = True,
                 tp: int = 1, interval_s: float = 1.0, hysteresis: float = 0.05,
                 max_starvation: float = 4.0, smoothing_s: float = 10.0,
                 weigh_starvation: bool = False) -> None:
        if not tp_levels or any(t < 1 or t & (t - 1) for t in tp_levels):
            raise ConfigError("tp_levels", f"need powers of two, got {list(tp_levels)}")
        if interval_s <= 0 or hysteresis < 0 or max_starvation < 1 or smoothing_s < 0:
            raise ConfigError("planner", "need interval_s > 0, hysteresis >= 0, "
                              "max_starvation >= 1, smoothing_s >= 0")
        self.smoothing = min(1.0, interval_s / smoothing_s) if smoothing_s > 0 else 1.0
        self._arrival: dict[str, float] = {}
        self._served: dict[str, float] = {}
        self.levels = sorted(tp_levels) if dynamic_tp else [tp]
        self.interval_s, self.hysteresis, self.max_starvation = interval_s, hysteresis, max_starvation
        self.weigh_starvation = weigh_starvation
        self.profiles: ProfileTable | None = None
        self.tiers: list[str] = []

    def bind(self, profiles: object) -> None:
        assert isinstance(profiles, ProfileTable)
        self.profiles = profiles

    def initial(self, num_gpus: int, tiers: Sequence[str]) -> ClusterPlan:
        assert self.profiles is not None, "bind the profiles first"
        self.tiers = [t for t in tiers if t not in self.profiles.best_effort] or list(tiers)
        demand = {t: 1.0 for t in tiers}  # no traffic seen: equal demand
        return self.allocate(num_gpus, demand, {t: 1.0 for t in tiers})

    def _smooth(self, old: dict[str, float], new: dict[str, float]) -> dict[str, float]:
        a = self.smoothing
        return {t: new.get(t, 0.0) if t not in old else (1 - a) * old[t] + a * new.get(t, 0.0)
                for t in self.tiers}

    def replan(self, view: ClusterView) -> ClusterPlan:
        self._arrival = arrival = self._smooth(self._arrival, view.arrival_rps)
        self._served = served = self._smooth(self._served, view.served_rps)
        starve = {t: min(self.max_starvation, max(1.0, arrival[t] / max(served[t], 1e-9)))
                  if arrival[t] > 0 else 1.0 for t in self.tiers}
        demand = dict(arrival)
        new = self.allocate(view.num_gpus, demand, starve)
        if view.plan is None or new == view.plan:
            return new
        weight = starve if self.weigh_starvation else None
        if (self.goodput(new, demand, weight)
                > (1 + self.hysteresis) * self.goodput(view.plan, demand, weight)):
            return new
        return view.plan

    def allocate(self, num_gpus: int, demand: dict[str, float],
                 starve: dict[str, float]) -> ClusterPlan:
        """The greedy allocation (see the module docstring)."""
        assert self.profiles is not None, "bind the profiles first"
        left, unmet, groups = num_gpus, dict(demand), []
        while left > 0:
            best, score = None, 0.0
            for t in self.tiers:
                for tp in self.levels:
                    if tp <= left:
                        s = efficiency(self.profiles, t, tp, unmet[t]) * starve[t]
                        if s > score + 1e-12:
                            best, score = (t, tp), s
            if best is None:
                break
            t, tp = best
            groups.append(GroupSpec(tp, t))
            unmet[t] -= self.profiles.rate(t, tp)
            left -= tp
        groups += self._spread(left, demand, groups)
        return ClusterPlan(tuple(sorted(groups, key=lambda g: (-g.tp, g.tier or ""))))

    def _spread(self, left: int, demand: dict[str, float],
                groups: list[GroupSpec]) -> list[GroupSpec]:
        assert self.profiles is not None
        cap = {t: sum(self.profiles.rate(t, g.tp) for g in groups if g.tier == t) for t in self.tiers}
        extra = []
        while left > 0:
            fits = [tp for tp in self.levels if tp <= left]
            if not fits:
                break
            t = max(self.tiers, key=lambda x: (demand[x] + 1e-9) / (cap[x] + 1e-9))
            tp = max(fits, key=lambda x: (self.profiles.rate(t, x) / x, -x))
            extra.append(GroupSpec(tp, t))
            cap[t] += self.profiles.rate(t, tp)
            left -= tp
        return extra

    def goodput(self, plan: ClusterPlan, demand: dict[str, float],
                weight: dict[str, float] | None = None) -> float:
        """Estimated goodput of `plan`: each tier's capacity capped at its demand (times its
        `weight`, if given)."""
        assert self.profiles is not None
        cap = {t: 0.0 for t in self.tiers}
        for g in plan.groups:
            if g.tier in cap:
                cap[g.tier] += self.profiles.rate(g.tier, g.tp)
        w = weight or {}
        return sum(w.get(t, 1.0) * min(cap[t], demand.get(t, 0.0)) for t in self.tiers)
