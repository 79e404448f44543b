"""Tensor parallelism on the CPU engine: decode step latency at TP 1 and 2 for batch 1 and
16, rank-seconds per token (step_s * tp / batch), TP switch time and KV migration time.

    python benchmarks/bench_engine_tp.py [--threads 1] [--layers 4] [--hidden 1024]

One `TPEngine` of two gloo rank processes runs every TP level (switching between them, so
the processes and weights are the same); a second one with two TP-1 instances migrates a
request. A random Llama-shaped model (random weights from a seed) keeps the matmuls large
enough that TP has compute to split. On a two-core CPU with one thread per rank, TP 2 pays
two all-reduces per layer through loopback sockets; it need not be faster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toolkit.engine.config import ModelConfig  # noqa: E402
from toolkit.engine.tp.engine import TPEngine  # noqa: E402

PROMPT_LEN = 64


def model_config(hidden: int, layers: int) -> ModelConfig:
    """A Llama-shaped model: head_dim 128, GQA 2:1, FFN 2.75x."""
    heads = hidden // 128
    return ModelConfig(vocab_size=4096, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                       num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=max(heads // 2, 2), head_dim=128,
                       max_position_embeddings=4096)


def prompts(num: int, length: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(3, 4096, (num, length), generator=gen).tolist()


def decode_ms(eng: TPEngine, tp: int, batch: int, new_tokens: int) -> float:
    """Median milliseconds of the pure decode steps of one batch at level `tp`."""
    eng.switch_tp(tp)
    res = eng.generate(prompts(batch, PROMPT_LEN, seed=tp * 100 + batch), new_tokens,
                       ignore_eos=True)
    decodes = res.step_s[1:]  # step 0 prefills every prompt (one chunk)
    return statistics.median(decodes) * 1e3


def bench_steps(eng: TPEngine, new_tokens: int) -> None:
    print(f"{'tp':>3} {'batch':>5} {'step ms':>9} {'rank-s/token':>13}")
    for batch in (1, 16):
        for tp in (1, 2):
            ms = decode_ms(eng, tp, batch, new_tokens)
            print(f"{tp:>3} {batch:>5} {ms:>9.2f} {ms / 1e3 * tp / batch:>13.5f}")


def bench_switch(eng: TPEngine, batch: int, new_tokens: int) -> None:
    eng.switch_tp(1)
    res = eng.generate(prompts(batch, PROMPT_LEN, seed=7), new_tokens, ignore_eos=True,
                       switch_at={new_tokens // 3: 2, 2 * new_tokens // 3: 1})
    for s in res.switches:
        print(f"switch TP{s.old_tp}->TP{s.new_tp}: {s.switch_s * 1e3:.2f} ms stop-to-resume, "
              f"{s.num_blocks} blocks, {s.bytes_moved / 2**20:.2f} MiB sent")


def bench_migration(cfg: ModelConfig, threads: int, contexts: list[int]) -> None:
    with TPEngine(cfg, world_size=2, tp=1, num_instances=2, num_threads=threads,
                  num_kv_blocks=512, block_size=16, chunk_size=4096) as eng:
        for i, ctx in enumerate(contexts):
            rid = eng.add_request(prompts(1, ctx, seed=i)[0], 4, ignore_eos=True)
            eng.step(0)
            eng.step(0)
            m = eng.migrate(rid, 1)
            while eng.has_unfinished(1):
                eng.step(1)
            print(f"migrate {m.num_tokens} KV tokens ({m.num_blocks} blocks): "
                  f"{m.migrate_s * 1e3:.2f} ms, {m.bytes_moved / 2**20:.2f} MiB "
                  f"({m.bytes_moved / m.migrate_s / 2**30:.2f} GiB/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=24)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = model_config(args.hidden, args.layers)
    print(f"torch {torch.__version__}; {args.threads} thread(s) per rank, 2 gloo ranks; "
          f"model hidden {cfg.hidden_size}, {cfg.num_hidden_layers} layers, "
          f"{cfg.num_attention_heads}/{cfg.num_key_value_heads} heads, ffn "
          f"{cfg.intermediate_size}; prompts of {PROMPT_LEN} tokens")
    with TPEngine(cfg, world_size=2, tp=1, num_threads=args.threads, num_kv_blocks=512,
                  block_size=16, chunk_size=4096) as eng:
        bench_steps(eng, args.new_tokens)
        bench_switch(eng, 16, args.new_tokens)
    bench_migration(cfg, args.threads, [64, 512, 2048])


if __name__ == "__main__":
    main()
