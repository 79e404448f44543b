"""Tensor parallelism measured on the toolkit's engine (`toolkit.engine.tp.TPEngine`, gloo
rank processes on this CPU): decode step and prefill time by TP level and batch, TP switch
times and KV migration times, as DataFrames for the Fig. 2 and Fig. 7 notebooks."""

from __future__ import annotations

import statistics

import pandas as pd
import torch

from toolkit.engine.config import ModelConfig
from toolkit.engine.tp.engine import TPEngine

VOCAB = 4096


def llama_shaped(hidden: int, layers: int) -> ModelConfig:
    """A random Llama-shaped model: head 128, GQA 2:1 (KV heads = heads below 4 heads),
    FFN 2.75x, vocabulary `VOCAB`."""
    heads = max(2, hidden // 128)
    return ModelConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                       num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=max(heads // 2, 2) if heads >= 4 else heads,
                       head_dim=128, max_position_embeddings=4096)


def model_config(quick: bool) -> ModelConfig:
    """Hidden 1024 and 4 layers, or 256 and 2 in quick mode."""
    return llama_shaped(256, 2) if quick else llama_shaped(1024, 4)


def _prompts(num: int, length: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (num, length), generator=gen).tolist()


def tp_steps(quick: bool, model: ModelConfig | None = None, num_threads: int = 1,
             prompt_len: int = 64, batches: tuple[int, ...] = (1, 16),
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (tp, batch): the prefill step (all prompts in one chunk) and the median decode
    step in ms, and rank-ms per token (decode step * tp / batch); and the switches of a run
    that goes TP1 -> TP2 -> TP1. One engine of two ranks runs both levels (same processes,
    same weights). `model`: default `model_config(quick)`."""
    new_tokens = 8 if quick else 24
    rows = []
    with TPEngine(model or model_config(quick), world_size=2, tp=1, num_threads=num_threads,
                  num_kv_blocks=512, block_size=16, chunk_size=4096) as eng:
        for batch in batches:
            for tp in (1, 2):
                eng.switch_tp(tp)
                res = eng.generate(_prompts(batch, prompt_len, seed=tp * 100 + batch),
                                   new_tokens, ignore_eos=True)
                step = statistics.median(res.step_s[1:])
                rows.append({"tp": tp, "batch": batch, "prefill_ms": res.step_s[0] * 1e3,
                             "step_ms": step * 1e3, "rank_ms_per_token": step * tp / batch * 1e3})
        eng.switch_tp(1)
        res = eng.generate(_prompts(16, prompt_len, seed=7), new_tokens, ignore_eos=True,
                           switch_at={new_tokens // 3: 2, 2 * new_tokens // 3: 1})
    switches = pd.DataFrame([{"from_tp": s.old_tp, "to_tp": s.new_tp, "switch_ms": s.switch_s * 1e3,
                              "blocks": s.num_blocks, "mib": s.bytes_moved / 2**20}
                             for s in res.switches])
    return pd.DataFrame(rows).assign(backend="engine (CPU, gloo)"), switches


def migrations(quick: bool, model: ModelConfig | None = None, num_threads: int = 1,
               contexts: tuple[int, ...] = (64, 512, 2048)) -> pd.DataFrame:
    """Moving one decoding request's KV between two TP-1 instances: tokens, MiB, ms."""
    rows = []
    with TPEngine(model or model_config(quick), world_size=2, tp=1, num_instances=2,
                  num_threads=num_threads, num_kv_blocks=512, block_size=16,
                  chunk_size=4096) as eng:
        for i, ctx in enumerate(contexts[:2] if quick else contexts):
            rid = eng.add_request(_prompts(1, ctx, seed=i)[0], 4, ignore_eos=True)
            eng.step(0)
            eng.step(0)
            m = eng.migrate(rid, 1)
            while eng.has_unfinished(1):
                eng.step(1)
            rows.append({"tokens": m.num_tokens, "mib": m.bytes_moved / 2**20,
                         "migrate_ms": m.migrate_s * 1e3})
    return pd.DataFrame(rows)
