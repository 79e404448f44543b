"""Copying whole KV blocks out of and into a cache (swap to host memory, KV migration)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from llmserve_kernels._dispatch import resolve_impl
from llmserve_kernels.kv_blocks import reference

__all__ = ["gather_kv_blocks", "scatter_kv_blocks"]


def _as_ids(block_ids: torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
    if isinstance(block_ids, torch.Tensor):
        return block_ids
    return torch.tensor(list(block_ids), dtype=torch.int64, device=device)


def gather_kv_blocks(
    cache: torch.Tensor, block_ids: torch.Tensor | Sequence[int], impl: str | None = None
) -> torch.Tensor:
    """A new contiguous tensor [M, ...] whose row i is cache[block_ids[i]].

    cache: [num_blocks, ...] (each block's elements contiguous for the Triton kernel);
    block_ids: [M] integer ids on any device, or a sequence of ints. Same dtype and device as
    the cache; copy it to pinned host memory afterwards to swap out.

    impl: 'triton', 'reference', or None (triton for a CUDA cache, else the reference).
    """
    ids = _as_ids(block_ids, cache.device)
    if resolve_impl(impl, cache) == "triton":
        from llmserve_kernels.kv_blocks import kernel

        return kernel.gather_kv_blocks(cache, ids)
    return reference.gather_kv_blocks(cache, ids)


def scatter_kv_blocks(
    cache: torch.Tensor,
    block_ids: torch.Tensor | Sequence[int],
    src: torch.Tensor,
    impl: str | None = None,
) -> None:
    """Write src[i] into cache[block_ids[i]] in place.

    src: [M, ...] matching cache's trailing shape; it may live on another device (e.g. pinned
    host memory when swapping in) and is copied to the cache's device first. Repeated ids
    leave any one of their rows there.

    impl: 'triton', 'reference', or None (triton for a CUDA cache, else the reference).
    """
    ids = _as_ids(block_ids, cache.device)
    if resolve_impl(impl, cache) == "triton":
        from llmserve_kernels.kv_blocks import kernel

        kernel.scatter_kv_blocks(cache, ids, src)
    else:
        reference.scatter_kv_blocks(cache, ids, src)
