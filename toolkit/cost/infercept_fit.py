"""InferCept's released constants as cost models (replay the paper's own setups).

Source: WukLab/InferCept (HEAD 3a1a4da), `vllm/core/scheduler_v2.py` (`discard_waste`,
`_set_max_ragged_batch`) and the `exps/*_bench.sh` scripts that sed-rewrite them; see
../shared/papers/infercept.md section 1 "Constants". The paper calls them the output of an
offline profiler that was never released. Read to learn the rules; the code here is ours.

- Iteration time, linear in the query tokens x of the iteration: f(x) = a x + c ms.
  GPT-J-6B on one A100: a = 0.0463, c = 10 (exps/6B_bench.sh); Vicuna-13B TP2 on two
  A100s: a = 0.0279, c = 15.4 (committed). (A follow-up fork's 6B scripts use 0.0408 and
  16.92; not used here.) f(384) = 27.78 ms (6B) and 26.11 ms (13B TP2).
- Saturation point S = 384 tokens: the per-iteration token cap (`mlimit`), both models.
- Swap budgets per iteration, tokens, F = free GPU tokens when the iteration is planned:
  sin = a S + b + F / 2, sout = (1 + a) S + b - F / 2, then max(0, t // block_size) blocks
  (block_size 64). 6B: a = 0.00462, b = 108.99 (sin + sout = 605.5); 13B TP2:
  a = -0.3297119141, b = 93.994140625 (sin + sout = 318.8).

Where the swap constants come from (our reading; it reproduces all four to their printed
digits, see `swap_coefficients`): N = sin + sout is the paper's budget T_swap(N) = T_fwd(S)
with T_fwd = f and T_swap(N) = N M / 10 GB/s, M = the whole model's fp16 KV bytes per token
(not divided by TP), and the split is the constraint swap-in + new <= swap-out + free GPU
taken with equality for S new tokens: sin - sout = F - S. Hence a = (k a_f - 1) / 2 and
b = k c_f / 2 with k = 1e-3 s/ms x 10 GB/s / M. `setup_swap_coefficients` derives the
missing setups' constants the same way from their roofline `linear_fit_ms`.

Decode context. The released fit ignores context length: a decode over 4,000 cached tokens
costs what one over 40 does. `context_term=True` adds the roofline's KV-read time for every
cached token the iteration attends to (decode contexts and prefill chunks' cached tokens):
per-GPU KV bytes per token / (HBM bandwidth x `roofline.MEMORY_EFFICIENCY`), e.g.
0.25 us per token for GPT-J-6B on an A100 80GB. Off by default, to match the paper.

Setups without a released fit (Vicuna-13B on one A100, Llama-3-70B on four A100s at TP4;
the repository has no scripts for them) are built from `RooflineCostModel` by
`infercept_cost_model`, and `linear_fit_ms` gives them (a, c) by least squares over the
roofline's one-prefill iterations of 1..S tokens, for policies that need the linear form.
Roofline numbers carry no serving-runtime CPU overhead: on the released setups the roofline
is 8.6 ms (6B) and 2.2 ms (13B TP2) faster than the fit at 384 tokens.

Which A100 the paper used (40 or 80 GB) is not stated; `gpu` defaults to "a100" (80 GB).
Swap: `infercept_swap_model` prices copies over PCIe Gen4 (see `swap.A100_PCIE_BYTES_PER_S`,
25 GB/s per GPU): 2.5x (6B) and 5x (13B TP2, each GPU copying half) the rate the released
budgets assume, so its budgets `tokens_within_s(f(384))` are 2.5x and 4.9x theirs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.capacity import kv_bytes_per_token_per_gpu
from toolkit.cost.roofline import MEMORY_EFFICIENCY, RooflineCostModel
from toolkit.cost.specs import get_gpu_spec, get_model_spec
from toolkit.cost.swap import A100_PCIE_BYTES_PER_S, COPY_LATENCY_S, HostSwapModel

MS = 1e-3
SATURATION_TOKENS = 384
KV_BLOCK_TOKENS = 64
"""DeepSpeed-FastGen's `get_kv_block_size` on A100 for head size 128 or 256."""


@dataclass(frozen=True)
class InferCeptSetup:
    """One column of the paper's Fig. 2: model, TP degree, and the released constants
    (None where the repository has none)."""

    name: str
    model: str
    tp: int
    a_ms: float | None = None
    c_ms: float | None = None
    swap_a: float | None = None
    swap_b: float | None = None

    @property
    def released(self) -> bool:
        """Whether the repository ships this setup's iteration-time fit."""
        return self.a_ms is not None


SETUPS: dict[str, InferCeptSetup] = {
    s.name: s
    for s in (
        InferCeptSetup("gpt-j-6b", "gpt-j-6b", 1, 0.0463, 10.0, 0.00462, 108.99),
        InferCeptSetup("vicuna-13b-tp2", "vicuna-13b", 2, 0.0279, 15.4,
                       -0.3297119141, 93.994140625),
        InferCeptSetup("vicuna-13b", "vicuna-13b", 1),
        InferCeptSetup("llama3-70b-tp4", "llama3-70b", 4),
    )
}


def get_setup(name: str | InferCeptSetup) -> InferCeptSetup:
    """The setup named `name`; ConfigError naming option `setup` and the known names."""
    if isinstance(name, InferCeptSetup):
        return name
    if name not in SETUPS:
        raise ConfigError("setup", f"unknown InferCept setup {name!r}; known: {sorted(SETUPS)}")
    return SETUPS[name]


def setup_for(model: str, tp: int) -> InferCeptSetup:
    """The setup of (model, tp); ConfigError naming `model` if the paper had none."""
    name = get_model_spec(model).name
    for s in SETUPS.values():
        if s.model == name and s.tp == tp:
            return s
    have = sorted((s.model, s.tp) for s in SETUPS.values())
    raise ConfigError("model", f"no InferCept setup for {name!r} at tp={tp}; have {have}")


def fit_ms(num_query_tokens: float, a_ms: float, c_ms: float) -> float:
    """The released iteration time f(x) = a x + c, ms."""
    return a_ms * num_query_tokens + c_ms


def swap_budget_tokens(free_gpu_tokens: float, swap_a: float, swap_b: float,
                       saturation_tokens: int = SATURATION_TOKENS) -> tuple[float, float]:
    """(sin, sout) tokens: a S + b + F / 2 and (1 + a) S + b - F / 2, unclamped."""
    s = saturation_tokens
    return swap_a * s + swap_b + free_gpu_tokens / 2, (1 + swap_a) * s + swap_b - free_gpu_tokens / 2


def swap_budget_blocks(free_gpu_tokens: float, swap_a: float, swap_b: float,
                       block_size: int = KV_BLOCK_TOKENS,
                       saturation_tokens: int = SATURATION_TOKENS) -> tuple[int, int]:
    """(swap-in, swap-out) whole blocks as the code takes them: max(0, t // block_size)."""
    t_in, t_out = swap_budget_tokens(free_gpu_tokens, swap_a, swap_b, saturation_tokens)
    return max(0, int(t_in // block_size)), max(0, int(t_out // block_size))


RELEASED_SWAP_BYTES_PER_S = 10e9
"""The host-link rate the released swap constants imply (module docstring)."""


def swap_coefficients(a_ms: float, c_ms: float, kv_bytes_per_token: float,
                      bytes_per_s: float = RELEASED_SWAP_BYTES_PER_S) -> tuple[float, float]:
    """(swap_a, swap_b) of the budget formulas for iteration fit f(x) = a_ms x + c_ms and a
    link moving `bytes_per_s` of KV at `kv_bytes_per_token` (module docstring)."""
    k = MS * bytes_per_s / kv_bytes_per_token
    return (k * a_ms - 1.0) / 2.0, k * c_ms / 2.0


def setup_swap_coefficients(setup: str | InferCeptSetup, gpu: str = "a100") -> tuple[float, float]:
    """The released (swap_a, swap_b), or for a setup without them the derivation from its
    roofline `linear_fit_ms` on `gpu` and the model's whole KV bytes per token."""
    s = get_setup(setup)
    if s.swap_a is not None and s.swap_b is not None:
        return s.swap_a, s.swap_b
    a_ms, c_ms = linear_fit_ms(RooflineCostModel(s.model, gpu, s.tp))
    return swap_coefficients(a_ms, c_ms, get_model_spec(s.model).kv_bytes_per_token)


def context_s_per_token(model: str, gpu: str, tp: int) -> float:
    """Roofline seconds to read one cached token's KV on each GPU of the group."""
    m, g = get_model_spec(model), get_gpu_spec(gpu)
    return kv_bytes_per_token_per_gpu(m, tp) / (g.hbm_bytes_per_s * MEMORY_EFFICIENCY)


class InferCeptFitCostModel(CostModel):
    """f(query tokens) per iteration (module docstring), optionally plus the KV-read term.

    `setup` names a released fit; `a_ms` / `c_ms` override its constants (or give any
    linear fit, e.g. `linear_fit_ms` of a roofline). `gpu` only matters with
    `context_term`. `iteration_overhead_s` is added to every non-empty iteration.
    """

    def __init__(self, setup: str | InferCeptSetup = "gpt-j-6b", a_ms: float | None = None,
                 c_ms: float | None = None, gpu: str = "a100", context_term: bool = False,
                 iteration_overhead_s: float = 0.0) -> None:
        s = get_setup(setup)
        a_ms = s.a_ms if a_ms is None else a_ms
        c_ms = s.c_ms if c_ms is None else c_ms
        if a_ms is None or c_ms is None:
            raise ConfigError("setup", f"{s.name} has no released fit; pass a_ms and c_ms "
                                       "or use infercept_cost_model (roofline)")
        self.setup = s
        self.per_token_s = a_ms * MS
        self.intercept_s = c_ms * MS + iteration_overhead_s
        self.context_s = context_s_per_token(s.model, gpu, s.tp) if context_term else 0.0

    def iteration_s(self, batch: BatchShape) -> float:
        """(a x + c) ms with x = prefill tokens + decodes, plus the context term; 0 if empty."""
        x = sum(batch.prefill_new) + batch.num_decode
        if x <= 0:
            return 0.0
        t = self.intercept_s + self.per_token_s * x
        if self.context_s:
            t += self.context_s * (batch.decode_ctx_sum + sum(batch.prefill_ctx))
        return t

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        """Vectorised: identical to looping `iteration_s` over the steps."""
        if num_decode <= 0 or num_steps <= 0:
            return np.zeros(max(num_steps, 0))
        ctx = decode_ctx_sum + np.arange(num_steps) * num_decode
        return self.intercept_s + self.per_token_s * num_decode + self.context_s * ctx


def linear_fit_ms(cost: CostModel, max_tokens: int = SATURATION_TOKENS) -> tuple[float, float]:
    """(a, c) ms minimising the squared error of a x + c against `cost` over single
    prefills of x = 1..max_tokens new tokens (no cached context)."""
    xs = np.arange(1, max_tokens + 1, dtype=float)
    ts = np.array([cost.prefill_s(int(x)) for x in xs]) / MS
    (a, c), *_ = np.linalg.lstsq(np.vstack([xs, np.ones_like(xs)]).T, ts, rcond=None)
    return float(a), float(c)


def infercept_cost_model(setup: str = "gpt-j-6b", gpu: str = "a100",
                         context_term: bool = False, linear: bool = False,
                         iteration_overhead_s: float = 0.0, a_ms: float | None = None,
                         c_ms: float | None = None, **roofline_kw: float) -> CostModel:
    """The cost model of a Fig. 2 setup: the released fit where there is one (`a_ms`, `c_ms`,
    `iteration_overhead_s`, `context_term` go to it), else a `RooflineCostModel` of the
    setup's model on `gpu` at its TP degree (other keywords go to it), or with `linear=True`
    that roofline's `linear_fit_ms` as an `InferCeptFitCostModel`. A setting the chosen
    model does not take is rejected with its name (`cost.<name>`)."""
    s = get_setup(setup)
    if s.released:
        if roofline_kw or linear:
            bad = next(iter(roofline_kw), "linear")
            raise ConfigError(f"cost.{bad}", f"{s.name} uses InferCept's released fit, which "
                                             "takes a_ms, c_ms, iteration_overhead_s, context_term")
        if get_gpu_spec(gpu).name not in ("a100", "a100-40gb"):
            raise ConfigError("gpu", f"InferCept's {s.name} fit is for an A100, not {gpu!r}")
        return InferCeptFitCostModel(s, a_ms, c_ms, gpu=gpu, context_term=context_term,
                                     iteration_overhead_s=iteration_overhead_s)
    if a_ms is not None or c_ms is not None:
        bad = "a_ms" if a_ms is not None else "c_ms"
        raise ConfigError(f"cost.{bad}", f"{s.name} has no released fit to override")
    roofline = _roofline(s, gpu, roofline_kw)
    if linear:
        a, c = linear_fit_ms(roofline)
        return InferCeptFitCostModel(s, a, c, gpu=gpu, context_term=context_term,
                                     iteration_overhead_s=iteration_overhead_s)
    if context_term or iteration_overhead_s:
        bad = "context_term" if context_term else "iteration_overhead_s"
        raise ConfigError(f"cost.{bad}", "the roofline model charges KV reads and per-layer "
                                         "overhead itself (use overhead_per_layer_s)")
    return roofline


def _roofline(s: InferCeptSetup, gpu: str, kw: dict[str, float]) -> RooflineCostModel:
    known = set(inspect.signature(RooflineCostModel).parameters) - {"model", "gpu", "tp"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ConfigError(f"cost.{unknown[0]}", f"unknown setting; known: {sorted(known)}")
    return RooflineCostModel(s.model, gpu, s.tp, **kw)


def infercept_swap_model(setup: str = "gpt-j-6b", bytes_per_s: float = A100_PCIE_BYTES_PER_S,
                         latency_s: float = COPY_LATENCY_S, granularity: str = "layer",
                         block_size: int = KV_BLOCK_TOKENS,
                         gpus_per_host_link: int = 1) -> HostSwapModel:
    """The setup's host swap over an A100's PCIe Gen4 link (an assumed 25 GB/s, see
    `swap.A100_PCIE_BYTES_PER_S`), each GPU of a TP group copying its share."""
    s = get_setup(setup)
    return HostSwapModel.from_bandwidth(s.model, s.tp, bytes_per_s, latency_s, granularity,
                                        block_size, gpus_per_host_link)
