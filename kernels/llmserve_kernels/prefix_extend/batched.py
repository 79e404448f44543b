"""Prefix-extend attention for devices without the Triton kernel, for short query runs (a
speculative verify step: k + 1 tokens per sequence): the sequences with the same number of
new tokens go into one batch, their queries and cached K/V padded to a common width, so a
step costs a few large tensor ops per query length instead of a Python loop per sequence,
and a step that verifies a long draft for a few sequences and none for the rest does not
pad every sequence to the longest draft (`reference.py` stays the spec; long prefills keep
using it)."""

from __future__ import annotations

import torch

MAX_Q_LEN = 64
"""Longest query run this path takes (padding all sequences to it stays cheap)."""


def prefix_extend_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                            block_tables: torch.Tensor, cu_q_lens: torch.Tensor,
                            seq_lens: torch.Tensor, scale: float) -> torch.Tensor:
    """Same contract as `reference.prefix_extend_attention` (float32 math, q's dtype out)."""
    cu = cu_q_lens.tolist()
    q_lens = [b - a for a, b in zip(cu, cu[1:])]
    if not q_lens or q.shape[0] == 0:
        return torch.empty_like(q)
    groups: dict[int, list[int]] = {}
    for b, n in enumerate(q_lens):
        if n:
            groups.setdefault(n, []).append(b)
    if len(groups) == 1 and len(next(iter(groups.values()))) == len(q_lens):  # one length
        return _padded(q, k_cache, v_cache, block_tables, cu, q_lens, seq_lens, scale)
    out = torch.empty_like(q)
    dev = q.device
    for n, members in groups.items():
        rows = torch.tensor([cu[b] + i for b in members for i in range(n)], device=dev)
        sub = torch.tensor(members, device=dev)
        out[rows] = _padded(q[rows], k_cache, v_cache, block_tables[sub],
                            [n * i for i in range(len(members) + 1)], [n] * len(members),
                            seq_lens[sub], scale)
    return out


def _padded(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
            block_tables: torch.Tensor, cu: list[int], q_lens: list[int],
            seq_lens: torch.Tensor, scale: float) -> torch.Tensor:
    """All sequences in one batch, queries padded to the longest run."""
    lens = seq_lens.tolist()
    batch = len(q_lens)
    num_q_heads, head_dim = q.shape[1], q.shape[2]
    block_size, num_kv_heads = k_cache.shape[1], k_cache.shape[2]
    group = num_q_heads // num_kv_heads
    max_q, max_len = max(q_lens), max(max(lens), 1)
    num_blocks = -(-max_len // block_size)
    width = num_blocks * block_size
    dev = q.device
    lens_t = seq_lens.to(device=dev, dtype=torch.long)
    needed = (lens_t + block_size - 1) // block_size
    cols = torch.arange(num_blocks, device=dev)
    table = block_tables[:, :num_blocks].to(torch.long)
    table = torch.where(cols[None, :] < needed[:, None], table, 0).reshape(-1)

    def gather(cache: torch.Tensor) -> torch.Tensor:  # [B, Hkv, W, D]
        rows = cache.index_select(0, table).view(batch, width, num_kv_heads, head_dim)
        return rows.permute(0, 2, 1, 3).contiguous().float()

    k, v = gather(k_cache), gather(v_cache)
    # queries padded to [B, max_q]: row (b, i) is token cu[b] + i
    q_lens_t = torch.tensor(q_lens, device=dev)
    idx = torch.arange(max_q, device=dev)[None, :]
    valid_q = idx < q_lens_t[:, None]  # [B, Q]
    src = (torch.tensor(cu[:-1], device=dev)[:, None] + idx).clamp(max=q.shape[0] - 1)
    qp = q.float()[src.reshape(-1)].view(batch, max_q, num_kv_heads, group, head_dim)
    qp = qp.permute(0, 2, 3, 1, 4).reshape(batch, num_kv_heads, group * max_q, head_dim)
    scores = torch.matmul(qp, k.transpose(-1, -2)).mul_(scale)  # [B, Hkv, G*Q, W]
    # token i of sequence b sits at position len_b - q_len_b + i and sees keys <= it
    pos = lens_t[:, None] - q_lens_t[:, None] + idx  # [B, Q]
    keys = torch.arange(width, device=dev)[None, None, :]
    allowed = keys <= pos[:, :, None]  # [B, Q, W]
    allowed = allowed[:, None, None].expand(batch, 1, group, max_q, width)
    allowed = allowed.reshape(batch, 1, group * max_q, width)
    probs = torch.softmax(scores.masked_fill_(~allowed, float("-inf")), dim=-1)
    probs = probs.nan_to_num_(0.0)  # padded query rows see nothing
    out = torch.matmul(probs, v.masked_fill_(
        (keys[0, 0] >= lens_t[:, None])[:, None, :, None], 0.0))  # [B, Hkv, G*Q, D]
    out = out.view(batch, num_kv_heads, group, max_q, head_dim).permute(0, 3, 1, 2, 4)
    out = out.reshape(batch, max_q, num_q_heads, head_dim)
    return out[valid_q].to(q.dtype)
