"""Prefix-extend (chunked prefill) attention in readable float32 PyTorch: the kernel's spec."""

from __future__ import annotations

import torch

from llmserve_kernels.paged_decode.reference import gather_sequence_kv


def prefix_extend_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    cu_q_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """New tokens of several sequences attending causally to their paged cache.

    q: [T, Hq, D], sequence b's new tokens in rows cu_q_lens[b]:cu_q_lens[b+1]; their K/V are
    already in k_cache / v_cache [num_blocks, block_size, Hkv, D]. seq_lens[b] counts all of
    sequence b's cached tokens (prefix + new), so new token i sits at position
    seq_lens[b] - q_len + i and sees cache positions up to its own (bottom-right causal).
    Computed in float32; returns [T, Hq, D] in q's dtype.
    """
    group = q.shape[1] // k_cache.shape[2]
    out = torch.empty_like(q)
    bounds = cu_q_lens.tolist()
    for b, seq_len in enumerate(seq_lens.tolist()):
        start, end = bounds[b], bounds[b + 1]
        q_len = end - start
        if q_len == 0:
            continue
        k = gather_sequence_kv(k_cache, block_tables[b], seq_len).float()  # [S, Hkv, D]
        v = gather_sequence_kv(v_cache, block_tables[b], seq_len).float()
        k = k.repeat_interleave(group, dim=1)  # [S, Hq, D]
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,shd->hqs", q[start:end].float(), k) * scale  # [Hq, L, S]
        q_pos = torch.arange(seq_len - q_len, seq_len, device=q.device)
        k_pos = torch.arange(seq_len, device=q.device)
        visible = k_pos[None, :] <= q_pos[:, None]  # [L, S]
        scores = scores.masked_fill(~visible, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out[start:end] = torch.einsum("hqs,shd->qhd", probs, v).to(q.dtype)
    return out
