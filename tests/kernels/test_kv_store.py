"""store_kv: reference against a per-token loop, Triton kernel against reference."""

from __future__ import annotations

import pytest
import torch

from llmserve_kernels.kv_store import store_kv

from ._common import DEVICE, KERNEL_DTYPES, case_id, triton_test

# (num_tokens, num_kv_heads, head_dim, num_blocks, block_size)
CASES = [(7, 2, 40, 4, 5), (20, 3, 64, 3, 16), (1, 1, 40, 1, 5)]
IDS = [case_id(T=t, Hkv=h, D=d, nb=nb, bs=bs) for t, h, d, nb, bs in CASES]


def _inputs(case: tuple, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, ...]:
    """k, v (v a strided slice, as from a fused projection), NaN caches, and a slot mapping with
    distinct slots and every third token skipped (-1)."""
    num_tokens, num_heads, head_dim, num_blocks, block_size = case
    gen = torch.Generator().manual_seed(3)
    k = torch.randn(num_tokens, num_heads, head_dim, generator=gen)
    kv = torch.randn(num_tokens, 2 * num_heads, head_dim, generator=gen)
    v = kv[:, num_heads:]
    slots = torch.randperm(num_blocks * block_size, generator=gen)[:num_tokens]
    slots[::3] = -1
    shape = (num_blocks, block_size, num_heads, head_dim)
    k_cache = torch.full(shape, float("nan"), dtype=dtype, device=device)
    v_cache = torch.full(shape, float("nan"), dtype=dtype, device=device)
    to = {"device": device, "dtype": dtype}
    return k.to(**to), v.to(**to), k_cache, v_cache, slots.to(device)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_matches_loop(case: tuple) -> None:
    k, v, k_cache, v_cache, slots = _inputs(case, torch.float32, "cpu")
    want_k, want_v = k_cache.clone(), v_cache.clone()
    block_size = k_cache.shape[1]
    for t, slot in enumerate(slots.tolist()):
        if slot >= 0:
            want_k[slot // block_size, slot % block_size] = k[t]
            want_v[slot // block_size, slot % block_size] = v[t]
    store_kv(k, v, k_cache, v_cache, slots, impl="reference")
    torch.testing.assert_close(k_cache, want_k, equal_nan=True, atol=0, rtol=0)
    torch.testing.assert_close(v_cache, want_v, equal_nan=True, atol=0, rtol=0)


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_triton_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    """Exact match, NaN left untouched in every slot not written (skipped tokens included)."""
    k, v, k_cache, v_cache, slots = _inputs(case, dtype, DEVICE)
    ref_k, ref_v = k_cache.clone(), v_cache.clone()
    store_kv(k, v, ref_k, ref_v, slots, impl="reference")
    store_kv(k, v, k_cache, v_cache, slots, impl="triton")
    torch.testing.assert_close(k_cache, ref_k, equal_nan=True, atol=0, rtol=0)
    torch.testing.assert_close(v_cache, ref_v, equal_nan=True, atol=0, rtol=0)
