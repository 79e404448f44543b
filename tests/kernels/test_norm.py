"""rms_norm: reference against Hugging Face's LlamaRMSNorm, Triton kernel against reference."""

from __future__ import annotations

import pytest
import torch

from llmserve_kernels.norm import rms_norm

from ._common import DEVICE, INTERPRET, KERNEL_DTYPES, assert_close, case_id, triton_test

# (rows, width)
CASES = [(1, 40), (7, 129), (33, 1000), (4, 4096)]
IDS = [case_id(T=t, n=n) for t, n in CASES]
EPS = 1e-5


def _inputs(case: tuple, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, ...]:
    rows, width = case
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(rows, width, generator=gen) * 3
    r = torch.randn(rows, width, generator=gen)
    w = 1 + 0.1 * torch.randn(width, generator=gen)
    return tuple(t.to(device=device, dtype=dtype) for t in (x, r, w))


@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_is_hugging_face_llama_rms_norm(case: tuple, dtype: torch.dtype) -> None:
    llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    x, r, w = _inputs(case, dtype, "cpu")
    hf = llama.LlamaRMSNorm(case[1], eps=EPS).to(dtype)
    with torch.no_grad():
        hf.weight.copy_(w)
        torch.testing.assert_close(rms_norm(x, w, EPS, impl="reference"), hf(x), atol=0, rtol=0)
        out, total = rms_norm(x, w, EPS, residual=r, impl="reference")
        torch.testing.assert_close(total, r + x, atol=0, rtol=0)
        torch.testing.assert_close(out, hf(r + x), atol=0, rtol=0)


def test_default_impl_on_cpu_is_reference() -> None:
    x, r, w = _inputs(CASES[1], torch.float32, "cpu")
    torch.testing.assert_close(rms_norm(x, w, EPS), rms_norm(x, w, EPS, impl="reference"))
    with pytest.raises(ValueError, match="unknown impl"):
        rms_norm(x, w, EPS, impl="torch")


@triton_test
@pytest.mark.parametrize("dtype", KERNEL_DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_triton_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    x, r, w = _inputs(case, dtype, DEVICE)
    assert_close("rms_norm", rms_norm(x, w, EPS, impl="reference"),
                 rms_norm(x, w, EPS, impl="triton"), dtype)  # fmt: skip
    ref_out, ref_total = rms_norm(x, w, EPS, residual=r, impl="reference")
    out, total = rms_norm(x, w, EPS, residual=r, impl="triton")
    assert out.dtype == ref_out.dtype and total.dtype == x.dtype
    if INTERPRET and dtype == torch.bfloat16:  # the interpreter truncates float32 -> bf16
        assert_close("rms_norm residual sum", ref_total, total, dtype)
    else:  # the same rounded sum
        torch.testing.assert_close(total, ref_total, atol=0, rtol=0)
    assert_close("rms_norm+residual", ref_out, out, dtype)


@triton_test
def test_triton_rejects_strided_rows() -> None:
    x, _, w = _inputs(CASES[1], torch.float32, DEVICE)
    with pytest.raises(ValueError, match="unit column stride"):
        rms_norm(x.t().contiguous().t(), w, EPS, impl="triton")
