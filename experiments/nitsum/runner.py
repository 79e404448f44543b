"""One Nitsum configuration on the simulator: `records.parquet` (one row per request, with
`tier` and `slo_met`), `plans.parquet` (the plan over time), `summary.json` and
`config.yaml` in the run directory. Records stream to disk as requests finish, so a run
that fails halfway leaves what it had."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

import experiments.common.runner  # noqa: F401  (registers ${shared_data:...})
from experiments.nitsum.profiles import run_profiles
from toolkit.core import ConfigError
from toolkit.metrics.slo import goodput_summary
from toolkit.plan.nitsum import NitsumPlanner
from toolkit.sim.tp_cluster import TieredPool
from toolkit.sim.tp_setup import pool_setup, slos_and_profiles
from toolkit.workloads.tiers import Tier, TieredWorkload


def _tier_shares(tiers: DictConfig) -> dict[str, float]:
    return {str(k): float(v["share"]) for k, v in tiers.items()}


OmegaConf.register_new_resolver("tier_shares", _tier_shares, replace=True)


TIERS_DIR = Path(__file__).resolve().parent / "conf" / "tiers"


def build_tiers(cfg: DictConfig) -> list[Tier]:
    """The `tiers` group: `{name: {share, ttft_scale, tpot_scale}}`."""
    out = []
    for name, spec in cfg.tiers.items():
        extra = set(spec) - {"share", "ttft_scale", "tpot_scale"}
        if extra:
            raise ConfigError(f"tiers.{name}", f"unknown settings {sorted(extra)}")
        out.append(Tier(str(name), float(spec.share), spec.get("ttft_scale"),
                        spec.get("tpot_scale")))
    return out


def load_tiers(option: str = "three") -> list[Tier]:
    """The tiers of one option of the `tiers` group, outside a composed config."""
    return build_tiers(OmegaConf.create({"tiers": OmegaConf.load(TIERS_DIR / f"{option}.yaml")}))


def build_workload(cfg: DictConfig, tiers: list[Tier]) -> TieredWorkload:
    w = instantiate(cfg.workload, tiers=tiers)
    if not isinstance(w, TieredWorkload):
        raise ConfigError("workload", f"_target_ must build a TieredWorkload, got {type(w).__name__}")
    return w


def run_pool(cfg: DictConfig, policy: DictConfig, w: TieredWorkload, tiers: list[Tier],
             out: Path) -> dict:
    """Serve `w` under `policy` into `out`; the summary."""
    setup = pool_setup(cfg.model.name, cfg.gpu.name, list(cfg.cluster.tp_levels),
                       bool(policy.full_weights), instantiate(policy.switch),
                       float(cfg.cost.small_batch_gain), int(cfg.cluster.chunk_tokens),
                       allreduce=str(cfg.cost.allreduce))
    slos, profiles = slos_and_profiles(setup, tiers, w, int(cfg.cluster.max_batch))
    if cfg.profile.kind not in ("analytic", "measured"):
        raise ConfigError("profile.kind", f"must be 'analytic' or 'measured', got {cfg.profile.kind!r}")
    planner = instantiate(policy.planner)
    if isinstance(planner, NitsumPlanner):  # the only planner that reads the rates
        profiles = run_profiles(cfg, setup, slos, profiles, w, bool(policy.full_weights))
    balancer = instantiate(policy.balancer) if policy.get("balancer") else None
    pool = TieredPool(setup, planner, instantiate(policy.dispatch),
                      instantiate(policy.local), slos, profiles, int(cfg.cluster.num_gpus),
                      balancer)
    out.mkdir(parents=True, exist_ok=True)
    duration = float(cfg.workload.duration_s)
    bar = tqdm(total=round(duration), unit="sim s", desc=str(policy.name), leave=False,
               disable=None)  # off where stderr is no terminal (papermill, logs)
    wall = time.perf_counter()
    try:
        stats = pool.run(w, out / "records.parquet", float(cfg.run.drain_s),
                         progress=lambda t: bar.update(max(0, min(round(t), round(duration)) - bar.n)))
    finally:
        bar.close()
    wall = time.perf_counter() - wall
    pd.DataFrame(stats.plans, columns=["t_s", "plan"]).to_parquet(out / "plans.parquet")
    df = pd.read_parquet(out / "records.parquet")
    s = goodput_summary(df, duration, int(cfg.cluster.num_gpus))
    s.update(policy=str(policy.name), num_reconfigurations=stats.num_reconfigurations,
             num_group_switches=stats.num_group_switches, downtime_gpu_s=stats.downtime_gpu_s,
             num_kv_lost=stats.num_kv_lost, num_kv_migrated=stats.num_kv_migrated,
             num_preempted=stats.num_preempted,
             slos={k: {"ttft_s": v.ttft_s, "tpot_s": v.tpot_s} for k, v in slos.items()},
             profiles={t: {str(tp): p.rate_rps for tp, p in d.items()}
                       for t, d in profiles.profile.items()},
             sim_wall_s=wall, sim_requests_per_s=len(w) / wall if wall > 0 else float("nan"))
    return s


def run_nitsum(cfg: DictConfig, out_dir: str | Path) -> dict:
    """Run one configuration (see the module docstring); the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.backend.name not in ("sim", "engine"):
        raise ConfigError("backend", f"Nitsum runs on backend=sim or engine; got "
                          f"{cfg.backend.name!r}")
    tiers = build_tiers(cfg)
    w = build_workload(cfg, tiers)
    if cfg.backend.name == "engine":
        from experiments.nitsum.engine_run import run_engine

        s = run_engine(cfg, w, tiers, out)
    elif cfg.policy.name == "oracle":
        from experiments.nitsum.oracle import run_oracle

        s = run_oracle(cfg, w, tiers, out)
    else:
        s = run_pool(cfg, cfg.policy, w, tiers, out)
    (out / "summary.json").write_text(json.dumps(s, indent=2, default=float))
    return s
