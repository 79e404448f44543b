"""Paged decode attention: one new query token per sequence over its paged KV cache."""

from __future__ import annotations

import torch

from llmserve_kernels._dispatch import resolve_impl
from llmserve_kernels.paged_decode import batched, reference

__all__ = ["paged_decode_attention"]


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
    impl: str | None = None,
) -> torch.Tensor:
    """Attention of each sequence's current token to all of its cached tokens.

    q: [B, Hq, D]; k_cache, v_cache: [num_blocks, block_size, Hkv, D]; block_tables:
    [B, max_blocks] int32 physical block ids (entries past a sequence's blocks are ignored);
    context_lens: [B] int32 tokens in the cache per sequence, including the current token whose
    K/V was already written. Hq must be a multiple of Hkv (query head h reads kv head
    h // (Hq // Hkv)). Returns [B, Hq, D] in q's dtype.

    impl: 'triton', 'torch' (all sequences in one padded batch), 'reference' (one sequence
    at a time, the spec), or None (triton for CUDA tensors, else torch).
    """
    chosen = resolve_impl(impl, q, k_cache, v_cache, block_tables, context_lens,
                          available=("triton", "torch", "reference"))
    if chosen == "triton":
        from llmserve_kernels.paged_decode import kernel

        return kernel.paged_decode_attention(q, k_cache, v_cache, block_tables, context_lens, scale)
    if chosen == "torch":
        return batched.paged_decode_attention(q, k_cache, v_cache, block_tables, context_lens,
                                              scale)
    return reference.paged_decode_attention(q, k_cache, v_cache, block_tables, context_lens, scale)
