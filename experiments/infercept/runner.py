"""Run one InferCept configuration: a pause-aware cluster over a trace with tool calls.

A run directory gets `records.parquet` (one row per request, plus the request's total pause
and returned tokens), `pauses.parquet` (one row per pause: `request_id, pause_index, action,
first_action, duration_s, decided_after_s, context_tokens, engine_id`), `summary.json` and
`config.yaml`. A run that fails halfway writes what it had before re-raising.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig

from experiments.common.runner import build_trace, kv_capacity, write_results
from experiments.infercept.metrics import infercept_summary, with_pause_columns
from toolkit.core.context_limit import fit_trace_context
from toolkit.core.errors import ConfigError
from toolkit.core.record import PAUSE_COLUMNS, records_to_frame
from toolkit.core.trace import Trace


def build_pause_cluster(cfg: DictConfig, trace: Trace) -> Any:
    """A `SimCluster` of `PauseSimEngine`s with the configured policy, costs and memory."""
    from toolkit.cache.null import NoPrefixCache
    from toolkit.cache.radix import RadixCache
    from toolkit.cost.pause_timing import CostPauseTiming
    from toolkit.sched.kv import KVManager
    from toolkit.sim.cluster import SimCluster
    from toolkit.sim.pause_engine import PauseSimEngine

    cost = instantiate(cfg.cost)
    swap = instantiate(cfg.swap)
    timing = CostPauseTiming(cost, swap)
    capacity = kv_capacity(cfg)
    if cfg.cluster.get("swap_space_tokens") is not None:
        swap_tokens = int(cfg.cluster.swap_space_tokens)
    else:
        swap_tokens = int(float(cfg.cluster.swap_space_gb) * 2**30 / swap.kv_bytes_per_token)
    num_engines = int(cfg.cluster.num_gpus) // int(cfg.cluster.tp)
    router = instantiate(cfg.router)(num_engines=num_engines, seed=int(cfg.seed), cost=cost)
    make_sched = instantiate(cfg.local_sched)
    tpk = trace.requests[0].tokens_per_key if len(trace) else 1
    timeout = cfg.run.pause_timeout_s

    def engine_factory(i: int, loop: Any, listener: Any) -> PauseSimEngine:
        cache = RadixCache() if cfg.cluster.prefix_cache else NoPrefixCache()
        return PauseSimEngine(
            i, make_sched(), KVManager(cache, capacity, tpk), cost, loop, listener,
            policy=instantiate(cfg.policy), timing=timing, swap_space_tokens=swap_tokens,
            pause_timeout_s=math.inf if timeout is None else float(timeout),
            known_duration=not bool(cfg.run.estimate_duration),
            max_context_len=cfg.model.get("max_context_len"),
            charge_copies=bool(cfg.run.charge_copies),
        )

    # InferCept's setups are single vLLM engines: no global router whose time to charge
    return SimCluster(router, num_engines, engine_factory, progress=bool(cfg.backend.progress),
                      router_decision_s=0.0)


def drain_until_s(cfg: DictConfig) -> float:
    """When the simulation stops: the window, then `drain_factor - 1` windows more, but at
    least `drain_min_s` (a short window must still let requests sit out their tool calls)."""
    if not cfg.run.window_s:
        return math.inf
    window = float(cfg.run.window_s)
    extra = max(window * (float(cfg.run.drain_factor) - 1.0), float(cfg.run.get("drain_min_s", 0)))
    return window + extra


def run_infercept(cfg: DictConfig, out_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Run one configuration; write results into `out_dir` when given."""
    if cfg.backend.name == "engine_inprocess":
        from experiments.infercept.engine_backend import run_engine

        return run_engine(cfg, out_dir)
    if cfg.backend.name != "sim":
        raise ConfigError("backend", f"InferCept runs on backend=sim or engine_inprocess, not "
                          f"{cfg.backend.name!r}")
    trace, truncated = fit_trace_context(build_trace(cfg), cfg.model.get("max_context_len"))
    cluster = build_pause_cluster(cfg, trace)
    until = drain_until_s(cfg)
    try:
        cluster.run(trace, until_s=until)
    finally:
        pauses = pd.DataFrame([row for e in cluster.engines for row in e.pause_rows],
                              columns=PAUSE_COLUMNS)
        df = with_pause_columns(records_to_frame(cluster.records.values()), trace)
        done = pauses.groupby("request_id").size()  # unfinished requests count theirs too
        df["num_pauses"] = df["request_id"].map(done).fillna(0).astype(int)
        df["context_truncated"] = df["request_id"].isin(truncated)
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            pauses.to_parquet(Path(out_dir) / "pauses.parquet", index=False)
            write_results(out_dir, cfg, df, None)
    meters = [e.meter for e in cluster.engines]
    summary = infercept_summary(df, pauses, meters, cfg, end_s=min(until, cluster.loop.now_s))
    if out_dir is not None:
        write_results(out_dir, cfg, df, summary)
    return df, summary
