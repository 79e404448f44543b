"""Preble's published forward-time regressions, as cost models (replay a paper's setup).

Source: WukLab/preble, `multi_node/benchmarks/exp_configs/model_equations_numpy.py`
(commit 21bb7f6; the coefficients agree with ../shared/papers/preble.md section 1, which
rounds them). Read to learn the rules; the code here is ours. An older snapshot of
`model_equations.py` (commit 150e400) has a different linear part (0.115 n - 1.13) and
divides by 0.95; this module follows the later one and the brief.

Mistral-7B on A6000 (SGLang + FlashInfer), in ms. Preble's simulator
(`ModelRpcServer.budget_forward_step`, chunked prefill) costs a whole iteration, prefill
chunks and decodes together, with one call: decodes are requests extending by one token.

    linear(N)   = 0.10842571 N + 4.2098       N >= 384 new tokens in the batch
                = -118 + 1.25 N - 2.56e-3 N^2  192 <= N < 384
                = 22                           N < 192
    attention   = 0.32 if K <= 1024 else 1.86e-4 K + 0.159, K = sum of sequence lengths
                  (cached + new) over all R requests; halved when K / R <= 1024 and
                  R * K <= 32 * 256 * 2048 (the code's shared-prefix rule with unique KV
                  tokens = K, since a BatchShape does not say what is shared)
    extra       = sum over chunks with e * s > 1024^2 of 1.13e-3 e + 1.75e-3 s + 2.19e-6 e s
                  (e new tokens, s = cached + e)
    T = (linear + attention + extra) / 0.9

A pure decode step is the same formula (the code's decode function is the base part / 0.9),
so decode and mixed batches are verified against the source. The published quadratic
band dips below zero near N = 384 (-15.5 ms at N = 383); `clamp_band=True` (default)
floors the linear part at the small-batch 22 ms, `clamp_band=False` is verbatim. The fit
is not monotone in N around 192-384 either way.

Llama-3-70B (the source names it A100 TP2; Preble's H100 runs reuse it), in ms, per
prefill chunk: 28.931 + 0.18223 e + 4.0037e-3 s + 2.5505e-6 e s, summed over chunks
(as the source does). The source has no decode rule for this model. UNVERIFIED choice
here: the decode group costs the same regression once, with e = number of decodes and
per-sequence attention terms at each context s_i = ctx_i + 1:
28.931 + 0.18223 B + (4.0037e-3 + 2.5505e-6) (ctx_sum + B); in a mixed batch it adds
this without the 28.931 intercept (weights are read once). Its 4 us per context token
makes large decode batches far slower than measured hardware (B = 64 at ctx 2048: 0.56 s
per step vs 29 ms measured on an H200 at TP2): prefer `ProfiledCostModel` for 70B decode.
"""

from __future__ import annotations

from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.steps import iteration_steps_s

MS = 1e-3


def mistral_linear_ms(num_tokens: int, clamp_band: bool = True) -> float:
    """Preble's token-proportional (linear layers) part for Mistral-7B/A6000, ms."""
    n = num_tokens
    if n >= 384:
        return 0.10842571 * n + 4.209777054806409
    if n >= 192:
        t = -118.0 + 1.25 * n - 2.56e-3 * n * n
        return max(t, 22.0) if clamp_band else t
    return 22.0


def mistral_attention_ms(num_reqs: int, total_len: int) -> float:
    """Preble's batch attention part for Mistral-7B/A6000, ms (unique KV = total length)."""
    if total_len <= 1024:
        return 0.32
    t = 1.86e-4 * total_len + 0.159
    if total_len / num_reqs <= 1024 and num_reqs * total_len <= 32 * 256 * 2048:
        t /= 2
    return t


def mistral_extra_ms(num_new: int, seq_len: int) -> float:
    """Preble's long-prefill attention term of one chunk, ms (0 unless e * s > 1024^2)."""
    if num_new * seq_len <= 1024 * 1024:
        return 0.0
    return 1.13e-3 * num_new + 1.75e-3 * seq_len + 2.19e-6 * num_new * seq_len


class PrebleMistralA6000CostModel(CostModel):
    """Preble's Mistral-7B on A6000 regression for any batch (see module docstring).

    `iteration_overhead_s` adds a fixed time to every iteration: the regression covers GPU
    time only, while the paper's SGLang v0.1 runtime also spent CPU time per step (the
    Preble simulator adds measured overheads of its own). The Preble experiment configs set
    it from the paper's low-load Fig. 3 points (see conf/cost/preble_fit.yaml).
    """

    def __init__(self, clamp_band: bool = True, iteration_overhead_s: float = 0.0) -> None:
        self.clamp_band = clamp_band
        self.iteration_overhead_s = iteration_overhead_s

    def iteration_s(self, batch: BatchShape) -> float:
        """(linear + attention + extra) / 0.9 of the whole batch, in seconds."""
        prefill_new, prefill_ctx, num_decode, decode_ctx_sum = batch
        tokens = reqs = num_decode
        total_len = decode_ctx_sum + num_decode
        extra = 0.0
        for n, c in zip(prefill_new, prefill_ctx):
            if n > 0:
                tokens += n
                reqs += 1
                total_len += c + n
                extra += mistral_extra_ms(n, c + n)
        if tokens == 0:
            return 0.0
        base = mistral_linear_ms(tokens, self.clamp_band) + mistral_attention_ms(reqs, total_len)
        return (base + extra) / 0.9 * MS + self.iteration_overhead_s


    def prefill_chunk_steps_s(self, chunk: int, num_prefilled: int, num_decode: int,
                              decode_ctx_sum: int, num_steps: int) -> list[float]:
        """A run of one-chunk iterations (see `toolkit.cost.steps`): exactly the floats of
        `iteration_s` per iteration, with the linear part computed once."""
        if chunk <= 0 or type(self).iteration_s is not PrebleMistralA6000CostModel.iteration_s:
            return iteration_steps_s(self, chunk, num_prefilled, num_decode, decode_ctx_sum,
                                     num_steps)
        linear = mistral_linear_ms(num_decode + chunk, self.clamp_band)
        reqs, overhead = num_decode + 1, self.iteration_overhead_s
        out = []
        for k in range(num_steps):
            seq_len = num_prefilled + k * chunk + chunk
            total_len = decode_ctx_sum + k * num_decode + num_decode + seq_len
            extra = 0.0 + mistral_extra_ms(chunk, seq_len)
            base = linear + mistral_attention_ms(reqs, total_len)
            out.append((base + extra) / 0.9 * MS + overhead)
        return out


LLAMA70B_COEF = (28.931389307785594, 1.82233431e-01, 4.00365142e-03, 2.55050069e-06)
"""(intercept, per new token, per sequence token, per new x sequence token), ms."""


def llama70b_chunk_ms(num_new: int, seq_len: int) -> float:
    """Preble's Llama-3-70B prefill fit for one chunk, ms."""
    a, b, c, d = LLAMA70B_COEF
    return a + b * num_new + c * seq_len + d * num_new * seq_len


class PrebleLlama70BCostModel(CostModel):
    """Preble's Llama-3-70B fit: verified for prefill chunks, UNVERIFIED for decodes.

    `iteration_overhead_s` is a fixed time added to every iteration (as for Mistral).
    """

    def __init__(self, iteration_overhead_s: float = 0.0) -> None:
        self.iteration_overhead_s = iteration_overhead_s

    def iteration_s(self, batch: BatchShape) -> float:
        """Sum of per-chunk fits plus the decode group's term, in seconds."""
        prefill_new, prefill_ctx, num_decode, decode_ctx_sum = batch
        a, b, c, d = LLAMA70B_COEF
        total, chunks = 0.0, 0
        for n, ctx in zip(prefill_new, prefill_ctx):
            if n > 0:
                total += llama70b_chunk_ms(n, ctx + n)
                chunks += 1
        if num_decode > 0:
            seq_tokens = decode_ctx_sum + num_decode
            total += b * num_decode + (c + d) * seq_tokens + (a if chunks == 0 else 0.0)
        if total == 0.0:
            return 0.0
        return total * MS + self.iteration_overhead_s
