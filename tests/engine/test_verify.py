"""Speculative sampling keeps the target's distribution: chi-square tests of the emitted
token against the target's processed probabilities, for random and deterministic proposals;
the same test rejects a deliberately wrong acceptance rule."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
from scipy.stats import chisquare  # noqa: E402

from toolkit.engine.sampling import SamplingParams, sample_row  # noqa: E402
from toolkit.engine.verify import (  # noqa: E402
    draw,
    processed_probs,
    proposal_vector,
    verify_greedy,
    verify_sampled,
)

V, TRIALS = 6, 12_000
PARAMS = [SamplingParams(temperature=0.7), SamplingParams(temperature=1.0, top_k=4, top_p=0.9)]


def target_logits(seed: int) -> torch.Tensor:
    return torch.randn(3, V, generator=torch.Generator().manual_seed(seed)) * 1.5


def proposal(seed: int) -> dict[int, float]:
    rng = random.Random(seed)
    w = [rng.random() ** 2 for _ in range(V)]
    return {t: x / sum(w) for t, x in enumerate(w)}


def p_value(tokens: list[int], probs: torch.Tensor) -> float:
    """Chi-square goodness of fit of emitted tokens to `probs` (cells with mass only)."""
    counts = torch.bincount(torch.tensor(tokens), minlength=V).double()
    support = probs > 0
    if counts[~support].sum() > 0:
        return 0.0
    expected = probs[support] * len(tokens)
    return float(chisquare(counts[support].numpy(), expected.numpy()).pvalue)


def first_tokens(rule, logits, params, law, seed=0) -> list[int]:
    """The first emitted token of `TRIALS` verify calls, one draft token drawn from `law`
    (a fixed token when `law` is an int)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(TRIALS):
        if isinstance(law, int):
            d, laws = law, None
        else:
            d = rng.choices(list(law), weights=list(law.values()))[0]
            laws = [law]
        out.append(rule(logits[:2], [d], laws, params, gen)[0])
    return out


def wrong_rule(logits, draft, laws, params, gen):
    """Resamples from the target itself after a rejection (the residual is left out)."""
    p = processed_probs(logits[0], params)
    q = proposal_vector(None if laws is None else laws[0], draft[0], V)
    u = float(torch.rand(1, generator=gen, dtype=torch.float64))
    if u * float(q[draft[0]]) < float(p[draft[0]]):
        return [draft[0]]
    return [draw(p, gen)]


@pytest.mark.parametrize("params", PARAMS, ids=["t0.7", "topk4-topp0.9"])
@pytest.mark.parametrize("law", ["random", "fixed"])
def test_emitted_token_follows_the_target(params, law):
    logits = target_logits(1)
    target = processed_probs(logits[0], params)
    law_arg = proposal(2) if law == "random" else int(torch.argmax(target))
    assert p_value(first_tokens(verify_sampled, logits, params, law_arg), target) > 1e-3
    assert p_value(first_tokens(wrong_rule, logits, params, law_arg), target) < 1e-6


@pytest.mark.parametrize("params", PARAMS, ids=["t0.7", "topk4-topp0.9"])
def test_plain_sampler_draws_the_processed_distribution(params):
    logits = target_logits(3)[0]
    gen = torch.Generator().manual_seed(0)
    tokens = [sample_row(logits, params, gen) for _ in range(TRIALS)]
    assert p_value(tokens, processed_probs(logits, params)) > 1e-3


def test_greedy_rule_by_hand():
    logits = torch.zeros(4, V)
    for row, tok in enumerate([2, 5, 1, 3]):
        logits[row, tok] = 1.0
    assert verify_greedy(logits, [2, 5, 1]) == [2, 5, 1, 3]
    assert verify_greedy(logits, [2, 4, 1]) == [2, 5]
    assert verify_greedy(logits, [0, 5, 1]) == [2]
