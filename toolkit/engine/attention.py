"""Paged attention for the engine: what one step's attention needs, and the kernel calls.

The kernels live in `kernels/llmserve_kernels/` (Triton on CUDA; elsewhere the batched PyTorch decode path and
the references); they are imported lazily so importing the engine costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(slots=True)
class AttentionMetadata:
    """Where one step's tokens go in the paged KV cache and what each sequence attends to.

    Tokens of B sequences are concatenated (sequence b's rows `cu_q_lens[b]:cu_q_lens[b+1]`).
    `seq_lens[b]` counts all of sequence b's tokens in the cache after this step, the new ones
    included. `is_decode`: every sequence has exactly one new token (the paged-decode kernel).
    """

    slot_mapping: torch.Tensor  # [T] int64, block * block_size + offset; -1 skips
    block_tables: torch.Tensor  # [B, max_blocks] int32
    seq_lens: torch.Tensor  # [B] int32
    cu_q_lens: torch.Tensor | None  # [B + 1] int32; None when is_decode
    is_decode: bool
    max_q_len: int | None = None  # longest new-token run, known on the host (no device sync)


def paged_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_cache: torch.Tensor,
    v_cache: torch.Tensor, meta: AttentionMetadata, scale: float,
) -> torch.Tensor:
    """Write the new tokens' K/V into the cache, then attend: q [T, Hq, D] -> [T, Hq, D]."""
    from llmserve_kernels.kv_store import store_kv

    store_kv(k, v, k_cache, v_cache, meta.slot_mapping)
    if meta.is_decode:
        from llmserve_kernels.paged_decode import paged_decode_attention

        return paged_decode_attention(q, k_cache, v_cache, meta.block_tables, meta.seq_lens,
                                      scale)
    from llmserve_kernels.prefix_extend import prefix_extend_attention

    return prefix_extend_attention(q, k_cache, v_cache, meta.block_tables, meta.cu_q_lens,
                                   meta.seq_lens, scale, max_q_len=meta.max_q_len)
