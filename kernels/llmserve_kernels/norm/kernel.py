"""RMSNorm with an optional fused residual add in Triton: one program per row.

A program loads its row (adding the residual row and storing the sum when there is one),
reduces the mean square in float32, rounds the normalised row to the input dtype and
multiplies by the weight, so that one kernel replaces the add and the eight elementwise
kernels of the PyTorch form.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_norm_kernel(
    x_ptr, r_ptr, w_ptr, out_ptr, sum_ptr,
    n_cols, eps,
    stride_x, stride_r, stride_out, stride_sum,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    ok = cols < n_cols
    x = tl.load(x_ptr + row * stride_x + cols, mask=ok, other=0.0)
    if HAS_RESIDUAL:
        r = tl.load(r_ptr + row * stride_r + cols, mask=ok, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(x_ptr.dtype.element_ty, fp_downcast_rounding="rtne")
        tl.store(sum_ptr + row * stride_sum + cols, x, mask=ok)
    xf = x.to(tl.float32)
    mean_sq = tl.sum(xf * xf, axis=0) / n_cols
    y = (xf * tl.rsqrt(mean_sq + eps)).to(x_ptr.dtype.element_ty)
    w = tl.load(w_ptr + cols, mask=ok, other=0.0)
    out = w.to(tl.float32) * y.to(tl.float32)
    tl.store(out_ptr + row * stride_out + cols, out.to(out_ptr.dtype.element_ty), mask=ok)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Triton RMSNorm; same contract as `reference.rms_norm` (rows of a 2-D x, unit stride
    along the normalised dim)."""
    if x.dim() != 2 or x.stride(-1) != 1 or (residual is not None and residual.stride(-1) != 1):
        raise ValueError("rms_norm kernel: x (and residual) must be [rows, n] with unit "
                         f"column stride; got shape {tuple(x.shape)} stride {x.stride()}")
    rows, n_cols = x.shape
    out = torch.empty(x.shape, dtype=torch.promote_types(weight.dtype, x.dtype), device=x.device)
    total = torch.empty_like(x) if residual is not None else out
    if rows:
        block = triton.next_power_of_2(n_cols)
        _rms_norm_kernel[(rows,)](
            x, residual if residual is not None else x, weight, out, total, n_cols, eps,
            x.stride(0), (residual if residual is not None else x).stride(0), out.stride(0),
            total.stride(0), HAS_RESIDUAL=residual is not None, BLOCK=block,
            num_warps=min(16, max(1, block // 256)),
        )  # fmt: skip
    return out if residual is None else (out, total)
