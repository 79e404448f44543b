"""Prefix-extend attention in Triton: one program per (query tile, sequence, query head).

A program takes BLOCK_M of sequence b's new tokens and walks the cache positions they can see
in tiles of BLOCK_N, mapping each logical position to (physical block, offset) through the
block table as the decode kernel does. New token i of a sequence with q_len new tokens and
seq_len cached ones sits at position seq_len - q_len + i (bottom-right causal), so a tile only
reads up to the last position its rows can see. Online softmax in float32, base 2.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from llmserve_kernels._autotune import INTERPRETING, autotune_configs, config

LOG2_E = 1.4426950408889634

_CONFIGS = autotune_configs(
    [
        config(BLOCK_M=m, BLOCK_N=n, num_warps=w, num_stages=s)
        for m, n in ((64, 32), (64, 64), (128, 64))
        for w, s in ((4, 2), (8, 3))
    ],
    interpreter_config=config(BLOCK_M=16, BLOCK_N=16),
)


@triton.autotune(configs=_CONFIGS, key=["head_dim", "block_size"])
@triton.jit
def _prefix_extend_kernel(
    q_ptr, k_ptr, v_ptr, bt_ptr, cu_ptr, seq_ptr, out_ptr,
    qk_scale, head_dim, block_size, group,
    stride_qt, stride_qh, stride_qd,
    stride_kb, stride_ks, stride_kh, stride_kd,
    stride_vb, stride_vs, stride_vh, stride_vd,
    stride_btb, stride_btn,
    stride_ot, stride_oh, stride_od,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(1)
    h = tl.program_id(2)
    kv_h = h // group
    q_start = tl.load(cu_ptr + b)
    q_len = tl.load(cu_ptr + b + 1) - q_start
    m_start = tl.program_id(0) * BLOCK_M
    if m_start >= q_len:
        return
    seq_len = tl.load(seq_ptr + b)
    prefix_len = seq_len - q_len
    rows = m_start + tl.arange(0, BLOCK_M)
    row_ok = rows < q_len
    q_pos = prefix_len + rows
    d = tl.arange(0, BLOCK_D)
    d_ok = d < head_dim
    q_rows = (q_start + rows).to(tl.int64) * stride_qt + h * stride_qh
    q = tl.load(q_ptr + q_rows[:, None] + d[None, :] * stride_qd,
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)  # fmt: skip
    if UPCAST_DOT:
        q = q.to(tl.float32)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    kv_end = prefix_len + tl.minimum(q_len, m_start + BLOCK_M)
    for start in range(0, kv_end, BLOCK_N):
        pos = start + tl.arange(0, BLOCK_N)
        ok = pos < kv_end
        blk = tl.load(bt_ptr + b * stride_btb + (pos // block_size) * stride_btn, mask=ok, other=0)
        blk = blk.to(tl.int64)
        off = pos % block_size
        tile_ok = ok[:, None] & d_ok[None, :]
        k_off = blk * stride_kb + off * stride_ks + kv_h * stride_kh
        k = tl.load(k_ptr + k_off[:, None] + d[None, :] * stride_kd, mask=tile_ok, other=0.0)
        if UPCAST_DOT:
            k = k.to(tl.float32)
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale  # [M, N]
        visible = ok[None, :] & (pos[None, :] <= q_pos[:, None])
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        v_off = blk * stride_vb + off * stride_vs + kv_h * stride_vh
        v = tl.load(v_ptr + v_off[:, None] + d[None, :] * stride_vd, mask=tile_ok, other=0.0)
        p_in = p.to(v.dtype)
        if UPCAST_DOT:
            p_in = p_in.to(tl.float32)
            v = v.to(tl.float32)
        pv = tl.dot(p_in, v, input_precision=DOT_PRECISION)
        acc = acc * alpha[:, None] + pv
        l_i = l_i * alpha + tl.sum(p, axis=1)
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    out_rows = (q_start + rows).to(tl.int64) * stride_ot + h * stride_oh
    tl.store(out_ptr + out_rows[:, None] + d[None, :] * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])  # fmt: skip


def prefix_extend_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_tables: torch.Tensor,
    cu_q_lens: torch.Tensor,
    seq_lens: torch.Tensor,
    scale: float,
    max_q_len: int | None = None,
) -> torch.Tensor:
    """Triton prefix-extend attention; same contract as `reference.prefix_extend_attention`.

    The launch grid needs the longest q length: `max_q_len` when given, else read back from
    the device (one sync).
    """
    num_tokens, num_q_heads, head_dim = q.shape
    _, block_size, num_kv_heads, _ = k_cache.shape
    if num_q_heads % num_kv_heads:
        raise ValueError(f"Hq={num_q_heads} is not a multiple of Hkv={num_kv_heads}")
    out = torch.empty_like(q)
    batch = seq_lens.shape[0]
    if num_tokens == 0 or batch == 0:
        return out
    cu_q_lens = cu_q_lens.to(torch.int32)
    seq_lens = seq_lens.to(torch.int32)
    if max_q_len is None:
        max_q_len = int((cu_q_lens[1:] - cu_q_lens[:-1]).max().item())
    # The interpreter's tl.dot mishandles bfloat16 operands: it gets them upcast to float32.
    upcast = INTERPRETING and q.dtype == torch.bfloat16
    precision = "ieee" if q.dtype == torch.float32 or upcast else "tf32"

    def grid(meta: dict) -> tuple[int, int, int]:
        return (triton.cdiv(max_q_len, meta["BLOCK_M"]), batch, num_q_heads)

    _prefix_extend_kernel[grid](
        q, k_cache, v_cache, block_tables, cu_q_lens, seq_lens, out,
        scale * LOG2_E, head_dim, block_size, num_q_heads // num_kv_heads,
        *q.stride(), *k_cache.stride(), *v_cache.stride(), *block_tables.stride(), *out.stride(),
        BLOCK_D=max(16, triton.next_power_of_2(head_dim)), DOT_PRECISION=precision, UPCAST_DOT=upcast,
    )  # fmt: skip
    return out
