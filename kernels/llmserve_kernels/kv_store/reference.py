"""Writing new tokens' K/V into the paged cache, in plain PyTorch: the kernel's spec."""

from __future__ import annotations

import torch


def store_kv(
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """Write k[t], v[t] ([T, Hkv, D]) into cache slot slot_mapping[t] in place.

    Caches are [num_blocks, block_size, Hkv, D]; a slot is block_id * block_size + offset, and
    a slot of -1 (padding) is skipped. Values are cast to the cache dtype.
    """
    block_size = k_cache.shape[1]
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    blocks, offsets = slots // block_size, slots % block_size
    k_cache[blocks, offsets] = k[keep].to(k_cache.dtype)
    v_cache[blocks, offsets] = v[keep].to(v_cache.dtype)
