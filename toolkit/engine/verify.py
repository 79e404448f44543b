"""Lossless acceptance of draft tokens, given the target's logits at each draft position.

Rows of `logits` [k+1, vocab]: row i is the target's next-token logits after the context
and the first i draft tokens. Greedy: accept drafts while each equals the target's argmax,
then emit the target's argmax at the first mismatch (or after the last draft). Sampling:
speculative (rejection) sampling (Leviathan et al. 2023; Chen et al. 2023): draft token x
drawn from the proposal q is kept with probability min(1, p(x) / q(x)); at the first
rejection the token is drawn from norm(max(0, p - q)); if every draft is kept, one more is
drawn from the last row. Each emitted token is then distributed exactly as the target's `p`
(temperature, top-k and top-p applied as the plain sampler applies them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from toolkit.engine.sampling import SamplingParams


def processed_probs(logits: torch.Tensor, p: SamplingParams) -> torch.Tensor:
    """The sampler's distribution over the vocabulary (float64, on the CPU) for each row of
    `logits` ([vocab] or [rows, vocab]): softmax at `p.temperature`, then top-k, then
    top-p, renormalised; zeros outside."""
    probs = torch.softmax(logits.double().cpu() / p.temperature, dim=-1)
    if p.top_k <= 0 and p.top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep = torch.ones_like(sorted_probs, dtype=torch.bool)
    if p.top_k > 0:
        keep[..., p.top_k:] = False
    if p.top_p < 1.0:
        masked = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        keep &= (masked.cumsum(-1) - masked) < p.top_p
    kept = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    out = torch.zeros_like(probs).scatter_(-1, order, kept)
    return out / out.sum(dim=-1, keepdim=True)


def verify_greedy(logits: torch.Tensor, draft: Sequence[int]) -> list[int]:
    """Accepted drafts plus the target's own next token."""
    target = logits.argmax(dim=-1).tolist()
    out = []
    for i, d in enumerate(draft):
        if d != target[i]:
            break
        out.append(d)
    out.append(target[len(out)])
    return out


def proposal_vector(law: Mapping[int, float] | None, token: int, vocab: int) -> torch.Tensor:
    """The proposal law as a vocabulary vector (a point mass on `token` when `law` is None:
    a drafter that picks deterministically)."""
    q = torch.zeros(vocab, dtype=torch.float64)
    if law is None:
        q[token] = 1.0
    else:
        for t, pr in law.items():
            q[t] = pr
    return q


def verify_sampled(logits: torch.Tensor, draft: Sequence[int],
                   laws: Sequence[Mapping[int, float] | None] | None, params: SamplingParams,
                   gen: torch.Generator | None) -> list[int]:
    """Speculative sampling over one sequence's rows; `laws[i]` is the proposal law draft
    token i was drawn from (None: deterministic)."""
    vocab = logits.shape[-1]
    probs = processed_probs(logits, params)  # every row at once
    out = []
    for i, d in enumerate(draft):
        law = None if laws is None else laws[i]
        q_d = 1.0 if law is None else float(law.get(d, 0.0))
        u = float(torch.rand(1, generator=gen, dtype=torch.float64))
        if q_d > 0 and u * q_d < float(probs[i, d]):
            out.append(d)
            continue
        residual = (probs[i] - proposal_vector(law, d, vocab)).clamp(min=0)
        out.append(draw(residual if residual.sum() > 0 else probs[i], gen))
        return out
    out.append(draw(probs[len(draft)], gen))
    return out


def draw(weights: torch.Tensor, gen: torch.Generator | None) -> int:
    """One index in proportion to `weights` (unnormalised, float64, CPU)."""
    return int(torch.multinomial(weights, 1, generator=gen).item())
