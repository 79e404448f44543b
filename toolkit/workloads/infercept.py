"""InferCept (ICML 2024) workload: requests that pause for tool calls, six augmentations.

A request is a prompt, then `Request.segments` (generate `output_len`, pause `pause_s` for
the tool, append its `return_len` tokens), then `Request.output_len` final-answer tokens.
Per augmentation, each request draws (paper's Table 1; mean, second value read as a std):

- calls: a discretised Gamma on {1, 2, ...} fitted to Table 1's mean and std;
- context = the request's FINAL context (prompt + everything generated + everything tools
  returned), a discretised Gamma fitted to Table 1's context mean and std, correlated with
  the number of calls through a Gaussian copula (`calls_context_corr`, our choice);
- per call: a lognormal pause (exact mean and std), a Gamma number of returned tokens
  (pre-paper means) and a Gamma number of generated tokens (our choice, `output_len`);
- the final answer: Gamma tokens (our choice, `final_len`); coefficient of variation of
  all token Gammas `TOKEN_CV` (the returned and generated counts are not published).

The prompt is what is left: context - generated - returned. Where that is below
`MIN_PROMPT_FRAC` of the context, the request's generated and returned tokens are shrunk
in proportion so that the prompt keeps that share: the context and the calls keep Table
1's distribution, and the returned-token mean drops below its target where the targets
do not fit (chatbot: 4.45 calls x 286.5 returned tokens exceed its 753-token context, so
its returned tokens come out near 120 a call). ALFWorld's narrow context (2185, 115) with
28 +- 15 calls makes its prompts shorter where calls are many. Check: `segment_stats`.

The mixed trace follows the released benchmark (`final_tput_bench_real.py`): requests
drawn uniformly over the augmentations, Poisson arrivals, optionally its burst start, and
its output cap (generated + returned tokens <= min(2048, their sum): a request stops at
the first tool call that would cross `output_cap`; that segment's output becomes the
final answer, clipped). The benchmark draws 4 x rps x window requests and censors at the
window's end; here the count is rps x duration_s (or `num_requests`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from toolkit.core.errors import ConfigError
from toolkit.core.request import Request, Segment
from toolkit.core.trace import Trace
from toolkit.workloads.arrivals import make_arrivals
from toolkit.workloads.common import VOCAB_SIZE, gamma_lengths, request_id, rng_streams

TOKEN_CV = 0.5
MIN_PROMPT_FRAC = 0.1
BENCH_OUTPUT_CAP = 2048


class ToolShape(NamedTuple):
    """The lengths of one tool-calling request: prompt, tool calls, final answer."""

    prompt_len: int
    segments: list[Segment]
    final_len: int

    @property
    def context_len(self) -> int:
        """Final context: prompt + generated + returned tokens."""
        return self.prompt_len + self.final_len + sum(s.output_len + s.return_len
                                                      for s in self.segments)


@dataclass(frozen=True)
class AugmentationSpec:
    """One row of InferCept's Table 1 plus the token lengths the paper does not publish.

    Table 1 pairs are (mean, second value); the notes leave open whether the second value
    is a variance or a standard deviation (`fulltext_findings.md` 2.1): it is read as a
    standard deviation here (a variance would make e.g. ALFWorld's context std 10.7 tokens
    with 28 calls a request, which is implausible).
    """

    pause_s: tuple[float, float]  # Table 1: interception time, s
    num_calls: tuple[float, float]  # Table 1: interceptions per request
    context_len: tuple[float, float]  # Table 1: context tokens (read as final context)
    return_len: float  # PRE-PAPER returned tokens per call (Dec-2023 trace statistics)
    output_len: float  # our choice: tokens generated before each call
    final_len: float  # our choice: final-answer tokens
    calls_context_corr: float = 0.9  # our choice: copula correlation, calls vs context
    note: str = ""  # what the notes mark as (partly) estimated


AUGMENTATIONS: dict[str, AugmentationSpec] = {
    # GSM8K-XL -> calculator. Returned tokens 119.6: pre-paper (GSM8K).
    "math": AugmentationSpec((9e-5, 6e-5), (3.75, 1.3), (1422, 738), 119.6, 40, 30),
    # Multihop QA -> Wikipedia API; a ReAct thought + action before each call. 242.5: pre-paper.
    "qa": AugmentationSpec((0.69, 0.17), (2.52, 1.73), (1846, 428), 242.5, 48, 24),
    # ALFWorld; 16 tokens an action as in Preble's ALFWorld row. 9.5: pre-paper.
    "virtual_env": AugmentationSpec((0.09, 0.014), (28.18, 15.2), (2185, 115), 9.5, 16, 16),
    # ShareGPT, the human reply is the interception. 286.5: pre-paper, does not fit (above).
    "chatbot": AugmentationSpec(
        (28.6, 15.6), (4.45, 1.96), (753, 703), 286.5, 64, 64, note="duration estimated"
    ),
    # ChatGPT-made prompt series -> Stable Diffusion. 82.4: pre-paper (diffusion).
    "image": AugmentationSpec(
        (20.03, 7.8), (6.91, 3.93), (1247, 792), 82.4, 24, 24, note="partly estimated"
    ),
    # ChatGPT-made prompts -> Bark text-to-speech. 83.0: pre-paper (TTS).
    "tts": AugmentationSpec(
        (17.24, 7.6), (6.91, 3.93), (1251, 792), 83.0, 24, 24, note="partly estimated"
    ),
}
AUGMENTATION_NAMES = tuple(AUGMENTATIONS)


def sample_shapes(name: str, num_requests: int, rng: np.random.Generator) -> list[ToolShape]:
    """`num_requests` request shapes of augmentation `name` (no cap, no rescaling)."""
    spec = AUGMENTATIONS[name]
    if num_requests == 0:
        return []
    z = rng.standard_normal((2, num_requests))
    rho = spec.calls_context_corr
    z[1] = rho * z[0] + math.sqrt(1.0 - rho * rho) * z[1]
    calls = calibrated_counts(z[0], *spec.num_calls, lo=1)
    context = calibrated_counts(z[1], *spec.context_len, lo=16)
    num_calls = int(calls.sum())
    sigma2 = math.log1p((spec.pause_s[1] / spec.pause_s[0]) ** 2)
    mu = math.log(spec.pause_s[0]) - sigma2 / 2
    pauses = rng.lognormal(mu, math.sqrt(sigma2), size=num_calls)
    outs = gamma_lengths(rng, spec.output_len, TOKEN_CV * spec.output_len, num_calls)
    rets = gamma_lengths(rng, spec.return_len, TOKEN_CV * spec.return_len, num_calls)
    finals = gamma_lengths(rng, spec.final_len, TOKEN_CV * spec.final_len, num_requests)
    return _fit_prompts(context, calls, pauses, outs, rets, finals)


def _fit_prompts(
    context: np.ndarray, calls: np.ndarray, pauses: np.ndarray,
    outs: np.ndarray, rets: np.ndarray, finals: np.ndarray,
) -> list[ToolShape]:
    """Prompt = context - body; bodies that leave less than MIN_PROMPT_FRAC are shrunk."""
    starts = np.concatenate(([0], np.cumsum(calls)))
    body = np.add.reduceat(outs + rets, starts[:-1]) * (calls > 0) + finals
    room = np.floor(context * (1.0 - MIN_PROMPT_FRAC))
    scale = np.minimum(1.0, room / body)
    seg_scale = np.repeat(scale, calls)
    outs = np.maximum(1, np.floor(outs * seg_scale)).astype(np.int64)
    rets = np.floor(rets * seg_scale).astype(np.int64)
    finals = np.maximum(1, np.floor(finals * scale)).astype(np.int64)
    body = np.add.reduceat(outs + rets, starts[:-1]) * (calls > 0) + finals
    prompts = np.maximum(1, context - body)
    o, p, r = outs.tolist(), pauses.tolist(), rets.tolist()
    shapes = []
    for i, (a, b) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist())):
        segs = [Segment(o[j], p[j], r[j]) for j in range(a, b)]
        shapes.append(ToolShape(int(prompts[i]), segs, int(finals[i])))
    return shapes


def infercept_mixed_trace(
    rps: float = 1.0,
    duration_s: float = 1800.0,
    num_requests: int | None = None,
    augmentations: Sequence[str] | None = None,
    seed: int = 0,
    burst_start: bool = False,
    output_cap: int | None = BENCH_OUTPUT_CAP,
    token_ids: bool = False,
    vocab_size: int = VOCAB_SIZE,
    block_size: int = 16,
    max_context_len: int | None = None,
    length_scale: float = 1.0,
) -> Trace:
    """InferCept's mixed workload (or one augmentation: `augmentations=["qa"]`).

    `num_requests` (default round(rps x duration_s)) requests, each of an augmentation drawn
    uniformly from `augmentations` (default all six), Poisson arrivals at `rps`;
    `burst_start` puts the first floor(rps)+1 at t=0 like the released benchmark.
    `output_cap` caps generated + returned tokens (2048 in the benchmark; None: no cap).
    Prompts are unique block hashes (`block_size` tokens each; no prefix sharing), or
    random token ids in [0, vocab_size) with `token_ids=True`. `length_scale` multiplies
    every token length; `max_context_len` then shrinks any request whose final context
    exceeds it (see `shape_request`). Same arguments, same trace.
    """
    names = _check_names(augmentations)
    if num_requests is None:
        num_requests = int(round(rps * duration_s))
    if num_requests < 0:
        raise ConfigError("num_requests", f"must be non-negative, got {num_requests}")
    pick_rng, arr_rng, content_rng = rng_streams(seed, 3)
    labels = pick_rng.integers(0, len(names), size=num_requests)
    shapes: list[ToolShape | None] = [None] * num_requests
    for k, name in enumerate(names):
        idx = np.flatnonzero(labels == k)
        aug_rng = np.random.default_rng([seed, 1000 + AUGMENTATION_NAMES.index(name)])
        for i, sh in zip(idx.tolist(), sample_shapes(name, len(idx), aug_rng)):
            shapes[i] = shape_request(sh, output_cap, length_scale, max_context_len)
    times = arrivals(num_requests, rps, arr_rng, burst_start)
    trace_name = "infercept" if len(names) > 1 else f"infercept_{names[0]}"
    reqs = [
        make_request(request_id(trace_name, i), float(times[i]), sh,  # type: ignore[arg-type]
                     {"augmentation": names[labels[i]]}, seed, i,
                     content_rng if token_ids else None, vocab_size, block_size)
        for i, sh in enumerate(shapes)
    ]
    meta = {"workload": "infercept", "seed": seed, "augmentations": list(names), "rps": rps,
            "output_cap": output_cap, "burst_start": burst_start}
    return Trace(reqs, name=trace_name, meta=meta)


def _check_names(augmentations: Sequence[str] | None) -> list[str]:
    names = list(AUGMENTATION_NAMES if augmentations is None else augmentations)
    if isinstance(augmentations, str):
        names = [augmentations]
    names = list(dict.fromkeys(names))  # a name given twice is still drawn uniformly
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if not names or unknown:
        raise ConfigError(
            "augmentations", f"unknown or empty {unknown or names}; use {list(AUGMENTATIONS)}"
        )
    return names


def arrivals(
    num_requests: int, rps: float, rng: np.random.Generator, burst_start: bool = False
) -> np.ndarray:
    """Poisson arrival times; `burst_start`: the first floor(rps)+1 requests at t=0, the
    rest keep their Poisson times (the released benchmark's start)."""
    times = make_arrivals(num_requests, rps, rng)
    if burst_start:
        times[: int(rps) + 1] = 0.0
    return times


def make_request(
    rid: str, arrival_s: float, shape: ToolShape, meta: dict, seed: int, index: int,
    token_rng: np.random.Generator | None, vocab_size: int, block_size: int,
) -> Request:
    """A Request of `shape`: random token ids (with `token_rng`), else unique block hashes
    derived from `seed` and `index` (no two requests of a trace share a block)."""
    common = {"id": rid, "arrival_s": arrival_s, "output_len": shape.final_len,
              "segments": list(shape.segments) or None, "meta": meta}
    if token_rng is not None:
        if vocab_size <= 0:
            raise ConfigError("vocab_size", f"must be positive, got {vocab_size}")
        ids = token_rng.integers(0, vocab_size, size=shape.prompt_len)
        return Request(prompt_token_ids=ids, **common)
    if block_size <= 0:
        raise ConfigError("block_size", f"must be positive, got {block_size}")
    base = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]) >> 2
    num_blocks = -(-shape.prompt_len // block_size)
    hashes = tuple(base ^ ((index << 20) | b) for b in range(num_blocks))
    return Request(prompt_len=shape.prompt_len, block_hashes=hashes, block_size=block_size,
                   **common)


def calibrated_counts(z: np.ndarray, mean: float, std: float, lo: int) -> np.ndarray:
    """Integers >= lo with about this mean and std, from standard normals `z` (a Gamma
    rounded to integers, values below lo lumped at lo, its parameters fitted so the
    discrete distribution has the target moments)."""
    from scipy import special  # lazily: scipy costs ~0.5 s and ~60 MB to import

    cdf = _count_cdf(float(mean), float(std), int(lo))
    u = special.ndtr(z)
    return lo + np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


@lru_cache(maxsize=64)
def _count_cdf(mean: float, std: float, lo: int) -> np.ndarray:
    from scipy import optimize, stats

    values = np.arange(lo, int(mean + 15 * std) + 2)

    def pmf(log_params: np.ndarray) -> np.ndarray:
        m, s = np.exp(log_params)
        cdf = stats.gamma.cdf(values + 0.5, (m / s) ** 2, scale=s * s / m)
        cdf[-1] = 1.0
        return np.diff(cdf, prepend=0.0)

    def misfit(log_params: np.ndarray) -> list[float]:
        p = pmf(log_params)
        mu = float(p @ values)
        return [mu / mean - 1.0, math.sqrt(float(p @ (values - mu) ** 2)) / std - 1.0]

    fit = optimize.least_squares(misfit, np.log([mean, std]))
    return np.cumsum(pmf(fit.x))


def shape_request(
    shape: ToolShape, output_cap: int | None = None, length_scale: float = 1.0,
    max_context_len: int | None = None,
) -> ToolShape:
    """Apply, in order: the output cap (generated + returned <= cap, on the unscaled
    lengths as in the benchmark; the request stops at the first call that would cross it,
    whose output becomes the final answer), a uniform `length_scale` of every token count
    (nonzero prompt, generated and final counts stay >= 1), and
    `max_context_len` (a longer request is shrunk in proportion, then loses trailing
    calls, then its prompt and final answer are clipped: its final context fits)."""
    if output_cap is not None:
        shape = _cap_output(shape, output_cap)
    if length_scale != 1.0:
        if not length_scale > 0:
            raise ConfigError("length_scale", f"must be positive, got {length_scale}")
        shape = _scale(shape, length_scale, round)
    if max_context_len is not None:
        shape = _clip_context(shape, max_context_len)
    return shape


def _cap_output(shape: ToolShape, cap: int) -> ToolShape:
    if cap < 1:
        raise ConfigError("output_cap", f"must be positive, got {cap}")
    used = 0
    for i, seg in enumerate(shape.segments):
        if used + seg.output_len + seg.return_len >= cap:
            return ToolShape(shape.prompt_len, shape.segments[:i], min(seg.output_len, cap - used))
        used += seg.output_len + seg.return_len
    return shape._replace(final_len=min(shape.final_len, cap - used))


def _scale(shape: ToolShape, factor: float, rnd: Callable[[float], int]) -> ToolShape:
    def length(n: int, keep_one: bool = True) -> int:
        return max(1 if keep_one and n > 0 else 0, int(rnd(n * factor)))

    segs = [replace(s, output_len=length(s.output_len), return_len=length(s.return_len, False))
            for s in shape.segments]
    return ToolShape(length(shape.prompt_len), segs, length(shape.final_len))


def _clip_context(shape: ToolShape, max_len: int) -> ToolShape:
    if max_len < 2:
        raise ConfigError("max_context_len", f"must be at least 2, got {max_len}")
    if shape.context_len <= max_len:
        return shape
    shape = _scale(shape, max_len / shape.context_len, math.floor)
    while shape.segments and shape.context_len > max_len:
        shape = shape._replace(segments=shape.segments[:-1])
    excess = shape.context_len - max_len
    if excess > 0:
        final = max(1, shape.final_len - excess)
        shape = ToolShape(max_len - final, [], final)
    return shape
