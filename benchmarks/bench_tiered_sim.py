"""The tiered-pool simulator at scale: simulated requests per second of wall time and peak
memory (goal: 128 GPUs, one simulated hour, >= 5,000 requests/s and < 4 GB).

    python benchmarks/bench_tiered_sim.py [--gpus 128] [--duration 3600] [--rps 1000]
        [--policy nitsum|static] [--workload azure|servegen]

Peak memory is the process's maximum resident set (ru_maxrss), workload included."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from experiments.nitsum.runner import load_tiers
from toolkit.cost.tp import TPSwitchCost
from toolkit.plan.dispatch import LeastLoadedDispatch, NitsumDispatch, SLOAwareLocal
from toolkit.plan.nitsum import NitsumPlanner
from toolkit.plan.static import StaticTPPlanner
from toolkit.sim.tp_cluster import TieredPool
from toolkit.sim.tp_setup import pool_setup, slos_and_profiles
from toolkit.workloads.readers import default_data_dir
from toolkit.workloads.tiers import azure_tiered, servegen_tiered

TIERS = load_tiers("three")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=128)
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--rps", type=float, default=1000.0)
    ap.add_argument("--policy", choices=("nitsum", "static"), default="nitsum")
    ap.add_argument("--workload", choices=("azure", "servegen"), default="azure")
    ap.add_argument("--data", default=str(default_data_dir()))
    args = ap.parse_args()
    data = Path(args.data)
    t0 = time.perf_counter()
    if args.workload == "azure":
        w = azure_tiered(TIERS, data / "AzureLLMInferenceTrace_conv.csv", args.duration, args.rps)
    else:
        w = servegen_tiered(TIERS, data / "servegen_client_rates.csv.gz",
                            data / "AzureLLMInferenceTrace_conv.csv", args.duration, args.rps,
                            time_scale=24)
    build_s = time.perf_counter() - t0
    nitsum = args.policy == "nitsum"
    setup = pool_setup("llama3-8b", "h200", (1, 2, 4, 8), nitsum, TPSwitchCost(reuse=nitsum))
    slos, profiles = slos_and_profiles(setup, TIERS, w)
    planner = NitsumPlanner() if nitsum else StaticTPPlanner(2)
    dispatch = NitsumDispatch() if nitsum else LeastLoadedDispatch()
    pool = TieredPool(setup, planner, dispatch, SLOAwareLocal(), slos, profiles, args.gpus)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stats = pool.run(w, Path(tmp) / "records.parquet", drain_s=60.0)
        wall = time.perf_counter() - t0
        df = pd.read_parquet(Path(tmp) / "records.parquet", columns=["slo_met"])
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{args.gpus} GPUs, {args.duration:.0f} s, {len(w):,} requests ({args.workload}, "
          f"{args.policy}); workload built in {build_s:.1f} s")
    print(f"simulated in {wall:.1f} s: {len(w) / wall:,.0f} requests/s; peak memory "
          f"{peak_gb:.2f} GB; goodput {df['slo_met'].sum() / args.duration:.1f} req/s; "
          f"{stats.num_reconfigurations} reconfigurations")


if __name__ == "__main__":
    main()
