"""Choosing an implementation: defaults, errors, and no triton import until a kernel runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from llmserve_kernels._dispatch import resolve_impl

from ._common import HAS_TRITON, INTERPRET


def test_default_is_reference_on_cpu() -> None:
    assert resolve_impl(None, torch.zeros(2), torch.zeros(3)) == "reference"
    assert resolve_impl("reference", torch.zeros(2)) == "reference"


def test_default_is_the_torch_path_where_an_op_has_one() -> None:
    both = ("triton", "torch", "reference")
    assert resolve_impl(None, torch.zeros(2), available=both) == "torch"
    assert resolve_impl("reference", torch.zeros(2), available=both) == "reference"
    with pytest.raises(ValueError, match="unknown impl 'torch'"):
        resolve_impl("torch", torch.zeros(2))


def test_unknown_impl_raises() -> None:
    with pytest.raises(ValueError, match="unknown impl"):
        resolve_impl("cuda", torch.zeros(2))


@pytest.mark.skipif(INTERPRET or not HAS_TRITON, reason="needs triton and no TRITON_INTERPRET")
def test_triton_on_cpu_needs_interpreter() -> None:
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        resolve_impl("triton", torch.zeros(2))


@pytest.mark.skipif(not INTERPRET or not HAS_TRITON, reason="needs TRITON_INTERPRET=1")
@pytest.mark.interpreter
def test_triton_on_cpu_under_interpreter() -> None:
    assert resolve_impl("triton", torch.zeros(2)) == "triton"


def test_import_does_not_load_triton() -> None:
    code = "import sys, llmserve_kernels; assert 'triton' not in sys.modules, 'triton imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
