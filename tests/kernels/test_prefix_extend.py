"""Prefix-extend attention: reference against brute force, Triton kernel against reference."""

from __future__ import annotations

import pytest
import torch

from llmserve_kernels.prefix_extend import prefix_extend_attention

from ._common import (
    DEVICE,
    KERNEL_DTYPES,
    PagedCache,
    assert_close,
    case_id,
    dense_attention,
    triton_test,
)

# (num_q_heads, num_kv_heads, head_dim, block_size, q_lens, seq_lens); q_len == seq_len is a
# sequence with no cached prefix, q_len 1 a decode-like step, q_len 0 a sequence with no rows.
CASES = [
    (6, 2, 40, 16, [1, 17, 5], [1, 17, 33]),
    (6, 2, 64, 5, [3, 1, 20, 7], [3, 33, 37, 7]),
    (4, 4, 40, 5, [18, 0, 2], [18, 9, 2]),
    (8, 1, 64, 16, [1], [1]),
    # a verify step with drafts for a few sequences only: q lengths 1 and 9 mixed
    (4, 2, 32, 8, [1, 9, 1, 1, 5, 9, 1], [40, 30, 2, 77, 12, 9, 1]),
]
IDS = [case_id(B=len(c[4]), Hq=c[0], Hkv=c[1], D=c[2], bs=c[3], T=sum(c[4])) for c in CASES]


def _inputs(
    case: tuple, dtype: torch.dtype, device: str
) -> tuple[torch.Tensor, torch.Tensor, PagedCache]:
    num_q_heads, num_kv_heads, head_dim, block_size, q_lens, seq_lens = case
    cache = PagedCache(seq_lens, block_size, num_kv_heads, head_dim, dtype, device)
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(sum(q_lens), num_q_heads, head_dim, generator=gen)
    cu = torch.tensor([0, *torch.tensor(q_lens).cumsum(0).tolist()], dtype=torch.int32)
    return q.to(device=device, dtype=dtype), cu.to(device), cache


def _run(case: tuple, dtype: torch.dtype, device: str, impl: str) -> tuple[torch.Tensor, ...]:
    q, cu, cache = _inputs(case, dtype, device)
    out = prefix_extend_attention(q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens,
                                  case[2] ** -0.5, impl=impl)  # fmt: skip
    return q, cu, cache, out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_matches_dense(case: tuple) -> None:
    q, cu, cache, out = _run(case, torch.float32, "cpu", "reference")
    assert out.shape == q.shape and out.dtype == q.dtype
    for b, q_len in enumerate(case[4]):
        rows = slice(int(cu[b]), int(cu[b + 1]))
        want = dense_attention(q[rows], cache, b, q_len, case[2] ** -0.5)
        torch.testing.assert_close(out[rows].double(), want, atol=1e-5, rtol=1e-5)


def test_single_token_matches_decode() -> None:
    """A batch of one-token extends is a decode step."""
    from llmserve_kernels.paged_decode import paged_decode_attention

    case = (6, 2, 40, 5, [1, 1, 1], [1, 17, 33])
    q, _, cache, out = _run(case, torch.float32, "cpu", "reference")
    decode = paged_decode_attention(q, cache.k, cache.v, cache.block_tables, cache.seq_lens,
                                    case[2] ** -0.5, impl="reference")  # fmt: skip
    torch.testing.assert_close(out, decode)


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_triton_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    q, cu, cache, tri = _run(case, dtype, DEVICE, "triton")
    ref = prefix_extend_attention(q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens,
                                  case[2] ** -0.5, impl="reference")  # fmt: skip
    assert tri.shape == q.shape and tri.dtype == q.dtype
    assert_close("prefix_extend", ref, tri, dtype)


@triton_test
def test_triton_with_a_host_max_q_len_matches() -> None:
    case = CASES[0]
    q, cu, cache, tri = _run(case, torch.float32, DEVICE, "triton")
    longest = int((cu[1:] - cu[:-1]).max())
    given = prefix_extend_attention(q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens,
                                    case[2] ** -0.5, impl="triton", max_q_len=longest)  # fmt: skip
    torch.testing.assert_close(given, tri, atol=0, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batched_torch_path_matches_reference(case: tuple) -> None:
    """The padded-batch CPU path (verify steps) against the one-sequence-at-a-time spec."""
    q, cu, cache, ref = _run(case, torch.float32, "cpu", "reference")
    out = prefix_extend_attention(q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens,
                                  case[2] ** -0.5, impl="torch")  # fmt: skip
    assert out.shape == q.shape
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_default_picks_the_batched_path_only_for_short_runs(monkeypatch) -> None:
    from llmserve_kernels.prefix_extend import batched

    calls = []
    real = batched.prefix_extend_attention
    monkeypatch.setattr(batched, "prefix_extend_attention",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    q, cu, cache = _inputs(CASES[1], torch.float32, "cpu")
    for max_q in (20, batched.MAX_Q_LEN + 1, None):
        prefix_extend_attention(q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens,
                                0.1, max_q_len=max_q)  # fmt: skip
    assert len(calls) == 1  # only the call that said its runs are short
