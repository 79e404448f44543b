"""Preble's Fig. 3 workloads on real backends: the toolkit's engine servers or servers you run
(vLLM), shrunk for the tiny model, Preble vs SGLang round-robin, hit ratio and latency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.common.sweep import run_points
from experiments.preble.figures import CONFIG_MODULE, SYSTEMS, WORKLOADS

# Per workload: (prefixes, requests per 2 GPUs, rate, keep every k-th prompt token). Thinning
# keeps prompts under the tiny model's 2,048-token context and sharing intact.
SHRUNK = {
    "toolbench": (20, 120, 8.0, 8), "embodied": (10, 120, 8.0, 8),
    "programming": (10, 80, 4.0, 8), "videoqa": (15, 90, 4.0, 16), "loogle": (6, 60, 2.0, 32),
}
COMMON = ["trace.vocab_size=768", "trace.max_output_len=16", "trace.max_prompt_len=1900",
          "model=llama3-8b", "gpu=h200", "cost=profiled", "cluster.num_gpus=2"]


def run_real_workloads(backend: str = "engine", urls: Sequence[str] = (), quick: bool = False,
                       overrides: Sequence[str] = (), results_dir: str | Path = "results/preble",
                       served_model: str | None = None) -> pd.DataFrame:
    """One row per workload and system on `backend` ('engine' or 'http' with `urls`)."""
    workloads = WORKLOADS[:2] if quick else WORKLOADS
    extra = [f"backend={backend}"]
    if backend == "http":
        extra += [f"backend.urls=[{','.join(urls)}]"]
        if served_model:
            extra += [f"backend.served_model={served_model}"]
    points = []
    for wl in workloads:
        prefixes, n, rps, every = SHRUNK[wl]
        n = min(n, 60) if quick else n
        for system in SYSTEMS:
            ov = [f"workload={wl}", f"system={system}", f"workload.num_prefixes={prefixes}",
                  f"workload.num_requests={n}", f"workload.rps={rps}",
                  f"trace.keep_every={every}", *COMMON, *extra, *overrides]
            points.append(({"run": f"{backend}/{wl}/{system}", "workload": wl,
                            "system": system, "backend": backend}, ov))
    return run_points(CONFIG_MODULE, points, Path(results_dir) / "real", n_jobs=1)


def hit_ratio_table(df: pd.DataFrame) -> pd.DataFrame:
    """Hit ratio and mean latency per workload, Preble beside round-robin."""
    wide = df.pivot_table(index="workload", columns="system",
                          values=["cache_hit_ratio", "latency_s_mean", "num_failed"])
    wide.columns = [f"{m}_{s}" for m, s in wide.columns]
    wide["preble_hits_more"] = wide["cache_hit_ratio_preble"] > wide["cache_hit_ratio_sglang_rr"]
    return wide.reset_index()
