"""Check the cost models' fast run methods against their plain definitions, bit for bit.

    python benchmarks/check_cost_paths.py [--cases 20000]

`decode_steps_cum_s` must equal `np.cumsum(decode_steps_s(...))` and
`prefill_chunk_steps_s` must equal one `iteration_s` call per iteration
(`toolkit.cost.steps.iteration_steps_s`), float for float, over random run shapes
(short and long runs, runs crossing grid cells, runs under the floor). Exits 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolkit.cost.profiled import ProfiledCostModel  # noqa: E402
from toolkit.cost.steps import decode_steps_cum_s, iteration_steps_s  # noqa: E402


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def check(model, cases: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    bad = 0
    for _ in range(cases):
        n = rng.choice([0, 1, 2, 3, 5, 8, 16, 33, 64, 100, 256, 600])
        ctx = rng.randint(0, max(n, 1) * rng.choice([1, 10, 100, 1000, 5000, 20000, 200000]))
        steps = rng.choice([0, 1, 2, 5, 20, 47, 64, 65, 100, 500, 3000])
        if n > 0 and not _same(np.cumsum(model.decode_steps_s(n, ctx, steps)),
                               decode_steps_cum_s(model, n, ctx, steps)):
            bad += 1
            print("decode", n, ctx, steps)
        chunk = rng.choice([1, 7, 64, 512, 2048, 8192, 100000])
        done = rng.randint(0, rng.choice([10, 1000, 100000, 3000000]))
        steps = rng.choice([0, 1, 2, 5, 17, 100, 1000])
        if not _same(iteration_steps_s(model, chunk, done, n, ctx, steps),
                     model.prefill_chunk_steps_s(chunk, done, n, ctx, steps)):
            bad += 1
            print("prefill", chunk, done, n, ctx, steps)
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    args = parser.parse_args()
    bad = 0
    for kw in ({}, {"tp": 2}, {"use_mean": True}):
        model = ProfiledCostModel(**kw)
        n = check(model, args.cases)
        print(f"ProfiledCostModel({kw}): {'OK' if n == 0 else f'{n} MISMATCHES'}")
        bad += n
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
