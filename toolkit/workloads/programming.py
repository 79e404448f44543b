"""Programming (APPS), synthetic: Preble's Table 1 row.

Every prompt starts with one 2,400-token system prefix shared by all requests (Preble's
synthetic instruction), then the problem's own text (question and I/O examples; one of
`num_prefixes` problems), then a unique uuid-like suffix. Requests per problem are skewed
(Preble sends each problem in proportion to its number of solutions): Gamma-weighted
with coefficient of variation `problem_cv`. Outputs are the solution length, Gamma with
(190, 343) and capped at `max_output_len` (512 in Preble's code; None for no cap).

Table 1 targets (mean, std): prompt (3871, 1656); output (190, 343) before the cap; shared
prefix (97%, 7.4%); key portion (78%, 13%); requests sharing the key portion (126, 2157).
The last pair depends on the trace size: the 2,400-token system node is the key portion of
every problem shorter than it, so it is shared by most requests. Preble's per-2-GPU
configs are (160 problems, 2812 requests, 4.5 rps) and (160, 3437, 5.5).

Measured (seed 0) at (160, 2812), no cap: prompt (3859, 1697); output (180, 335), with the
512 cap (134, 174); shared prefix with earlier requests (97.7%, 8.2%); key portion (76%,
14%); requests sharing it (117, 509) (the std grows with the trace size).
"""

from __future__ import annotations

import numpy as np

from toolkit.core.trace import Trace
from toolkit.workloads.common import (
    arrivals_for,
    build_trace,
    gamma_lengths,
    random_tokens,
    rng_streams,
    scale_to_gpus,
    spread_counts,
    token_chunks,
)


def programming_trace(
    num_prefixes: int = 160,
    num_requests: int = 2812,
    rps: float = 4.5,
    seed: int = 0,
    num_gpus: int = 2,
    arrival: str = "poisson",
    cv: float = 1.0,
    system_len: int = 2400,
    problem_len: tuple[float, float] = (1450.0, 1650.0),
    suffix_len: int = 24,
    problem_cv: float = 1.0,
    output_len: tuple[float, float] = (190.0, 343.0),
    max_output_len: int | None = 512,
) -> Trace:
    """Programming trace: 2,400-token shared system prefix + problem text + unique suffix.

    `num_prefixes` (problems), `num_requests` and `rps` are per 2 GPUs, scaled by
    `num_gpus / 2`. Length knobs are (mean, std) in tokens.
    """
    num_prefixes, num_requests, rps = scale_to_gpus(num_prefixes, num_requests, rps, num_gpus)
    rng, arr_rng = rng_streams(seed)
    counts = spread_counts(rng, num_requests, num_prefixes, cv=problem_cv)
    problems = rng.permutation(np.repeat(np.arange(num_prefixes), counts))
    system = random_tokens(rng, system_len)
    lens = gamma_lengths(rng, *problem_len, size=num_prefixes, lo=32, hi=12000)
    prefixes = [system + random_tokens(rng, n) for n in lens.tolist()]
    suffixes = token_chunks(rng, np.full(num_requests, suffix_len))
    prompts = [prefixes[p] + s for p, s in zip(problems.tolist(), suffixes)]
    outs = gamma_lengths(rng, *output_len, size=num_requests, hi=max_output_len)
    times = arrivals_for(arr_rng, num_requests, rps, arrival, cv)
    meta = {"workload": "programming", "seed": seed, "max_output_len": max_output_len}
    return build_trace("programming", prompts, outs, times, meta=meta)
