"""Simulator fidelity: the same trace on the real engine and on the simulator calibrated
from a profile of that engine on this device; errors in mean/p99 latency, TTFT, throughput.

The engine runs the tiny model on the CPU (one thread per engine process, two engines behind
the router proxy); the profile is taken the same way (`python -m toolkit.profiling.profile`),
and the simulator points of the HTTP setup also pay what the serving path costs, measured by
`python -m toolkit.profiling.serving` into the same file (`cost.serving=http`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from experiments.common.profile import ensure_profile, profile_path, sim_errors
from experiments.common.sweep import run_points
from experiments.preble.figures import CONFIG_MODULE

BLOCK_SIZE, NUM_KV_BLOCKS = 16, 512
TRACE = ["workload=toolbench", "workload.num_prefixes=20", "trace.keep_every=4",
         "trace.vocab_size=768", "trace.max_output_len=48", "model=llama3-8b", "gpu=h200"]
METRICS = ("latency_s_mean", "latency_s_p99", "ttft_s_mean", "ttft_s_p99", "tpot_s_mean",
           "throughput_rps", "cache_hit_ratio")


# (setup, real backend, GPUs): the engine alone in this process (what the simulator models),
# and two engine servers behind the router proxy and HTTP (the whole serving stack).
SETUPS = (("inprocess_1", "engine_inprocess", 1), ("http_2", "engine", 2))


def run_fidelity(quick: bool = False, overrides: Sequence[str] = (),
                 results_dir: str | Path = "results/preble", rates: Sequence[float] = (6, 12, 18),
                 system: str = "preble", setups: Sequence[str] | None = None,
                 repeats: int = 1) -> pd.DataFrame:
    """One row per (setup, rate, backend, repeat); real runs go one at a time (they need the
    cores), each real point `repeats` times (the simulator's once: it is deterministic).

    Rates are per 2 GPUs (the workload scales with `cluster.num_gpus`); `setups` picks some
    of `SETUPS` by name (default: all)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    out = Path(results_dir) / "fidelity"
    profile = ensure_profile(profile_path(out), quick, serving=True)
    n = 80 if quick else 300
    rates = rates[:1] if quick else rates
    common = [*TRACE, f"system={system}", f"workload.num_requests={n}",
              f"cluster.kv_capacity_tokens={BLOCK_SIZE * NUM_KV_BLOCKS}"]
    points = []
    for setup, real, gpus in SETUPS:
        if setups is not None and setup not in setups:
            continue
        for rps in rates:
            for backend in (real, "sim"):
                ov = [*common, f"workload.rps={rps}", f"backend={backend}",
                      f"cluster.num_gpus={gpus}"]
                if backend == "sim":
                    ov += ["cost=profiled_file", f"cost.path={profile.resolve()}",
                           f"cost.serving={'http' if real == 'engine' else 'none'}"]
                else:
                    ov += [f"backend.block_size={BLOCK_SIZE}",
                           f"backend.num_kv_blocks={NUM_KV_BLOCKS}", "cost=profiled"]
                for k in range(1 if backend == "sim" else repeats):
                    labels = {"run": f"{setup}/{backend}_rps{rps}" + (f"_r{k}" if k else ""),
                              "setup": setup, "backend": "sim" if backend == "sim" else "engine",
                              "rps": rps, "repeat": k}
                    points.append((labels, [*ov, *overrides]))
    return run_points(CONFIG_MODULE, points, out, n_jobs=1)


GOAL_PCT = {"inprocess_1": 10.0, "http_2": 15.0}
"""The largest mean-latency error each setup aims for (issue #12)."""


def serving_charge(results_dir: str | Path = "results/preble") -> dict:
    """The HTTP path's measured charge the `http_2` simulator points paid (`serving.http`
    of the profile `run_fidelity` took)."""
    path = profile_path(Path(results_dir) / "fidelity")
    return json.loads(path.read_text())["models"][0]["serving"]["http"]


def goal_table(errors: pd.DataFrame) -> pd.DataFrame:
    """Per setup: the worst |mean-latency error| over the rates against `GOAL_PCT`, and the
    widest run-to-run spread of the engine's own mean latency over the rates (NaN unless the
    real points ran more than once): an error inside it is not told apart from noise."""
    lat = errors[errors.metric == "latency_s_mean"]
    worst = lat.groupby("setup").error_pct.apply(lambda e: float(e.abs().max()))
    spread = (lat.groupby("setup").engine_spread_pct.max() if "engine_spread_pct" in lat
              else pd.Series(float("nan"), index=worst.index))
    return pd.DataFrame({"worst_pct": worst, "goal_pct": [GOAL_PCT[s] for s in worst.index],
                         "met": [worst[s] <= GOAL_PCT[s] for s in worst.index],
                         "engine_spread_pct": spread.reindex(worst.index)})


def fidelity_errors(df: pd.DataFrame) -> pd.DataFrame:
    """Per setup and rate: each metric on both backends and the simulator's relative error."""
    return sim_errors(df, ["setup", "rps"], METRICS)
