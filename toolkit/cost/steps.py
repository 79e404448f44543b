"""Runs of chunked-prefill iterations, timed one `iteration_s` call at a time.

A prefill stretch (see `toolkit.sim.prefill_stretch`) repeats one batch shape: one sequence
prefills `chunk` more tokens each iteration while `num_decode` decodes each add a token.
`prefill_chunk_steps_s` gives the iterations' durations; a cost model may provide a faster
method of the same name and signature, which must return exactly the same floats.
"""

from __future__ import annotations

import numpy as np

from toolkit.cost.base import BatchShape, CostModel


def decode_steps_cum_s(cost: CostModel, num_decode: int, decode_ctx_sum: int,
                       num_steps: int) -> list[float] | np.ndarray:
    """End times, from the start, of `num_steps` pure-decode steps: exactly the floats of
    `np.cumsum(cost.decode_steps_s(...))` (a list or an array). Uses the cost model's own
    `decode_steps_cum_s` when it has one."""
    fast = getattr(cost, "decode_steps_cum_s", None)
    if fast is not None:
        return fast(num_decode, decode_ctx_sum, num_steps)
    return np.cumsum(cost.decode_steps_s(num_decode, decode_ctx_sum, num_steps))


def prefill_chunk_steps_s(cost: CostModel, chunk: int, num_prefilled: int, num_decode: int,
                          decode_ctx_sum: int, num_steps: int) -> list[float]:
    """Durations of `num_steps` iterations; iteration j (from 0) prefills `chunk` tokens over
    `num_prefilled + j * chunk` cached ones beside `num_decode` decodes of context sum
    `decode_ctx_sum + j * num_decode`. Uses the cost model's own method when it has one."""
    fast = getattr(cost, "prefill_chunk_steps_s", None)
    if fast is not None:
        return fast(chunk, num_prefilled, num_decode, decode_ctx_sum, num_steps)
    return iteration_steps_s(cost, chunk, num_prefilled, num_decode, decode_ctx_sum, num_steps)


def iteration_steps_s(cost: CostModel, chunk: int, num_prefilled: int, num_decode: int,
                      decode_ctx_sum: int, num_steps: int) -> list[float]:
    """`prefill_chunk_steps_s` by calling `cost.iteration_s` once per iteration."""
    iteration_s = cost.iteration_s
    return [
        iteration_s(BatchShape((chunk,), (num_prefilled + j * chunk,), num_decode,
                               decode_ctx_sum + j * num_decode))
        for j in range(num_steps)
    ]
