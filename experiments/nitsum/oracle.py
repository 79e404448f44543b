"""The per-window oracle: static TP (SLO-aware) at each candidate level over the same
workload, and per window the level whose requests (by arrival) met the most SLOs. No switch
is charged, so it bounds what choosing one TP level per window can gain."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments.nitsum.runner import run_pool
from toolkit.metrics.slo import goodput_summary, window_goodput
from toolkit.workloads.tiers import Tier, TieredWorkload


def static_policy(cfg: DictConfig, tp: int) -> DictConfig:
    """The `static_tp_slo` policy at `tp`."""
    return OmegaConf.create({
        "name": f"static_tp_slo_tp{tp}", "full_weights": False, "balancer": None,
        "planner": {"_target_": "toolkit.plan.static.StaticTPPlanner", "tp": tp},
        "dispatch": {"_target_": "toolkit.plan.dispatch.LeastLoadedDispatch"},
        "local": {"_target_": "toolkit.plan.dispatch.SLOAwareLocal",
                  "max_batch": int(cfg.cluster.max_batch)},
        "switch": {"_target_": "toolkit.cost.tp.TPSwitchCost", "reuse": False}})


def run_oracle(cfg: DictConfig, w: TieredWorkload, tiers: list[Tier], out: Path) -> dict:
    window = float(cfg.policy.window_s)
    runs, per = {}, []
    for tp in cfg.policy.candidates:
        if tp > cfg.cluster.num_gpus:
            continue
        sub = out / f"tp{tp}"
        s = run_pool(cfg, static_policy(cfg, int(tp)), w, tiers, sub)
        runs[int(tp)] = (s, pd.read_parquet(sub / "records.parquet"))
        g = window_goodput(runs[int(tp)][1], window).groupby("window")["goodput_rps"].sum()
        per.append(g.rename(f"tp{int(tp)}"))
    table = pd.concat(per, axis=1).fillna(0.0)
    best = table.idxmax(axis=1).str.removeprefix("tp").astype(int)
    chosen = pd.concat([df[(df["arrival_s"] // window).astype(int) == win]
                        for win, tp in best.items() for df in [runs[int(tp)][1]]])
    chosen.to_parquet(out / "records.parquet")
    table.assign(best_tp=best).to_parquet(out / "windows.parquet")
    s = goodput_summary(chosen, float(cfg.workload.duration_s), int(cfg.cluster.num_gpus))
    static = {tp: r[0]["goodput_rps"] for tp, r in runs.items()}
    s.update(policy="oracle", num_reconfigurations=int((best != best.shift()).sum() - 1),
             static_goodput_rps={str(k): v for k, v in static.items()},
             best_static_tp=int(max(static, key=static.get)),
             best_static_goodput_rps=max(static.values()),
             chosen_tp_per_window=[int(x) for x in best.tolist()])
    return s
