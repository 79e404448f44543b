"""Route() decisions per second of the Preble E2 router on synthetic keys.

Tool-use-like: 300 shared prefixes of 1,500 tokens, each request adding a 300-token random
tail; video-QA-like: 8 prefixes of 8,000 tokens with 30-token tails. Requests arrive at
`--rate` per simulated second and finish (feeding `observe`) 64 requests later, so the
window, in-flight references and virtual caches are all exercised.

    python benchmarks/bench_router.py [--num-requests 20000] [--gpus 2 4 8 16]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolkit.core.request import Request  # noqa: E402
from toolkit.cost.base import BatchShape, CostModel  # noqa: E402
from toolkit.route.base import RequestEvent  # noqa: E402
from toolkit.route.preble_e2 import PrebleE2Router  # noqa: E402
from toolkit.route.testing import StaticView  # noqa: E402


class LinearCost(CostModel):
    """About Llama-8B-on-one-GPU magnitudes: 60 µs per new prefill token, 25 ms per step."""

    def iteration_s(self, batch: BatchShape) -> float:
        return 0.025 + 6e-5 * sum(batch.prefill_new) + 1e-7 * batch.decode_ctx_sum


def make_requests(n: int, num_prefixes: int, prefix_len: int, tail_len: int,
                  rate: float, seed: int = 0) -> list[Request]:
    """`n` requests over `num_prefixes` random prefixes plus random tails (token ids)."""
    rng = random.Random(seed)
    prefixes = [tuple(rng.randrange(32_000) for _ in range(prefix_len)) for _ in range(num_prefixes)]
    out = []
    for i in range(n):
        p = prefixes[min(int(rng.paretovariate(1.2)) - 1, num_prefixes - 1)
                     if rng.random() < 0.5 else rng.randrange(num_prefixes)]
        tail = tuple(rng.randrange(32_000) for _ in range(tail_len))
        out.append(Request(f"r{i}", i / rate, rng.randint(10, 200), prompt_token_ids=p + tail))
    return out


def bench(requests: list[Request], num_gpus: int, lag: int = 64) -> float:
    """Decisions per second of a fresh E2 router over `requests` (finishes `lag` later)."""
    router = PrebleE2Router(num_gpus, cost=LinearCost())
    view = StaticView.of(num_gpus, kv_capacity_tokens=198_516)
    routed: list[tuple[Request, int]] = []
    t0 = time.perf_counter()
    for i, req in enumerate(requests):
        view.time_s = req.arrival_s
        routed.append((req, router.route(req, view)))
        if i >= lag:
            done, eng = routed[i - lag]
            now = req.arrival_s
            router.observe(RequestEvent("first_token", done, eng, now, 0.2, 0.0, 0))
            router.observe(RequestEvent("finish", done, eng, now, 0.2, 0.02, 0))
    elapsed = time.perf_counter() - t0
    return len(requests) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-requests", type=int, default=20_000)
    ap.add_argument("--gpus", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--rate", type=float, default=100.0, help="arrivals per simulated second")
    args = ap.parse_args()
    workloads = {
        "tool-use (300 x 1500 + 300)": make_requests(args.num_requests, 300, 1500, 300, args.rate),
        "video-QA (8 x 8000 + 30)": make_requests(args.num_requests, 8, 8000, 30, args.rate),
    }
    for name, reqs in workloads.items():
        for g in args.gpus:
            print(f"{name:30s} gpus={g:3d}  {bench(reqs, g):9.0f} route()/s", flush=True)


if __name__ == "__main__":
    main()
