"""Paged decode attention on a CPU: the batched PyTorch path against the per-sequence
reference, microseconds per call at a few shapes (the tiny model's heads and Llama-3-8B's).

    python benchmarks/bench_decode_cpu.py [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from llmserve_kernels.paged_decode import batched, reference  # noqa: E402

# (batch, Hq, Hkv, head_dim, block_size, min ctx, max ctx)
SHAPES = [(8, 4, 2, 32, 16, 100, 300), (1, 4, 2, 32, 16, 500, 501),
          (32, 32, 8, 128, 16, 500, 1500), (64, 4, 2, 32, 16, 10, 600)]


def time_us(fn: Callable[..., Any], call: tuple, reps: int) -> float:
    """Mean microseconds of `fn(*call)` over `reps` calls, after three warm-up calls."""
    for _ in range(3):
        fn(*call)
    start = time.perf_counter()
    for _ in range(reps):
        fn(*call)
    return (time.perf_counter() - start) / reps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s); microseconds per call")
    for batch, hq, hkv, d, bs, lo, hi in SHAPES:
        k = torch.randn(4000, bs, hkv, d, generator=gen)
        v = torch.randn(4000, bs, hkv, d, generator=gen)
        lens = torch.randint(lo, hi, (batch,), dtype=torch.int32, generator=gen)
        table = torch.stack([torch.randperm(4000, generator=gen)[: hi // bs + 2]
                             for _ in range(batch)]).int()  # fmt: skip
        q = torch.randn(batch, hq, d, generator=gen)
        call = (q, k, v, table, lens, d**-0.5)
        reps = 10 if hq * d * hi * batch > 10**7 else 200
        fast = time_us(batched.paged_decode_attention, call, reps)
        ref = time_us(reference.paged_decode_attention, call, reps)
        print(f"B={batch:3d} Hq={hq:2d} Hkv={hkv} D={d:3d} ctx {lo}-{hi}: batched {fast:10.0f}, "
              f"reference {ref:10.0f}  ({ref / fast:.2f}x)")


if __name__ == "__main__":
    main()
