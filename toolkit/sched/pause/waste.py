"""InferCept's GPU-memory waste of each pause action, in token-seconds (memory x time).

The paper's equations with M (KV bytes per token) left out, since every term carries it.
`C_i` is the paused request's context, `C_other` the other running requests' context,
`T_fwd(x)` the iteration time with x query tokens, `T_swap(x)` a one-way copy of x tokens.
"""

from __future__ import annotations

import math

from toolkit.sched.pause.base import PausedInfo, PauseTiming, PauseView


def preserve_waste(context_tokens: int, remaining_s: float) -> float:
    """Preserve: the context idles on the GPU for the rest of the pause (`T_INT * C_i`)."""
    return max(remaining_s, 0.0) * context_tokens


def discard_waste(context_tokens: int, other_tokens: int, timing: PauseTiming) -> float:
    """Discard: recomputing the context in one prefill holds its memory and stalls the
    others for the prefill's time (`T_fwd(C_i) * (C_i + C_other)`)."""
    t = timing.fwd_s(context_tokens, context_tokens)
    return t * (context_tokens + other_tokens)


def chunked_discard_waste(context_tokens: int, other_tokens: int, chunk_tokens: int,
                          timing: PauseTiming) -> float:
    """Discard with recomputation in `n` chunks of `chunk_tokens`: the context fills up
    gradually (half of it idles on average), and each chunk's iteration stalls the others
    for that iteration (`T_fwd(C_i) * C_i / 2 + n * T_fwd(C_i / n) * C_other`)."""
    if context_tokens <= 0:
        return 0.0
    n = max(1, math.ceil(context_tokens / max(chunk_tokens, 1)))
    whole = timing.fwd_s(context_tokens, context_tokens)
    chunk = timing.fwd_s(math.ceil(context_tokens / n), context_tokens)
    return whole * context_tokens / 2 + n * chunk * other_tokens


def swap_waste(context_tokens: int, batch_tokens: int, timing: PauseTiming) -> float:
    """Swap out and back in, each stalling the whole batch (`2 * T_swap(C_i) * C_batch`)."""
    return 2 * timing.swap_s(context_tokens) * batch_tokens


def remaining_s(paused: PausedInfo, now_s: float, estimate: bool) -> float:
    """The pause's remaining time: the oracle's (known duration less time waited) or, when
    `estimate` is set or the duration is unknown, InferCept's estimate — the time already
    waited (a call that has run long is expected to run about as long again)."""
    waited = max(now_s - paused.call_start_s, 0.0)
    if estimate or paused.known_duration_s is None:
        return waited
    return max(paused.known_duration_s - waited, 0.0)


def chunk_tokens(view: PauseView, saturation_tokens: int) -> int:
    """Recompute chunk size: the saturation point less the running decodes, at least 1."""
    return max(saturation_tokens - view.num_running_decode, 1)
