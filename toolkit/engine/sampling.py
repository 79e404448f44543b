"""Sampling parameters and the sampler: greedy, or seeded temperature / top-k / top-p."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(slots=True)
class SamplingParams:
    """How to pick each output token (shaped like vLLM's `SamplingParams`).

    `temperature == 0` is greedy. A request with `seed` samples from its own generator, so its
    output does not depend on what else is batched with it; without one the engine derives a
    seed from its own seed and the request's position. `n` samples per prompt (offline
    `LLM.generate`): sample j gets seed `seed + j` when `seed` is set.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 16
    seed: int | None = None
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 (off) or positive, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def sample(logits: torch.Tensor, params: list[SamplingParams],
           generators: list[torch.Generator | None]) -> list[int]:
    """One token per row of `logits` [N, vocab] (float32), row i under `params[i]`."""
    out = logits.argmax(dim=-1).tolist()
    for i, p in enumerate(params):
        if not p.greedy:
            out[i] = sample_row(logits[i], p, generators[i])
    return out


def sample_row(logits: torch.Tensor, p: SamplingParams, gen: torch.Generator | None) -> int:
    """Sample one token from `logits` [vocab] with temperature, then top-k, then top-p
    (the draw runs on the CPU, from `gen`, a CPU generator)."""
    probs = torch.softmax(logits / p.temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    if p.top_k > 0:
        sorted_probs = sorted_probs[: p.top_k]
        order = order[: p.top_k]
    if p.top_p < 1.0:
        cum = sorted_probs.cumsum(0)
        keep = (cum - sorted_probs) < p.top_p  # the smallest set reaching top_p
        sorted_probs = sorted_probs[keep]
        order = order[keep]
    choice = int(torch.multinomial(sorted_probs.cpu(), 1, generator=gen).item())
    return int(order[choice].item())
