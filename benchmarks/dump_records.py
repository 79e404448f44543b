"""Dump a simulated run's records to parquet, and compare two dumps bit for bit.

    python benchmarks/dump_records.py dump OUT_DIR [--case NAME ...]   # default: every case
    python benchmarks/dump_records.py compare DIR_A DIR_B

Cases are `bench_sim.CASES` plus a few smaller configurations that cover the other routers
and local schedulers. Speed work must leave every dump `DataFrame.equals` to the one made
before it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate

# run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_sim import CASES as BENCH_CASES  # noqa: E402
from experiments.common.runner import build_sim_cluster, build_trace
from experiments.common.sweep import compose_config
from toolkit.core.record import records_to_frame

CASES = dict(BENCH_CASES)
CASES.update({
    # Fig. 5 ablation steps: E2 without adjustments / with rebalancing, LPM local scheduler
    "step1_loogle": ["ablation=step1", "workload=loogle", "cluster.num_gpus=2"],
    "step2_programming": ["ablation=step2", "workload=programming", "cluster.num_gpus=4",
                          "workload.num_requests=3000"],
    "preble_videoqa": ["system=preble", "workload=videoqa", "cluster.num_gpus=2"],
    "e2_best_ratio_zipf": ["system=preble", "workload.num_requests=4000", "cluster.num_gpus=4",
                           "workload.popularity=zipf", "workload.rps=30",
                           "+router.pd_pick=best_ratio", "router.eviction_assume_full=true",
                           "router.include_own_prefill=false"],
    "sglang_rr": ["system=sglang_rr", "workload.num_requests=4000", "cluster.num_gpus=2",
                  "workload.rps=20"],
    "cache_aware_fcfs": ["router=cache_aware", "local_sched=fcfs",
                         "workload.num_requests=4000", "cluster.num_gpus=2"],
    "mooncake_preble_fit": ["system=preble", "workload=mooncake", "cluster.num_gpus=4"],
})


def run_case(name: str) -> tuple[pd.DataFrame, float]:
    cfg = compose_config("experiments.preble.conf", CASES[name])
    trace = build_trace(cfg)
    cost = instantiate(cfg.cost)
    cluster = build_sim_cluster(cfg, cost, trace.requests[0].tokens_per_key)
    t0 = time.perf_counter()
    cluster.run(trace)
    return records_to_frame(cluster.records.values()), time.perf_counter() - t0


def dump(out_dir: Path, names: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        df, sim_s = run_case(name)
        df.to_parquet(out_dir / f"{name}.parquet")
        print(f"{name}: {len(df)} records, {sim_s:.2f} s simulated", flush=True)


def compare(a: Path, b: Path) -> bool:
    ok = True
    for pa in sorted(a.glob("*.parquet")):
        pb = b / pa.name
        if not pb.exists():
            print(f"{pa.stem}: missing in {b}")
            ok = False
            continue
        da, db = pd.read_parquet(pa), pd.read_parquet(pb)
        same = da.equals(db)
        ok &= same
        print(f"{pa.stem}: {'identical' if same else 'DIFFERENT'} ({len(da)} rows)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dump")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--case", choices=sorted(CASES), action="append")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.cmd == "dump":
        dump(args.out_dir, args.case or list(CASES))
    else:
        sys.exit(0 if compare(args.a, args.b) else 1)


if __name__ == "__main__":
    main()
