"""Copying whole KV blocks in Triton: one program per (listed block, chunk of BLOCK elements).

A cache is viewed as [num_blocks, row] where row = the product of the trailing dimensions, so
each block's elements must be contiguous (any stride between blocks is fine).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from llmserve_kernels._autotune import INTERPRETING

_BLOCK = 4096 if INTERPRETING else 1024


@triton.jit
def _copy_blocks_kernel(
    src_ptr, dst_ptr, src_ids_ptr, dst_ids_ptr, row_numel, stride_src, stride_dst,
    SRC_INDEXED: tl.constexpr, DST_INDEXED: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    i = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < row_numel
    src_row = i.to(tl.int64)
    dst_row = i.to(tl.int64)
    if SRC_INDEXED:
        src_row = tl.load(src_ids_ptr + i).to(tl.int64)
    if DST_INDEXED:
        dst_row = tl.load(dst_ids_ptr + i).to(tl.int64)
    x = tl.load(src_ptr + src_row * stride_src + cols, mask=ok)
    tl.store(dst_ptr + dst_row * stride_dst + cols, x.to(dst_ptr.dtype.element_ty), mask=ok)


def _check_rows(name: str, t: torch.Tensor) -> None:
    if t.shape[0] and not t[0].is_contiguous():
        raise ValueError(f"{name}: each block's elements must be contiguous (stride {t.stride()})")


def _launch(src: torch.Tensor, dst: torch.Tensor, ids: torch.Tensor, gather: bool) -> None:
    num_rows = ids.shape[0]
    row_numel = math.prod(dst.shape[1:])
    if num_rows == 0 or row_numel == 0:
        return
    ids = ids.to(device=dst.device, dtype=torch.int64)
    grid = (num_rows, triton.cdiv(row_numel, _BLOCK))
    _copy_blocks_kernel[grid](
        src, dst, ids, ids, row_numel, src.stride(0), dst.stride(0),
        SRC_INDEXED=gather, DST_INDEXED=not gather, BLOCK=_BLOCK,
    )  # fmt: skip


def gather_kv_blocks(cache: torch.Tensor, block_ids: torch.Tensor) -> torch.Tensor:
    """Triton block gather; same contract as `reference.gather_kv_blocks`."""
    _check_rows("cache", cache)
    out = torch.empty((block_ids.shape[0], *cache.shape[1:]), dtype=cache.dtype,
                      device=cache.device)  # fmt: skip
    _launch(cache, out, block_ids, gather=True)
    return out


def scatter_kv_blocks(cache: torch.Tensor, block_ids: torch.Tensor, src: torch.Tensor) -> None:
    """Triton block scatter; same contract as `reference.scatter_kv_blocks` (a `src` on
    another device is first copied to the cache's device)."""
    _check_rows("cache", cache)
    src = src.to(cache.device, non_blocking=True)
    if src.shape[1:] != cache.shape[1:] or src.shape[0] != block_ids.shape[0]:
        raise ValueError(f"src {tuple(src.shape)} does not match {block_ids.shape[0]} blocks "
                         f"of {tuple(cache.shape[1:])}")  # fmt: skip
    _check_rows("src", src)
    _launch(src, cache, block_ids, gather=False)
