"""Micro-benchmark of `RadixCache` on a synthetic shared-prefix workload.

Each request is one of `num_prefixes` shared prefixes plus a fresh random tail and goes
through the simulator's sequence: match, lock, (evict), insert, lock, unlock, unlock.
Prints requests per second without eviction pressure and with a capacity cap.

    python benchmarks/bench_radix.py [--requests 20000] [--prefixes 300] [--numpy]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolkit.cache.radix import RadixCache  # noqa: E402


def make_requests(
    num_requests: int,
    num_prefixes: int,
    prefix_len: int,
    tail_len: int,
    seed: int = 0,
    as_numpy: bool = False,
) -> list[Sequence[int]]:
    """Prompts `prefix + tail`; prefix lengths jitter ±10%, and prefixes share a system
    prompt of `prefix_len // 4` tokens so the tree has several levels."""
    rng = np.random.default_rng(seed)
    system = rng.integers(0, 32000, prefix_len // 4)
    prefixes = []
    for _ in range(num_prefixes):
        own_len = int(prefix_len * rng.uniform(0.9, 1.1)) - len(system)
        prefixes.append(np.concatenate([system, rng.integers(0, 32000, own_len)]))
    picks = rng.zipf(1.2, num_requests) % num_prefixes
    prompts: list[Sequence[int]] = []
    for pick in picks:
        prompt = np.concatenate([prefixes[pick], rng.integers(0, 32000, tail_len)])
        prompts.append(prompt if as_numpy else prompt.tolist())
    return prompts


def run(prompts: list[Sequence[int]], capacity: int | None) -> tuple[float, int, int]:
    """Serve every prompt; return (seconds, cached tokens hit, tokens evicted)."""
    cache = RadixCache()
    hit = evicted = 0
    start = time.perf_counter()
    for prompt in prompts:
        matched = cache.match(prompt)
        cache.lock(matched.node)
        hit += matched.length
        if capacity is not None:
            over = cache.total_size + len(prompt) - matched.length - capacity
            if over > 0:
                evicted += cache.evict(over)
        inserted = cache.insert(prompt)
        cache.lock(inserted.node)
        cache.unlock(matched.node)
        cache.unlock(inserted.node)
    seconds = time.perf_counter() - start
    cache.check_integrity()
    return seconds, hit, evicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--prefixes", type=int, default=300)
    parser.add_argument("--prefix-len", type=int, default=1500)
    parser.add_argument("--tail-len", type=int, default=300)
    parser.add_argument(
        "--capacity", type=int, default=500_000, help="token cap for the eviction-pressure run"
    )
    parser.add_argument("--numpy", action="store_true", help="pass prompts as numpy arrays")
    args = parser.parse_args()
    prompts = make_requests(
        args.requests, args.prefixes, args.prefix_len, args.tail_len, as_numpy=args.numpy
    )
    total = sum(len(p) for p in prompts)
    for label, capacity in (("no eviction", None), (f"capacity {args.capacity}", args.capacity)):
        seconds, hit, evicted = run(prompts, capacity)
        print(
            f"{label:>20}: {len(prompts) / seconds:9.0f} req/s "
            f"({1e6 * seconds / len(prompts):6.1f} us/req, hit {hit / total:.1%}, "
            f"evicted {evicted} tokens)"
        )


if __name__ == "__main__":
    main()
