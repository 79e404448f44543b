"""RMSNorm, optionally after a residual add, in PyTorch with Hugging Face Llama's rounding:
the kernel's spec (and what the engine runs off CUDA)."""

from __future__ import annotations

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None
             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """`weight * (s / sqrt(mean(s**2) + eps))` over the last dim, s = x (+ residual).

    The sum s is taken in x's dtype; the normalisation in float32, rounded back to x's dtype
    before the weight multiplies it (as `LlamaRMSNorm` does). Without `residual` returns the
    normed tensor; with it, (normed, s): s is the new residual stream.
    """
    s = x if residual is None else x + residual
    dtype = s.dtype
    y = s if dtype == torch.float32 else s.float()
    y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps)
    out = weight * (y if dtype == torch.float32 else y.to(dtype))
    return out if residual is None else (out, s)
