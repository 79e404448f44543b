"""Paged decode attention: reference against brute force, the batched torch path and the
Triton kernel against the reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmserve_kernels.paged_decode import batched, paged_decode_attention

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


def test_default_impl_on_cpu_is_the_batched_torch_path() -> None:
    q, cache = _inputs(CASES[0], torch.float32, "cpu")
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, 0.2)
    torch.testing.assert_close(
        paged_decode_attention(*args), paged_decode_attention(*args, impl="torch"), atol=0, rtol=0
    )
    with pytest.raises(ValueError, match="unknown impl"):
        paged_decode_attention(*args, impl="cuda")


@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    q, cache = _inputs(case, dtype, "cpu")  # unused slots and padding entries are NaN
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, case[2] ** -0.5)
    ref = paged_decode_attention(*args, impl="reference")
    out = paged_decode_attention(*args, impl="torch")
    assert out.shape == q.shape and out.dtype == q.dtype
    assert_close("paged_decode[torch]", ref, out, dtype)


def test_torch_takes_an_empty_batch() -> None:
    q, cache = _inputs(CASES[0], torch.float32, "cpu")
    out = paged_decode_attention(q[:0], cache.k, cache.v, cache.block_tables[:0],
                                 cache.seq_lens[:0], 0.2, impl="torch")  # fmt: skip
    assert out.shape == (0, *q.shape[1:])


def test_torch_gives_zeros_for_an_empty_row_like_the_reference() -> None:
    q, cache = _inputs(CASES[0], torch.float32, "cpu")
    lens = cache.seq_lens.clone()
    lens[1] = 0
    args = (q, cache.k, cache.v, cache.block_tables, lens, 0.2)
    out = paged_decode_attention(*args, impl="torch")
    torch.testing.assert_close(out, paged_decode_attention(*args, impl="reference"))
    assert not out[1].any()


def test_torch_slices_a_batch_over_its_gather_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    q, cache = _inputs(CASES[3], torch.float32, "cpu")
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, 0.3)
    whole = paged_decode_attention(*args, impl="torch")
    monkeypatch.setattr(batched, "GATHER_BUDGET", 1)  # one sequence per slice
    assert_close("paged_decode[torch, sliced]", whole, paged_decode_attention(*args, impl="torch"),
                 torch.float32)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(kv_heads=st.integers(1, 3), group=st.integers(1, 4), head_dim=st.sampled_from([8, 20, 64]),
       block_size=st.integers(1, 9), lens=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_torch_matches_reference_on_random_shapes(kv_heads: int, group: int, head_dim: int,
                                                  block_size: int, lens: list[int],
                                                  seed: int) -> None:  # fmt: skip
    cache = PagedCache(lens, block_size, kv_heads, head_dim, torch.float32, "cpu", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(len(lens), kv_heads * group, head_dim, generator=gen)
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, head_dim**-0.5)
    assert_close("paged_decode[torch]", paged_decode_attention(*args, impl="reference"),
                 paged_decode_attention(*args, impl="torch"), torch.float32)  # fmt: skip


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
