"""Building blocks shared by the synthetic workload generators.

Prompts are tuples of Python ints (vocabulary `VOCAB_SIZE`; `Request` stores prompts as
tuples). A request's prompt is built as `shared_prefix + unique_tail` by concatenation, and
every token id is taken from one table of int objects (`_VOCAB`), so requests share the int
objects and a prompt costs only its pointer array (8 bytes a token).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from toolkit.core.errors import ConfigError
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.workloads.arrivals import make_arrivals

VOCAB_SIZE = 32000
_VOCAB = np.array(range(VOCAB_SIZE), dtype=object)


def scale_to_gpus(
    num_prefixes: int, num_requests: int, rps: float, num_gpus: int
) -> tuple[int, int, float]:
    """Scale a per-2-GPU Preble config (prefixes, requests, rps) to `num_gpus` GPUs."""
    if num_gpus <= 0:
        raise ConfigError("num_gpus", f"must be positive, got {num_gpus}")
    factor = num_gpus / 2
    return int(num_prefixes * factor), int(num_requests * factor), rps * factor


def rng_streams(seed: int, num: int = 2) -> list[np.random.Generator]:
    """Independent Generators from one seed (content, arrivals, ...): changing the rate
    does not change the prompts."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(num)]


def gamma_lengths(
    rng: np.random.Generator,
    mean: float,
    std: float,
    size: int,
    lo: int = 1,
    hi: int | None = None,
) -> np.ndarray:
    """Integer lengths from a Gamma distribution with this mean and std, clipped to [lo, hi]."""
    if std <= 0:
        vals = np.full(size, float(mean))
    else:
        shape = (mean / std) ** 2
        vals = rng.gamma(shape, std**2 / mean, size=size)
    return np.clip(np.rint(vals), lo, hi).astype(np.int64)


def spread_counts(
    rng: np.random.Generator, total: int, num_groups: int, cv: float, min_count: int = 1
) -> np.ndarray:
    """Split `total` items into `num_groups` groups of at least `min_count`, with sizes of
    coefficient of variation about `cv` (0 = as even as possible); sums exactly to `total`."""
    check_counts(num_groups, total, min_count)
    rest = total - num_groups * min_count
    if cv > 0:
        weights = rng.gamma(1.0 / cv**2, 1.0, size=num_groups)
    else:
        weights = np.ones(num_groups)
    exact = weights / weights.sum() * rest
    counts = np.floor(exact).astype(np.int64)
    short = rest - int(counts.sum())
    if short:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return counts + min_count


def group_labels(
    rng: np.random.Generator,
    num_requests: int,
    num_groups: int,
    popularity: str = "even",
    zipf_a: float = 1.1,
) -> np.ndarray:
    """The prefix group of each request in send order: EVEN (num_requests/num_groups each,
    shuffled) or ZIPF(a) over the groups (rank k drawn with probability ~ k^-a)."""
    check_counts(num_groups, num_requests, 0)
    if popularity == "even":
        counts = spread_counts(rng, num_requests, num_groups, cv=0.0, min_count=0)
        return rng.permutation(np.repeat(np.arange(num_groups), counts))
    if popularity == "zipf":
        if zipf_a <= 0:
            raise ConfigError("zipf_a", f"must be positive, got {zipf_a}")
        probs = np.arange(1, num_groups + 1, dtype=float) ** -zipf_a
        ranks = rng.choice(num_groups, size=num_requests, p=probs / probs.sum())
        return rng.permutation(num_groups)[ranks]
    raise ConfigError("popularity", f"unknown popularity {popularity!r}; use 'even' or 'zipf'")


def random_tokens(rng: np.random.Generator, num_tokens: int) -> tuple[int, ...]:
    """`num_tokens` uniform random token ids (shared int objects) as a tuple."""
    return tuple(_VOCAB[rng.integers(0, VOCAB_SIZE, size=int(num_tokens))].tolist())


def token_chunks(rng: np.random.Generator, lengths: Sequence[int]) -> list[tuple[int, ...]]:
    """One tuple of random tokens per length, drawn in one call (fast for many short tails)."""
    flat = random_tokens(rng, int(np.sum(lengths)))
    bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def request_id(name: str, index: int) -> str:
    """Request id `name-000042`: zero-padded so equal arrival times keep index order."""
    return f"{name}-{index:07d}"


def build_trace(
    name: str,
    prompts: Sequence[Sequence[int]],
    output_lens: Sequence[int],
    arrivals_s: Sequence[float],
    sessions: Sequence[str | None] | None = None,
    meta: dict | None = None,
) -> Trace:
    """A Trace whose i-th request has prompts[i], output_lens[i] and arrivals_s[i]."""
    outs = [int(o) for o in output_lens]
    times = [float(t) for t in arrivals_s]
    reqs = [
        Request(
            id=request_id(name, i),
            arrival_s=times[i],
            output_len=outs[i],
            prompt_token_ids=prompts[i],
            session=None if sessions is None else sessions[i],
        )
        for i in range(len(prompts))
    ]
    return Trace(reqs, name=name, meta=dict(meta or {}))


def arrivals_for(
    rng: np.random.Generator, num_requests: int, rps: float, arrival: str, cv: float
) -> np.ndarray:
    """Arrival times (s) for a generator (the process named by `arrival`)."""
    return make_arrivals(num_requests, rps, rng, arrival=arrival, cv=cv)


def check_counts(num_prefixes: int, num_requests: int, min_per_prefix: int = 1) -> None:
    """Raise ConfigError unless the prefix and request counts make sense."""
    if num_prefixes <= 0:
        raise ConfigError("num_prefixes", f"must be positive, got {num_prefixes}")
    if num_requests < num_prefixes * min_per_prefix:
        raise ConfigError(
            "num_requests",
            f"{num_requests} requests cannot give {num_prefixes} prefixes "
            f"{min_per_prefix} request(s) each",
        )
