"""Nitsum's planner on the engine (`backend=engine`, `policy=nitsum`).

The world is tiled (`TPEngine(tiled=True)`): two ranks, so that every plan is one TP level,
two TP-1 groups or one TP-2 group (a plan mixing levels needs instances of different widths,
which the engine does not lay out). Every `interval_s` the planner object the simulator
runs sees the arrivals and completions per tier of the last window and may return a new
plan. A plan at another level regroups the world live: weights stay, the requests of an
instance that vanishes move first (decoding ones with their KV), the KV heads are re-split;
a plan that only re-assigns tiers changes the instances' tiers. Either way each instance
gets the policy's local policy at its new SLO-safe batch. The planner's profiles are the
closed form of this engine's step times at TP 1 and 2, measured at the start of the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from toolkit.core import ConfigError
from toolkit.engine.tp.engine import TPEngine
from toolkit.plan.base import ClusterPlan, ClusterView, Planner, describe
from toolkit.plan.capacity import ProfileTable
from toolkit.workloads.tiers import TierSLO

WORLD = 2


def plan_level(plan: ClusterPlan) -> int:
    """The one TP level of `plan` (ValueError if it mixes levels or leaves ranks idle)."""
    levels = {g.tp for g in plan.groups}
    if len(levels) != 1 or plan.num_gpus != WORLD:
        raise ValueError(f"plan {describe(plan)!r}: the engine lays out one TP level over "
                         f"all {WORLD} ranks")
    return levels.pop()


class PlanControl:
    """Feeds the planner its window's rates and applies the plans it returns (see the
    module docstring); keeps the plans and switches for the summary."""

    def __init__(self, eng: TPEngine, planner: Planner, cfg: DictConfig, inst: object,
                 profiles: ProfileTable, slos: dict[str, TierSLO], names: Sequence[str],
                 plan: ClusterPlan) -> None:
        self.eng, self.planner, self.cfg, self.inst = eng, planner, cfg, inst
        self.profiles, self.slos, self.names = profiles, slos, list(names)
        self.plan = plan
        self.interval = float(planner.interval_s)
        self.next_tick = self.interval
        self.counts = {n: [0, 0] for n in self.names}  # arrived, finished in the window
        self.plans: list[tuple[float, str]] = [(0.0, describe(plan))]
        self.switches: list = []

    def arrived(self, tier: str) -> None:
        self.counts[tier][0] += 1

    def finished(self, tier: str) -> None:
        self.counts[tier][1] += 1

    def started(self, r: int) -> None:
        pass

    def tick(self, now: float) -> None:
        if now < self.next_tick:
            return
        while self.next_tick <= now:
            self.next_tick += self.interval
        dt = self.interval
        view = ClusterView(now, WORLD, {t: a / dt for t, (a, _) in self.counts.items()},
                           {t: f / dt for t, (_, f) in self.counts.items()}, self.plan)
        self.counts = {n: [0, 0] for n in self.names}
        new = self.planner.replan(view)
        if new != self.plan:
            self.apply(new, now)

    def apply(self, new: ClusterPlan, now: float) -> None:
        """Lay the engine out for `new` (see the module docstring)."""
        from experiments.nitsum.engine_run import install_schedulers

        eng, new_tp = self.eng, plan_level(new)
        if new_tp != eng.tp:
            eng.vacate(new_tp)
            self.switches.append(eng.switch_tp(new_tp))
        where = {r: eng.instance_of(str(r)) for r in self.inst.where}
        self.inst.relayout(new, self.profiles, where)
        install_schedulers(eng, self.cfg, new, self.profiles, self.slos, self.names, self.inst)
        self.plan = new
        self.plans.append((now, describe(new)))


def check_engine_nitsum(cfg: DictConfig) -> None:
    """What the engine's Nitsum runs need, rejected by name otherwise."""
    if int(cfg.backend.world_size) != WORLD:
        raise ConfigError("backend.world_size", f"Nitsum's planner runs on a tiled world of "
                          f"{WORLD} ranks here (one TP level per plan); got {cfg.backend.world_size}")
    if not cfg.policy.switch.get("reuse", True) or not cfg.policy.get("full_weights", True):
        raise ConfigError("policy.switch.reuse", "the engine keeps full weights on every rank: "
                          "naive switching (weights reloaded) is the simulator's")
    if cfg.backend.switch_at:
        raise ConfigError("backend.switch_at", "the planner chooses the switches")
