"""Offline profiles for a run, measured on the simulator once per setting and cached under
`.cache/nitsum` (the key: everything they depend on; the policy is not part of it)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from toolkit.plan.capacity import GroupProfile, ProfileTable
from toolkit.sim.tp_cluster import PoolSetup
from toolkit.sim.tp_profile import measure_profiles
from toolkit.workloads.tiers import TieredWorkload, TierSLO

PROFILE_VERSION = 4
"""Bump when the simulator's behaviour changes (a cached profile would no longer be what a
fresh measurement gives)."""
CACHE = Path(os.environ.get("TOOLKIT_CACHE", Path(__file__).resolve().parents[2] / ".cache"))


def profile_key(cfg: DictConfig, full_weights: bool) -> str:
    keep = {k: OmegaConf.to_container(cfg[k], resolve=True)
            for k in ("model", "gpu", "tiers", "workload", "cluster", "cost", "profile")}
    keep["full_weights"] = full_weights
    keep["version"] = PROFILE_VERSION
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def run_profiles(cfg: DictConfig, setup: PoolSetup, slos: dict[str, TierSLO],
                 analytic: ProfileTable, w: TieredWorkload, full_weights: bool) -> ProfileTable:
    """`cfg.profile.kind`: 'analytic' (the closed form) or 'measured' (cached)."""
    if cfg.profile.kind == "analytic":
        return analytic
    path = CACHE / "nitsum" / f"profiles-{profile_key(cfg, full_weights)}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return ProfileTable({t: {int(tp): GroupProfile(*v) for tp, v in d.items()}
                             for t, d in raw.items()}, analytic.best_effort)
    table = measure_profiles(setup, slos, analytic, w, float(cfg.profile.target),
                             float(cfg.profile.probe_s), seed=int(cfg.seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({t: {str(tp): [p.rate_rps, p.batch, p.decode_batch]
                                   for tp, p in d.items()}
                               for t, d in table.profile.items()}))
    tmp.replace(path)
    return table
