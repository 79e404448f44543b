"""Building a tiered pool from settings: cost models per TP level, KV capacities, SLOs and
the offline profiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from toolkit.cost.capacity import kv_capacity_tokens
from toolkit.cost.specs import get_model_spec
from toolkit.cost.tp import TPCostModel, TPSwitchCost
from toolkit.plan.capacity import ProfileTable
from toolkit.sim.tp_cluster import PoolSetup
from toolkit.workloads.tiers import Tier, TieredWorkload, TierSLO, resolve_slos


def pool_setup(model: str, gpu: str, tp_levels: Sequence[int], full_weights: bool,
               switch: TPSwitchCost | None = None, small_batch_gain: float = 1.0,
               chunk_tokens: int = 2048, **cost_options) -> PoolSetup:
    """Costs and KV per TP level. `full_weights` (Nitsum's reuse): every GPU holds the whole
    model, so a group of t GPUs has t times one GPU's KV room beside a full copy; otherwise
    each GPU holds its 1/t shard (the static systems)."""
    def cost(t: int) -> TPCostModel:
        return TPCostModel(model, gpu, t, small_batch_gain=small_batch_gain, **cost_options)

    costs = {t: cost(t) for t in tp_levels}
    kv = {t: t * kv_capacity_tokens(model, gpu, 1) if full_weights
          else kv_capacity_tokens(model, gpu, t) for t in tp_levels}
    return PoolSetup(costs, kv, get_model_spec(model), switch or TPSwitchCost(),
                     chunk_tokens, slo_basis=None if 1 in costs else cost(1))


def slos_and_profiles(setup: PoolSetup, tiers: Sequence[Tier], w: TieredWorkload,
                      max_batch: int = 256) -> tuple[dict[str, TierSLO], ProfileTable]:
    """SLOs from the TP-1 model at the workload's median prompt and context (whatever TP
    levels the pool has); profiles at its mean prompt and output."""
    ref_prompt = int(np.median(w.prompt_len))
    ref_ctx = int(np.median(w.prompt_len + w.output_len / 2))
    slos = resolve_slos(tiers, setup.slo_basis, ref_prompt, ref_ctx)
    table = ProfileTable.build(setup.costs, slos, float(w.prompt_len.mean()),
                               float(w.output_len.mean()), setup.kv_tokens, max_batch)
    return slos, table
