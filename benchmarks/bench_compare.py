"""Compare simulator speed across source trees (e.g. `git archive` copies of two commits).

    python benchmarks/bench_compare.py --case toolbench --rounds 3 TREE_A TREE_B ...

Each round runs every tree once, in turn, in a fresh process with that tree first on the
path; the best CPU time per tree is reported. On a shared or busy machine, interleaved
best-of-N CPU time is far steadier than one wall-clock run of `bench_sim.py`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_CHILD = r"""
import sys, time
from hydra.utils import instantiate
from benchmarks.bench_sim import CASES
from experiments.common.runner import build_sim_cluster, build_trace
from experiments.common.sweep import compose_config
cfg = compose_config("experiments.preble.conf", CASES[sys.argv[1]])
trace = build_trace(cfg)
cost = instantiate(cfg.cost)
cluster = build_sim_cluster(cfg, cost, trace.requests[0].tokens_per_key)
c0 = time.process_time()
cluster.run(trace)
print(len(trace), time.process_time() - c0)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--case", default="toolbench")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best = dict.fromkeys(args.trees, float("inf"))
    num = 0
    for _ in range(args.rounds):
        for tree in args.trees:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                os.path.abspath(os.path.join(tree, d)) for d in (".", "kernels")))
            out = subprocess.run([sys.executable, "-c", _CHILD, args.case], cwd=tree, env=env,
                                 capture_output=True, text=True, check=True)
            n, cpu_s = out.stdout.split()
            num = int(n)
            best[tree] = min(best[tree], float(cpu_s))
    for tree, cpu_s in best.items():
        print(f"{tree}: {args.case} best CPU {cpu_s:.3f} s -> {num / cpu_s:.0f} req/s")


if __name__ == "__main__":
    main()
