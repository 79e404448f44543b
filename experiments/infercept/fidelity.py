"""InferCept fidelity: the same tool-calling trace on the real engine (the tiny model on this
CPU, pauses played by the driver in real time) and on the simulator timed by a profile of
that engine; errors in normalized latency, TTFT and throughput, and the pauses' actions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.common.profile import ensure_profile, profile_path, sim_errors
from experiments.common.sweep import run_points
from experiments.infercept.figures import CONFIG_MODULE
from experiments.infercept.runner import run_infercept

# The tiny model's trace: InferCept's math and QA augmentations (their tools return within
# seconds), token ids in its vocabulary, every context fitted to 384 tokens.
TRACE = ["setup=tiny_cpu", "workload.token_ids=true", "workload.vocab_size=768",
         "workload.max_context_len=384", "workload=mixed", "workload.augmentations=[math,qa]"]
METRICS = ("norm_latency_ms_mean", "norm_latency_ms_p99", "ttft_s_mean", "throughput_rps",
           "pauses_preserve", "pauses_discard", "pauses_swap")


def run_fidelity(quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", rates: Sequence[float] = (0.5, 1.0),
                 policy: str = "infercept") -> pd.DataFrame:
    """One row per (rate, backend), the engine's runs one at a time (they need the cores).
    The profile is the one Preble's fidelity runs use (`results_dir/fidelity`)."""
    out = Path(results_dir) / "fidelity"
    profile = ensure_profile(profile_path(out), quick)
    window = 30 if quick else 120
    rates = rates[:1] if quick else rates
    points = []
    for rps in rates:
        for backend in ("engine_inprocess", "sim"):
            ov = [*TRACE, f"policy={policy}", f"workload.rps={rps}",
                  f"workload.duration_s={window}", f"backend={backend}",
                  f"cost.path={profile.resolve()}", *overrides]
            labels = {"run": f"infercept/{policy}/{backend}_rps{rps:g}", "rps": rps,
                      "backend": "sim" if backend == "sim" else "engine"}
            points.append((labels, ov))
    return run_points(CONFIG_MODULE, points, out, n_jobs=1, run_fn=run_infercept)


def fidelity_errors(df: pd.DataFrame) -> pd.DataFrame:
    """Per rate: each metric on both backends and the simulator's relative error."""
    return sim_errors(df, ["rps"], METRICS)
