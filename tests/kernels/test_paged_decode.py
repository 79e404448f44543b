"""Paged decode attention: reference against brute force, Triton kernel against reference."""

from __future__ import annotations

import pytest
import torch

from kernels.paged_decode import paged_decode_attention

from ._common import (
    DEVICE,
    KERNEL_DTYPES,
    PagedCache,
    assert_close,
    case_id,
    dense_attention,
    triton_test,
)

# (num_q_heads, num_kv_heads, head_dim, block_size, context_lens)
CASES = [
    (6, 2, 40, 16, [1, 17, 33]),
    (6, 2, 64, 5, [1, 17, 33]),
    (4, 4, 64, 16, [16, 3]),  # plain multi-head, a full block
    (8, 1, 40, 5, [10, 1, 7, 33]),  # multi-query
]
IDS = [case_id(B=len(c), Hq=h, Hkv=kv, D=d, bs=bs) for h, kv, d, bs, c in CASES]


def _inputs(case: tuple, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, PagedCache]:
    num_q_heads, num_kv_heads, head_dim, block_size, context_lens = case
    cache = PagedCache(context_lens, block_size, num_kv_heads, head_dim, dtype, device)
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(len(context_lens), num_q_heads, head_dim, generator=gen)
    return q.to(device=device, dtype=dtype), cache


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_matches_dense(case: tuple) -> None:
    q, cache = _inputs(case, torch.float32, "cpu")
    scale = case[2] ** -0.5
    out = paged_decode_attention(q, cache.k, cache.v, cache.block_tables, cache.seq_lens, scale,
                                 impl="reference")  # fmt: skip
    assert out.shape == q.shape and out.dtype == q.dtype
    for b in range(q.shape[0]):
        want = dense_attention(q[b : b + 1], cache, b, 1, scale)[0]
        torch.testing.assert_close(out[b].double(), want, atol=1e-5, rtol=1e-5)


def test_default_impl_on_cpu_is_reference() -> None:
    q, cache = _inputs(CASES[0], torch.float32, "cpu")
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, 0.2)
    torch.testing.assert_close(
        paged_decode_attention(*args), paged_decode_attention(*args, impl="reference")
    )
    with pytest.raises(ValueError, match="unknown impl"):
        paged_decode_attention(*args, impl="cuda")


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_triton_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    q, cache = _inputs(case, dtype, DEVICE)
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, case[2] ** -0.5)
    ref = paged_decode_attention(*args, impl="reference")
    tri = paged_decode_attention(*args, impl="triton")
    assert tri.shape == q.shape and tri.dtype == q.dtype
    assert_close("paged_decode", ref, tri, dtype)
