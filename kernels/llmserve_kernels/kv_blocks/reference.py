"""Copying whole KV blocks out of and into a cache, in plain PyTorch: the kernels' spec."""

from __future__ import annotations

import torch


def gather_kv_blocks(cache: torch.Tensor, block_ids: torch.Tensor) -> torch.Tensor:
    """A new contiguous tensor [M, ...] holding cache[block_ids[i]] in row i."""
    return cache.index_select(0, block_ids.to(cache.device).long()).contiguous()


def scatter_kv_blocks(cache: torch.Tensor, block_ids: torch.Tensor, src: torch.Tensor) -> None:
    """Write src[i] into cache[block_ids[i]] in place (src may live on another device)."""
    ids = block_ids.to(cache.device).long()
    cache.index_copy_(0, ids, src.to(device=cache.device, dtype=cache.dtype))
