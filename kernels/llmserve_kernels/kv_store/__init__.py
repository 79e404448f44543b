"""Writing new tokens' K/V into the paged KV cache."""

from __future__ import annotations

import torch

from llmserve_kernels._dispatch import resolve_impl
from llmserve_kernels.kv_store import reference

__all__ = ["store_kv"]


def store_kv(
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
    impl: str | None = None,
) -> None:
    """Write k[t], v[t] into cache slot slot_mapping[t], in place.

    k, v: [T, Hkv, D]; k_cache, v_cache: [num_blocks, block_size, Hkv, D]; slot_mapping: [T]
    int64, block_id * block_size + offset, where -1 marks a token to skip. Values are cast to
    the cache dtype. Two tokens mapped to the same slot leave either one there.

    impl: 'triton', 'reference', or None (triton for CUDA tensors, else the reference).
    """
    chosen = resolve_impl(impl, k, v, k_cache, v_cache, slot_mapping)
    if chosen == "triton":
        from llmserve_kernels.kv_store import kernel

        kernel.store_kv(k, v, k_cache, v_cache, slot_mapping)
    else:
        reference.store_kv(k, v, k_cache, v_cache, slot_mapping)
