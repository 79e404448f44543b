"""Prefix-extend attention: new tokens of several sequences over their paged KV cache."""

from __future__ import annotations

import torch

from llmserve_kernels._dispatch import resolve_impl
from llmserve_kernels.prefix_extend import batched, reference

__all__ = ["prefix_extend_attention"]


def prefix_extend_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    cu_q_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    impl: str | None = None,
    max_q_len: int | None = None,
) -> torch.Tensor:
    """Causal attention of each sequence's new tokens to its cached prefix and to each other.

    q: [T, Hq, D], the new tokens of B sequences concatenated (sequence b's rows are
    cu_q_lens[b]:cu_q_lens[b+1], cu_q_lens [B+1] int32); their K/V are already written into
    k_cache / v_cache [num_blocks, block_size, Hkv, D]. block_tables: [B, max_blocks] int32.
    seq_lens: [B] int32 total tokens of sequence b in the cache (cached prefix + new). New
    token i of sequence b sits at position seq_lens[b] - q_len_b + i and attends to cache
    positions up to its own (bottom-right causal). Returns [T, Hq, D] in q's dtype.

    impl: 'triton', 'torch' (all sequences in one padded batch; for query runs of at most
    `batched.MAX_Q_LEN` tokens, such as speculative verify steps), 'reference' (one sequence
    at a time, the spec), or None (triton for CUDA tensors; else torch when the runs are
    short, the reference otherwise).
    max_q_len: the longest q length, when the caller knows it on the host (else the kernel
    reads it back from the device, one sync per call).
    """
    chosen = resolve_impl(impl, q, k_cache, v_cache, block_tables, cu_q_lens, seq_lens,
                          available=("triton", "torch", "reference"))
    if chosen == "torch" and impl is None and (max_q_len is None
                                               or max_q_len > batched.MAX_Q_LEN):
        chosen = "reference"
    if chosen == "triton":
        from llmserve_kernels.prefix_extend import kernel

        return kernel.prefix_extend_attention(
            q, k_cache, v_cache, block_tables, cu_q_lens, seq_lens, scale, max_q_len
        )
    if chosen == "torch":
        return batched.prefix_extend_attention(q, k_cache, v_cache, block_tables, cu_q_lens,
                                               seq_lens, scale)
    return reference.prefix_extend_attention(
        q, k_cache, v_cache, block_tables, cu_q_lens, seq_lens, scale
    )
