"""gather_kv_blocks / scatter_kv_blocks: references against loops, kernels against references."""

from __future__ import annotations

import pytest
import torch

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks

from ._common import DEVICE, KERNEL_DTYPES, triton_test

# cache shapes: [num_blocks, block_size, Hkv, D] and a [num_blocks, 2, block_size, Hkv, D] K+V
SHAPES = [(9, 5, 2, 40), (6, 2, 16, 3, 64)]
IDS = ["nb9-bs5-Hkv2-D40", "nb6-kv2-bs16-Hkv3-D64"]


def _cache(shape: tuple, dtype: torch.dtype, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(4)
    return torch.randn(shape, generator=gen).to(device=device, dtype=dtype)


def _ids(num_blocks: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    return torch.randperm(num_blocks, generator=gen)[: num_blocks - 2].to(device)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_reference_matches_loop(shape: tuple) -> None:
    cache = _cache(shape, torch.float32, "cpu")
    ids = _ids(shape[0], "cpu")
    got = gather_kv_blocks(cache, ids, impl="reference")
    assert got.is_contiguous() and got.shape == (len(ids), *shape[1:])
    for i, blk in enumerate(ids.tolist()):
        assert torch.equal(got[i], cache[blk])
    src = torch.randn(len(ids), *shape[1:])
    want = cache.clone()
    for i, blk in enumerate(ids.tolist()):
        want[blk] = src[i]
    scatter_kv_blocks(cache, ids.tolist(), src, impl="reference")
    assert torch.equal(cache, want)


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_triton_gather_matches_reference(shape: tuple, dtype: torch.dtype) -> None:
    """Exact copy; the output comes from NaN-poisoned torch.empty, so a missed element shows."""
    cache = _cache(shape, dtype, DEVICE)
    ids = _ids(shape[0], DEVICE).to(torch.int32)
    got = gather_kv_blocks(cache, ids, impl="triton")
    assert got.dtype == dtype and got.is_contiguous()
    torch.testing.assert_close(got, gather_kv_blocks(cache, ids, impl="reference"), atol=0, rtol=0)


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_triton_scatter_matches_reference(shape: tuple, dtype: torch.dtype) -> None:
    """Exact copy into the listed blocks only; a NaN-filled cache shows stray or missed writes."""
    cache = torch.full(shape, float("nan"), dtype=dtype, device=DEVICE)
    ids = _ids(shape[0], DEVICE)
    src = _cache((len(ids), *shape[1:]), dtype, "cpu")  # from the host, as when swapping in
    want = cache.clone()
    scatter_kv_blocks(want, ids, src, impl="reference")
    scatter_kv_blocks(cache, ids, src, impl="triton")
    torch.testing.assert_close(cache, want, equal_nan=True, atol=0, rtol=0)


@triton_test
def test_triton_round_trip_empty_ids() -> None:
    cache = _cache(SHAPES[0], torch.float32, DEVICE)
    empty = torch.empty(0, dtype=torch.int64, device=DEVICE)
    assert gather_kv_blocks(cache, empty, impl="triton").shape == (0, *SHAPES[0][1:])
    before = cache.clone()
    scatter_kv_blocks(cache, empty, cache[:0], impl="triton")
    assert torch.equal(cache, before)
