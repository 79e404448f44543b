"""Preble E2's load cost of a GPU for a request: `L_i + M_i + P_i` (paper Algorithm 2).

- `L_i` (historical load): Σ over window requests on GPU i of the prefill seconds of their
  tokens that missed GPU i's cache, plus, per request, the decode seconds of the average
  output length observed on GPU i in the window (× the GPU's observed TPOT).
- `M_i` (eviction cost): the tree nodes GPU i's LRU would evict to fit the request's new
  tokens, each charged `prefill_s(node) × N_j`, with N_j the node's share of GPU i's window
  requests. The paper assumes a full GPU (always evict); by default we evict only beyond
  `kv_capacity_tokens` (knob `eviction_assume_full` restores the paper's reading).
- `P_i`: prefill seconds of the request's own missed tokens on GPU i. The paper includes it;
  the public code sets it to 0 (`include_own_prefill=False` replays that).
"""

from __future__ import annotations

from typing import NamedTuple

from toolkit.route.e2_state import E2State
from toolkit.route.global_tree import GlobalNode, TreeMatch


class CostBreakdown(NamedTuple):
    """The three terms of one GPU's load cost, in seconds."""

    load_s: float
    eviction_s: float
    own_prefill_s: float

    @property
    def total_s(self) -> float:
        return self.load_s + self.eviction_s + self.own_prefill_s


def matched_per_gpu(m: TreeMatch, gpus: list[int]) -> dict[int, int]:
    """Key elements of the match that each GPU's virtual cache holds (a root-down run)."""
    out = dict.fromkeys(gpus, 0)
    still = set(gpus)
    for i, node in enumerate(m.nodes):
        still &= node.cached_on
        if not still:
            break
        end = node.end if i + 1 < len(m.nodes) else node.ctx + m.last_len
        for g in still:
            out[g] = end
    return out


def tpot_s(state: E2State, g: int) -> float:
    """Median of GPU g's last observed TPOTs; the cost model's single-sequence decode step at
    the window's mean prompt length until one is observed (the code seeds a constant)."""
    gs = state.gpus[g]
    if gs.tpots:
        return gs.tpot_median()
    ctx = gs.prompt_sum // gs.count if gs.count else 0
    return state.cost.decode_s(1, max(ctx, 1))


def decode_per_request_s(state: E2State, g: int, default_output_len: int) -> float:
    """Decode seconds of GPU g's average observed output length (default before any)."""
    gs = state.gpus[g]
    avg_out = gs.out_sum / gs.out_cnt if gs.out_cnt else float(default_output_len)
    return avg_out * tpot_s(state, g)


def historical_load_s(state: E2State, g: int, default_output_len: int) -> float:
    """`L_g`: Σ over GPU g's window requests of missed-token prefill plus average decode
    (memoised in `GpuState.load_memo` until g's totals change)."""
    gs = state.gpus[g]
    memo = gs.load_memo
    if memo is not None and memo[0] == default_output_len:
        return memo[1]
    if gs.count == 0:
        load = 0.0
    else:
        load = (max(gs.prefill_sum, 0.0)
                + gs.count * decode_per_request_s(state, g, default_output_len))
    gs.load_memo = (default_output_len, load)
    return load


def eviction_cost_s(state: E2State, g: int, need_tokens: int, keep: set[GlobalNode]) -> float:
    """`M_g`: LRU-evict `need_tokens` from GPU g's virtual cache (skipping referenced nodes
    and `keep`), charging each victim its prefill seconds × its share of g's window."""
    gs = state.gpus[g]
    if need_tokens <= 0 or gs.count == 0:
        return 0.0
    cost = 0.0
    for node in gs.lru:
        if node in keep or g in node.refs:
            continue
        share = node.cnt_gpu.get(g, 0) / gs.count
        if share:
            cost += state.node_prefill_s(node) * share
        need_tokens -= state.node_tokens(node)
        if need_tokens <= 0:
            break
    return cost


def gpu_cost(
    state: E2State,
    g: int,
    prompt_len: int,
    hit_tokens: int,
    keep: set[GlobalNode],
    capacity_tokens: int,
    *,
    default_output_len: int,
    enable_eviction_cost: bool,
    eviction_assume_full: bool,
    include_own_prefill: bool,
) -> CostBreakdown:
    """The load cost of GPU g for a request of `prompt_len` tokens, `hit_tokens` of them
    already in g's (virtual) cache."""
    missed = prompt_len - hit_tokens
    load = historical_load_s(state, g, default_output_len)
    evict = 0.0
    if enable_eviction_cost:
        need = missed
        if not eviction_assume_full:
            need = state.gpus[g].cached_tokens + missed - capacity_tokens
        evict = eviction_cost_s(state, g, need, keep)
    own = state.prefill_s(missed, hit_tokens) if include_own_prefill else 0.0
    return CostBreakdown(load, evict, own)
