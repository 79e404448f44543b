"""Tensor parallelism on the CPU engine: decode step latency at TP 1 and 2 for batch 1 and
16, rank-seconds per token (step_s * tp / batch), TP switch time and KV migration time.

    python benchmarks/bench_engine_tp.py [--threads 1] [--layers 4] [--hidden 1024]

The measurements are `experiments.nitsum.engine_tp`'s (the Fig. 2 and Fig. 7 notebooks show
the same): one `TPEngine` of two gloo rank processes runs every TP level (switching between
them, so the processes and weights are the same); a second one with two TP-1 instances
migrates a request. A random Llama-shaped model keeps the matmuls large enough that TP has
compute to split. On a two-core CPU with one thread per rank, TP 2 pays two all-reduces per
layer through loopback sockets; it need not be faster.
"""

from __future__ import annotations

import argparse

import torch

from experiments.nitsum.engine_tp import llama_shaped, migrations, tp_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = llama_shaped(args.hidden, args.layers)
    print(f"torch {torch.__version__}; {args.threads} thread(s) per rank, 2 gloo ranks; "
          f"model hidden {cfg.hidden_size}, {cfg.num_hidden_layers} layers, "
          f"{cfg.num_attention_heads}/{cfg.num_key_value_heads} heads, ffn "
          f"{cfg.intermediate_size}; prompts of 64 tokens")
    steps, switches = tp_steps(False, cfg, args.threads)
    print(steps.drop(columns="backend").round(4).to_string(index=False))
    print(switches.round(2).to_string(index=False))
    mig = migrations(False, cfg, args.threads)
    mig["gib_per_s"] = mig["mib"] / 1024 / (mig["migrate_ms"] / 1e3)
    print(mig.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
