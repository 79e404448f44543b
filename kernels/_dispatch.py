"""Choosing between an op's Triton kernel and its PyTorch reference."""

from __future__ import annotations

import importlib.util
import os

import torch

IMPLS: tuple[str, ...] = ("triton", "reference")


def triton_importable() -> bool:
    """Whether the `triton` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def interpreter_enabled() -> bool:
    """Whether `TRITON_INTERPRET=1` is set, which lets Triton kernels run on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def resolve_impl(impl: str | None, *tensors: torch.Tensor) -> str:
    """The implementation an op should run: 'triton' or 'reference'.

    `impl=None` picks 'triton' when every tensor is on CUDA and triton imports, else
    'reference'. An explicit 'triton' on CPU tensors is allowed only with `TRITON_INTERPRET=1`
    (and raises `RuntimeError` otherwise); an unknown name raises `ValueError`.
    """
    on_cuda = all(t.is_cuda for t in tensors)
    if impl is None:
        return "triton" if on_cuda and triton_importable() else "reference"
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS} or None")
    if impl == "triton":
        if not triton_importable():
            raise RuntimeError("impl='triton' but triton is not installed")
        if not on_cuda and not interpreter_enabled():
            raise RuntimeError(
                "impl='triton' needs CUDA tensors, or TRITON_INTERPRET=1 set before triton is "
                "imported to run the kernel on CPU through Triton's interpreter"
            )
    return impl
