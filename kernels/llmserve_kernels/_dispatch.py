"""Choosing between an op's Triton kernel, its batched PyTorch path and its reference."""

from __future__ import annotations

import importlib.util
import os

import torch

IMPLS: tuple[str, ...] = ("triton", "torch", "reference")
"""'triton': the kernel (CUDA, or CPU under `TRITON_INTERPRET=1`); 'torch': a batched
PyTorch version an op may have for devices without the kernel; 'reference': the readable
float32 spec both are tested against."""


def triton_importable() -> bool:
    """Whether the `triton` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """Whether `TRITON_INTERPRET=1` is set, which lets Triton kernels run on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def resolve_impl(impl: str | None, *tensors: torch.Tensor,
                 available: tuple[str, ...] = ("triton", "reference")) -> str:
    """The implementation an op should run, one of the op's `available` (of `IMPLS`).

    `impl=None` picks 'triton' when every tensor is on CUDA and triton imports, else 'torch'
    where the op has it, else 'reference'. An explicit 'triton' on CPU tensors is allowed only
    with `TRITON_INTERPRET=1` (and raises `RuntimeError` otherwise); a name the op lacks
    raises `ValueError`.
    """
    on_cuda = all(t.is_cuda for t in tensors)
    if impl is None:
        if on_cuda and triton_importable():
            return "triton"
        return "torch" if "torch" in available else "reference"
    if impl not in available:
        raise ValueError(f"unknown impl {impl!r}; expected one of {available} or None")
    if impl == "triton":
        if not triton_importable():
            raise RuntimeError("impl='triton' but triton is not installed")
        if not on_cuda and not interpreter_enabled():
            raise RuntimeError(
                "impl='triton' needs CUDA tensors, or TRITON_INTERPRET=1 set before triton is "
                "imported to run the kernel on CPU through Triton's interpreter"
            )
    return impl
