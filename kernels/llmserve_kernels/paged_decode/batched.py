"""Paged decode attention for devices without the Triton kernel: every sequence of the batch
gathered into one padded tensor, so a step costs a few large tensor ops instead of a Python
loop of small ones (the engine's decode path on a CPU; `reference.py` stays the spec)."""

from __future__ import annotations

import torch

GATHER_BUDGET = 1 << 20
"""Most K elements gathered at once (4 MiB in float32, cache-sized); a larger batch is
attended in slices of sequences, which measured faster than one big gather."""


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Same contract as `reference.paged_decode_attention` (float32 math, q's dtype out)."""
    batch = q.shape[0]
    if batch == 0:
        return torch.empty_like(q)
    lens = context_lens.tolist()
    per_seq = max(lens) * k_cache.shape[2] * k_cache.shape[3]
    step = max(1, GATHER_BUDGET // max(per_seq, 1))
    parts = [_attend(q[i : i + step], k_cache, v_cache, block_tables[i : i + step],
                     context_lens[i : i + step], lens[i : i + step], scale)
             for i in range(0, batch, step)]  # fmt: skip
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _attend(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
            block_tables: torch.Tensor, context_lens: torch.Tensor, host_lens: list[int],
            scale: float) -> torch.Tensor:  # fmt: skip
    batch, num_q_heads, head_dim = q.shape
    max_len = max(max(host_lens), 1)
    block_size, num_kv_heads = k_cache.shape[1], k_cache.shape[2]
    num_blocks = -(-max_len // block_size)
    width = num_blocks * block_size
    lens = context_lens.to(device=q.device, dtype=torch.long)
    needed = (lens + block_size - 1) // block_size
    cols = torch.arange(num_blocks, device=q.device)
    table = block_tables[:, :num_blocks].to(torch.long)
    table = torch.where(cols[None, :] < needed[:, None], table, 0).reshape(-1)
    pad = torch.arange(width, device=q.device)[None, :] >= lens[:, None]  # [B, W]

    def gather(cache: torch.Tensor) -> torch.Tensor:  # [B, Hkv, W, D]
        rows = cache.index_select(0, table).view(batch, width, num_kv_heads, head_dim)
        return rows.permute(0, 2, 1, 3).contiguous().float()

    k, v = gather(k_cache), gather(v_cache)
    qg = q.float().reshape(batch, num_kv_heads, num_q_heads // num_kv_heads, head_dim)
    scores = torch.matmul(qg, k.transpose(-1, -2)).mul_(scale)  # [B, Hkv, group, W]
    probs = torch.softmax(scores.masked_fill_(pad[:, None, None, :], float("-inf")), dim=-1)
    if min(host_lens) == 0:  # an empty row attends to nothing: zeros, as the reference gives
        probs = probs.nan_to_num_(0.0)
    out = torch.matmul(probs, v)
    if not bool(torch.isfinite(out).all()):  # a NaN/inf slot past some length: zero them all
        out = torch.matmul(probs, v.masked_fill_(pad[:, None, :, None], 0.0))
    return out.view(batch, num_q_heads, head_dim).to(q.dtype)
