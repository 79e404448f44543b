"""`PauseTiming` from a cost model and a host swap model (what the simulator hands policies).

`fwd_s(q, ctx)` prices one iteration in which `q` query tokens attend to `ctx` tokens in
all, the query tokens included (the protocol's wording; `waste.discard_waste` asks
`fwd_s(C, C)` for recomputing a C-token context), so the cached part is max(ctx - q, 0).
With `query_as="prefill"` (default) the q tokens are one prefill chunk over that cached
part: the shape of InferCept's T_fwd(C_i) and T_fwd(C_i / n) (recomputing a discarded
context, in chunks), and what the released linear fits measure (iteration time by query
tokens). With `query_as="decode"` they are q sequences decoding one token each over the
cached part in all: the shape of a planned decode batch B_i when the swap budget
T_swap(N_i) = T_fwd(B_i) is asked of a context-aware model. For `InferCeptFitCostModel`
without its context term both give f(q).

Cost. Policies call these per paused request per iteration. One `iteration_s` call costs
~1-2 us (roofline, profiled; measured on the development CPU) and results are memoised
exactly by argument (a bounded dict, cleared when full): the swap time of a paused
request's constant context and repeated recompute shapes hit the memo; shapes whose context
grows every iteration pay the call.
"""

from __future__ import annotations

from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.swap import HostSwapModel

QUERY_AS = ("prefill", "decode")


class CostPauseTiming:
    """Implements `toolkit.sched.pause.base.PauseTiming` with `cost` and `swap`."""

    def __init__(self, cost: CostModel, swap: HostSwapModel, query_as: str = "prefill",
                 max_memo_entries: int = 1 << 16) -> None:
        if query_as not in QUERY_AS:
            raise ConfigError("query_as", f"{query_as!r} not in {QUERY_AS}")
        self.cost, self.swap, self.query_as = cost, swap, query_as
        self.max_memo_entries = max_memo_entries
        self._fwd: dict[tuple[int, int], float] = {}
        self._swap: dict[int, float] = {}

    def fwd_s(self, num_query_tokens: int, num_context_tokens: int) -> float:
        """Seconds of one iteration of `num_query_tokens` over `num_context_tokens` in all
        (module docstring: prefill chunk or decodes); 0 without query tokens."""
        key = (num_query_tokens, num_context_tokens)
        t = self._fwd.get(key)
        if t is None:
            t = self.cost.iteration_s(self._shape(num_query_tokens, num_context_tokens))
            if len(self._fwd) >= self.max_memo_entries:
                self._fwd.clear()
            self._fwd[key] = t
        return t

    def swap_s(self, num_tokens: int) -> float:
        """Seconds to copy `num_tokens` tokens' KV one way (`HostSwapModel.swap_s`)."""
        t = self._swap.get(num_tokens)
        if t is None:
            t = self.swap.swap_s(num_tokens)
            if len(self._swap) >= self.max_memo_entries:
                self._swap.clear()
            self._swap[num_tokens] = t
        return t

    def swap_tokens_within_s(self, seconds: float) -> int:
        """The most tokens one one-way copy moves within `seconds` (inverse of `swap_s`)."""
        return self.swap.tokens_within_s(seconds)

    def swap_budget_tokens(self, num_query_tokens: int, num_context_tokens: int = 0) -> int:
        """InferCept's per-iteration budget N_i: the most tokens with T_swap(N_i) <= T_fwd of
        the planned iteration (`fwd_s` of its query and context tokens)."""
        return self.swap.tokens_within_s(self.fwd_s(num_query_tokens, num_context_tokens))

    def _shape(self, q: int, ctx: int) -> BatchShape:
        if q <= 0:
            return BatchShape()
        cached = max(ctx - q, 0)
        if self.query_as == "prefill":
            return BatchShape((q,), (cached,))
        return BatchShape(num_decode=q, decode_ctx_sum=cached)
