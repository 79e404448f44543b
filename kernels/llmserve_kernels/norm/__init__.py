"""RMSNorm, with an optional residual add fused in front of it."""

from __future__ import annotations

import torch

from llmserve_kernels._dispatch import resolve_impl
from llmserve_kernels.norm import reference

__all__ = ["rms_norm"]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None, impl: str | None = None
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """`weight * s / sqrt(mean(s**2) + eps)` over the last dim, s = x (+ residual).

    x, residual: [T, n] in the model dtype; weight: [n]. The sum is in x's dtype, the
    normalisation in float32 rounded back to x's dtype before the weight (Hugging Face
    Llama's rounding). Returns the normed [T, n], or (normed, s) with `residual`: s is the
    residual stream the next layer adds to.

    impl: 'triton', 'reference', or None (triton for CUDA tensors, else the reference).
    """
    tensors = (x, weight) if residual is None else (x, weight, residual)
    if resolve_impl(impl, *tensors) == "triton":
        from llmserve_kernels.norm import kernel

        return kernel.rms_norm(x, weight, eps, residual)
    return reference.rms_norm(x, weight, eps, residual)
