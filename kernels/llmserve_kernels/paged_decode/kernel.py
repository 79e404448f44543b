"""Paged decode attention in Triton: one program per (sequence, query head).

Each program walks its sequence's tokens in tiles of BLOCK_N logical positions. A position p
lives in physical block block_tables[b, p // block_size] at offset p % block_size, so any
block size (powers of two or not) works, and a tile may span several blocks. Scores are
accumulated with an online softmax in float32 (base-2 exponent, log2(e) folded into the
scale). Loads past the context are masked, so unused cache slots and block-table entries are
never read.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from llmserve_kernels._autotune import autotune_configs, config

LOG2_E = 1.4426950408889634

_CONFIGS = autotune_configs(
    [config(BLOCK_N=n, num_warps=w) for n in (32, 64, 128) for w in (2, 4)],
    interpreter_config=config(BLOCK_N=16),
)


@triton.autotune(configs=_CONFIGS, key=["head_dim", "block_size"])
@triton.jit
def _paged_decode_kernel(
    q_ptr, k_ptr, v_ptr, bt_ptr, ctx_ptr, out_ptr,
    qk_scale, head_dim, block_size, group,
    stride_qb, stride_qh, stride_qd,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_btb, stride_btn,
    stride_ob, stride_oh, stride_od,
    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(0)
    h = tl.program_id(1)
    kv_h = h // group
    ctx_len = tl.load(ctx_ptr + b)
    d = tl.arange(0, BLOCK_D)
    d_ok = d < head_dim
    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + d * stride_qd, mask=d_ok, other=0.0)
    q = q.to(tl.float32) * qk_scale

    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.zeros([], tl.float32)
    acc = tl.zeros([BLOCK_D], tl.float32)
    for start in range(0, ctx_len, BLOCK_N):
        pos = start + tl.arange(0, BLOCK_N)
        ok = pos < ctx_len
        blk = tl.load(bt_ptr + b * stride_btb + (pos // block_size) * stride_btn, mask=ok, other=0)
        blk = blk.to(tl.int64)
        off = pos % block_size
        tile_ok = ok[:, None] & d_ok[None, :]
        k_off = blk * stride_kb + off * stride_ks + kv_h * stride_kh
        k = tl.load(k_ptr + k_off[:, None] + d[None, :] * stride_kd, mask=tile_ok, other=0.0)
        s = tl.sum(q[None, :] * k.to(tl.float32), axis=1)
        s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=0))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new)
        v_off = blk * stride_vb + off * stride_vs + kv_h * stride_vh
        v = tl.load(v_ptr + v_off[:, None] + d[None, :] * stride_vd, mask=tile_ok, other=0.0)
        acc = acc * alpha + tl.sum(p[:, None] * v.to(tl.float32), axis=0)
        l_i = l_i * alpha + tl.sum(p, axis=0)
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)
    out_ptrs = out_ptr + b * stride_ob + h * stride_oh + d * stride_od
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=d_ok)


def paged_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    context_lens: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Triton paged decode attention; same contract as `reference.paged_decode_attention`
    (a sequence with context length 0 gets zeros)."""
    batch, num_q_heads, head_dim = q.shape
    _, block_size, num_kv_heads, _ = k_cache.shape
    if num_q_heads % num_kv_heads:
        raise ValueError(f"Hq={num_q_heads} is not a multiple of Hkv={num_kv_heads}")
    out = torch.empty_like(q)
    if batch == 0:
        return out
    context_lens = context_lens.to(torch.int32)
    _paged_decode_kernel[(batch, num_q_heads)](
        q, k_cache, v_cache, block_tables, context_lens, out,
        scale * LOG2_E, head_dim, block_size, num_q_heads // num_kv_heads,
        *q.stride(), *k_cache.stride(), *v_cache.stride(), *block_tables.stride(), *out.stride(),
        BLOCK_D=triton.next_power_of_2(head_dim),
    )  # fmt: skip
    return out
