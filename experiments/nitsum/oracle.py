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

POLICY_DIR = Path(__file__).resolve().parent / "conf" / "policy"


def static_policy(cfg: DictConfig, tp: int) -> DictConfig:
    """The `static_tp_slo` option of the `policy` group at `tp` (its YAML, resolved
    against `cfg` with `cluster.tp=tp`)."""
    merged = OmegaConf.merge(cfg, {"cluster": {"tp": tp}})
    OmegaConf.set_struct(merged, False)
    merged.policy = OmegaConf.load(POLICY_DIR / "static_tp_slo.yaml")
    policy = OmegaConf.create(OmegaConf.to_container(merged.policy, resolve=True))
    policy.name = f"static_tp_slo_tp{tp}"
    return policy


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
