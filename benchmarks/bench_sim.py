"""Simulator speed: simulated requests per wall-clock second and peak memory.

    python benchmarks/bench_sim.py            # both cases below, each in its own process
    python benchmarks/bench_sim.py --case toolbench

Cases: a 4-GPU Preble run (E2 router, priority scheduler) of 20,000 tool-use requests on
Mistral-7B/A6000 (Preble's fit), and the 12,031-request Mooncake conversation trace on
8 H200s (Llama-3-8B, profiled costs). Trace generation is timed apart from simulation.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from hydra.utils import instantiate

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common.runner import build_sim_cluster, build_trace  # noqa: E402
from experiments.common.sweep import compose_config  # noqa: E402
from toolkit.core.record import records_to_frame  # noqa: E402
from toolkit.metrics.summary import summarize  # noqa: E402

CASES = {
    "toolbench": ["system=preble", "workload=toolbench", "workload.num_requests=20000",
                  "workload.num_prefixes=1000", "workload.rps=36", "cluster.num_gpus=4",
                  "workload.num_gpus=2"],
    "mooncake": ["system=preble", "workload=mooncake", "model=llama3-8b", "gpu=h200",
                 "cost=profiled", "cluster.num_gpus=8"],
}


def run_case(name: str) -> dict:
    cfg = compose_config("experiments.preble.conf", CASES[name])
    t0 = time.perf_counter()
    trace = build_trace(cfg)
    t1 = time.perf_counter()
    cost = instantiate(cfg.cost)
    cluster = build_sim_cluster(cfg, cost, trace.requests[0].tokens_per_key)
    cluster.run(trace)
    t2 = time.perf_counter()
    summary = summarize(records_to_frame(cluster.records.values()))
    return {
        "case": name, "requests": len(trace), "trace_s": round(t1 - t0, 2),
        "simulate_s": round(t2 - t1, 2), "sim_req_per_s": round(len(trace) / (t2 - t1)),
        "iterations": sum(e.num_iterations for e in cluster.engines),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "mean_latency_s": round(summary["latency_s_mean"], 3),
        "hit_ratio": round(summary["cache_hit_ratio"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    names = parser.parse_args().case or list(CASES)
    if len(names) == 1:
        print(run_case(names[0]), flush=True)
        return
    for name in names:  # a fresh process per case, so peak_rss_mb is that case's own
        subprocess.run([sys.executable, __file__, "--case", name], check=True)


if __name__ == "__main__":
    main()
