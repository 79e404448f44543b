"""Build a cluster from a composed config, run the trace, and write the run's results.

A run directory gets `records.parquet` (one row per request), `summary.json` (the metrics)
and `config.yaml` (the resolved config). A run that fails halfway still writes the
records it had before re-raising.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from toolkit.core.errors import ConfigError
from toolkit.core.record import records_to_frame
from toolkit.core.trace import Trace
from toolkit.cost.base import CostModel
from toolkit.metrics.summary import summarize

log = logging.getLogger(__name__)


def _shared_data(name: str) -> str:
    from toolkit.workloads.readers import default_data_dir

    return str(default_data_dir() / name)


# `${shared_data:FILE}`: FILE in $TOOLKIT_SHARED/data (default ../shared/data beside the repo)
OmegaConf.register_new_resolver("shared_data", _shared_data, replace=True)

BACKENDS = ("sim", "engine", "engine_inprocess", "http")


def build_trace(cfg: DictConfig) -> Trace:
    """The workload's trace (a generator or a trace file, per `cfg.workload`).

    `workload.name` labels the run; every other key is an argument of `workload._target_`.
    """
    spec = OmegaConf.to_container(cfg.workload, resolve=True)
    name = spec.pop("name", "trace")
    trace = instantiate(spec)
    if not isinstance(trace, Trace):
        raise ConfigError("workload", f"_target_ must build a Trace, got {type(trace).__name__}")
    trace.name = name
    shrink = cfg.get("trace")
    if shrink is not None and any(v not in (None, 1) for v in shrink.values()):
        from toolkit.workloads.transform import shrink_trace

        trace = shrink_trace(trace, int(shrink.keep_every), shrink.vocab_size,
                             shrink.max_prompt_len, shrink.max_output_len)
    return trace


def engine_count(cfg: DictConfig) -> int:
    """Engines in the cluster: `cluster.num_gpus / cluster.tp`, validated."""
    gpus, tp = int(cfg.cluster.num_gpus), int(cfg.cluster.tp)
    if gpus <= 0 or tp <= 0 or gpus % tp:
        raise ConfigError("cluster.num_gpus", f"{gpus} GPUs cannot form engines of tp={tp}")
    return gpus // tp


def kv_capacity(cfg: DictConfig) -> int:
    """KV slots per engine: `cluster.kv_capacity_tokens`, or derived from model and GPU."""
    if cfg.cluster.get("kv_capacity_tokens"):
        return int(cfg.cluster.kv_capacity_tokens)
    from toolkit.cost.factory import kv_capacity_tokens

    return kv_capacity_tokens(cfg.model.name, cfg.gpu.name, int(cfg.cluster.tp),
                              float(cfg.cluster.mem_fraction))


def build_sim_cluster(cfg: DictConfig, cost: CostModel, tokens_per_key: int) -> Any:
    """A `SimCluster` with the configured router, local scheduler and prefix caches."""
    from toolkit.cache.radix import RadixCache
    from toolkit.sched.kv import KVManager
    from toolkit.sim.cluster import SimCluster
    from toolkit.sim.engine import SimEngine

    num_engines = engine_count(cfg)
    capacity = kv_capacity(cfg)
    router = instantiate(cfg.router)(num_engines=num_engines, seed=int(cfg.seed), cost=cost)
    make_sched = instantiate(cfg.local_sched)

    def engine_factory(i: int, loop: Any, listener: Any) -> SimEngine:
        kv = KVManager(RadixCache(), capacity, tokens_per_key)
        return SimEngine(i, make_sched(), kv, cost, loop, listener, float(cfg.cluster.hit_window_s))

    return SimCluster(router, num_engines, engine_factory, progress=bool(cfg.backend.progress),
                      router_decision_s=router_decision_s(cfg))


def router_decision_s(cfg: DictConfig) -> float | None:
    """`backend.router_decision_s`: 'auto' (None: the router's measured time) or seconds."""
    value = cfg.backend.get("router_decision_s", "auto")
    if value == "auto":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise ConfigError("backend.router_decision_s", f"'auto' or seconds >= 0, got {value!r}")
    return seconds


def run_config(cfg: DictConfig, out_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Run one configured experiment; write results into `out_dir` when given.

    Records are written even when the run fails halfway (then re-raised).
    """
    if cfg.backend.name not in BACKENDS:
        raise ConfigError("backend", f"unknown backend '{cfg.backend.name}', known: {BACKENDS}")
    trace = build_trace(cfg)
    cost = instantiate(cfg.cost)
    records: dict = {}
    try:
        if cfg.backend.name == "sim":
            cluster = build_sim_cluster(cfg, cost, trace.requests[0].tokens_per_key if len(trace) else 1)
            records = cluster.records
            cluster.run(trace)
        elif cfg.backend.name == "engine_inprocess":
            from experiments.common.backends import run_inprocess

            records = {r.request_id: r for r in run_inprocess(cfg, trace, engine_count(cfg))}
        else:
            from experiments.common.backends import run_real

            num_engines = engine_count(cfg)
            router = instantiate(cfg.router)(num_engines=num_engines, seed=int(cfg.seed), cost=cost)
            records = {r.request_id: r for r in run_real(cfg, trace, router, num_engines)}
    except BaseException:
        if out_dir is not None:  # keep what the run had before it failed
            write_results(out_dir, cfg, records_to_frame(records.values()), None)
        raise
    df = records_to_frame(records.values())
    summary = summarize(df)
    summary.update(run_labels(cfg))
    if out_dir is not None:
        write_results(out_dir, cfg, df, summary)
    return df, summary


def run_labels(cfg: DictConfig) -> dict[str, Any]:
    """Labels that identify a run in a sweep's table."""
    return {
        "system": cfg.get("system_name", "custom"),
        "workload": cfg.workload.get("name", "trace"),
        "rps": cfg.workload.get("rps"),
        "num_gpus": int(cfg.cluster.num_gpus),
        "tp": int(cfg.cluster.tp),
        "model": cfg.model.name,
        "gpu": cfg.gpu.name,
        "seed": int(cfg.seed),
        "backend": cfg.backend.name,
    }


def write_results(out_dir: str | Path, cfg: DictConfig, df: pd.DataFrame, summary: dict | None) -> None:
    """Write records.parquet, config.yaml and (when given) summary.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "records.parquet", index=False)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if summary is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)
