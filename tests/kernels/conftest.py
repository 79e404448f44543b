"""Kernel-test fixtures: NaN-poisoned `torch.empty` so outputs a kernel never writes show up."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch


def _poisoned(factory: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def make(*args: object, **kwargs: object) -> torch.Tensor:
        out = factory(*args, **kwargs)
        if out.is_floating_point():
            out.fill_(float("nan"))
        return out

    return make


@pytest.fixture(autouse=True)
def nan_poisoned_empty(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """During each kernel test, float tensors from torch.empty / empty_like start as NaN."""
    monkeypatch.setattr(torch, "empty", _poisoned(torch.empty))
    monkeypatch.setattr(torch, "empty_like", _poisoned(torch.empty_like))
    yield
