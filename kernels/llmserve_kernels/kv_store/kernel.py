"""Storing new tokens' K/V into the paged cache in Triton: one program per token.

Each program copies its token's [Hkv, D] rows of k and v into slot slot_mapping[t] (block
slot // block_size, offset slot % block_size) and returns at once for a padding slot of -1.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _store_kv_kernel(
    k_ptr, v_ptr, kc_ptr, vc_ptr, slot_ptr,
    num_heads, head_dim, block_size,
    stride_kt, stride_kh, stride_kd,
    stride_vt, stride_vh, stride_vd,
    stride_kcb, stride_kcs, stride_kch, stride_kcd,
    stride_vcb, stride_vcs, stride_vch, stride_vcd,
    BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    t = tl.program_id(0)
    slot = tl.load(slot_ptr + t).to(tl.int64)
    if slot < 0:
        return
    blk = slot // block_size
    off = slot % block_size
    hh = tl.arange(0, BLOCK_H)[:, None]
    d = tl.arange(0, BLOCK_D)[None, :]
    ok = (hh < num_heads) & (d < head_dim)
    k = tl.load(k_ptr + t * stride_kt + hh * stride_kh + d * stride_kd, mask=ok)
    v = tl.load(v_ptr + t * stride_vt + hh * stride_vh + d * stride_vd, mask=ok)
    kc = kc_ptr + blk * stride_kcb + off * stride_kcs + hh * stride_kch + d * stride_kcd
    vc = vc_ptr + blk * stride_vcb + off * stride_vcs + hh * stride_vch + d * stride_vcd
    tl.store(kc, k.to(kc_ptr.dtype.element_ty), mask=ok)
    tl.store(vc, v.to(vc_ptr.dtype.element_ty), mask=ok)


def store_kv(
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """Triton KV store; same contract as `reference.store_kv`."""
    num_tokens, num_heads, head_dim = k.shape
    if num_tokens == 0:
        return
    _store_kv_kernel[(num_tokens,)](
        k, v, k_cache, v_cache, slot_mapping.to(torch.int64),
        num_heads, head_dim, k_cache.shape[1],
        *k.stride(), *v.stride(), *k_cache.stride(), *v_cache.stride(),
        BLOCK_H=triton.next_power_of_2(num_heads), BLOCK_D=triton.next_power_of_2(head_dim),
    )  # fmt: skip
