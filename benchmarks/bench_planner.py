"""Nitsum planner decision time at 8, 32 and 128 GPUs (goal: under 5 ms at 128; Nitsum's
Rust scheduler takes ~2.5 ms).

    python benchmarks/bench_planner.py [--calls 200]
"""

from __future__ import annotations

import argparse

from experiments.nitsum.speed import planner_times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    print(planner_times(calls=args.calls).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
