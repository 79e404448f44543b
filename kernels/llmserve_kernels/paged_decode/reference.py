"""Paged decode attention in readable float32 PyTorch: the spec the Triton kernel must match."""

from __future__ import annotations

import torch


def gather_sequence_kv(
    cache: torch.Tensor, block_table: torch.Tensor, num_tokens: int
) -> torch.Tensor:
    """The first `num_tokens` token rows of one sequence, [num_tokens, Hkv, D], gathered from
    a paged `cache` [num_blocks, block_size, Hkv, D] through its `block_table` [max_blocks]."""
    block_size = cache.shape[1]
    num_blocks = -(-num_tokens // block_size)
    blocks = cache[block_table[:num_blocks].long()]  # [num_blocks, block_size, Hkv, D]
    return blocks.reshape(-1, *cache.shape[2:])[:num_tokens]


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """One query token per sequence attending to all of its cached tokens.

    q: [B, Hq, D]; k_cache, v_cache: [num_blocks, block_size, Hkv, D]; block_tables:
    [B, max_blocks] physical block ids (entries past a sequence's blocks are ignored);
    context_lens: [B] tokens in the cache per sequence, the current one included. Query head h
    reads kv head h // (Hq // Hkv). Computed in float32; returns [B, Hq, D] in q's dtype.
    """
    batch, num_q_heads, _ = q.shape
    group = num_q_heads // k_cache.shape[2]
    out = torch.empty_like(q)
    for b, ctx_len in enumerate(context_lens.tolist()):
        k = gather_sequence_kv(k_cache, block_tables[b], ctx_len).float()  # [S, Hkv, D]
        v = gather_sequence_kv(v_cache, block_tables[b], ctx_len).float()
        k = k.repeat_interleave(group, dim=1)  # [S, Hq, D]
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,shd->hs", q[b].float(), k) * scale  # [Hq, S]
        probs = torch.softmax(scores, dim=-1)
        out[b] = torch.einsum("hs,shd->hd", probs, v).to(q.dtype)
    return out
