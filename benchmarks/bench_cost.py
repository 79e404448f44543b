"""Calls per second of `iteration_s` for each cost model on typical simulator batches.

Run: python benchmarks/bench_cost.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolkit.cost.base import BatchShape  # noqa: E402
from toolkit.cost.factory import make_cost_model  # noqa: E402

BATCHES = {
    "decode-64": BatchShape(num_decode=64, decode_ctx_sum=64 * 1500),
    "prefill-1": BatchShape((512,), (2048,)),
    "mixed-1+32": BatchShape((480,), (1000,), 32, 32 * 2000),
    "mixed-4+128": BatchShape((128, 128, 128, 100), (0, 4096, 800, 0), 128, 128 * 3000),
}
MODELS = {
    "profiled llama3-8b tp1": ("profiled", "llama3-8b", "h200", 1),
    "profiled llama3-70b tp4": ("profiled", "llama3-70b", "h200", 4),
    "roofline llama3-8b a100": ("roofline", "llama3-8b", "a100", 1),
    "preble_fit mistral-7b a6000": ("preble_fit", "mistral-7b", "a6000", 1),
}


def calls_per_second(fn, batch: BatchShape, min_s: float = 0.2) -> float:
    """Repeat `fn(batch)` in blocks of 10,000 until `min_s` has passed."""
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(10_000):
            fn(batch)
        n += 10_000
        elapsed = time.perf_counter() - start
        if elapsed >= min_s:
            return n / elapsed


def main() -> None:
    print(f"{'model':30s} " + " ".join(f"{b:>13s}" for b in BATCHES))
    for label, args in MODELS.items():
        model = make_cost_model(*args)
        rates = [calls_per_second(model.iteration_s, b) for b in BATCHES.values()]
        print(f"{label:30s} " + " ".join(f"{r / 1e6:10.2f} M/s" for r in rates))
    model = make_cost_model("profiled", "llama3-8b", "h200")
    start = time.perf_counter()
    model.decode_steps_s(64, 64 * 1500, 100_000)
    print(f"decode_steps_s: 100,000 steps in {(time.perf_counter() - start) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
