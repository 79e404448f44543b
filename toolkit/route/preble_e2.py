"""Preble's E2 global scheduler (ICLR 2025, §3.2, Algorithms 1–2) as a `Router`.

Per request: match the key in the global radix tree. Exploit when the matched tokens
strictly exceed the missed ones (a tie explores): the candidates are the GPUs allocated on
the deepest allocated node of the matched path (all live GPUs if none), and the one with the
lowest load cost wins. Otherwise, with prefill/decode balancing on, a GPU whose windowed hit
ratio is ≥ `imbalance_ratio` gets the request; else explore: the lowest load cost over all
live GPUs. Ties go to the lowest id. After the assignment the tree, window and virtual cache
are updated and rebalancing / hot-prefix autoscaling may run (`rebalance.py`).

Constants not given in the paper come from the public code (WukLab/preble `8e7906a`):
IMBALR 0.7, Th_bal 1.5, TTFT factor 2, 198,516-token capacity, output length 45, warm-up
50·#GPUs assignments before rebalancing; H = 180 s is the paper's default.
"""

from __future__ import annotations

from typing import NamedTuple

from toolkit.core.request import Request
from toolkit.cost.base import CostModel
from toolkit.route.base import ClusterView, RequestEvent, Router
from toolkit.route.e2_state import E2State, Record
from toolkit.route.global_tree import GlobalNode, GlobalRadixTree, TreeMatch
from toolkit.route.load_cost import (
    CostBreakdown,
    eviction_cost_s,
    historical_load_s,
    matched_per_gpu,
)
from toolkit.route.prefix import as_key
from toolkit.route.rebalance import imbalance, rebalance
from toolkit.route.ttft_window import TtftWindow

_breakdown = tuple.__new__  # CostBreakdown's fields as a tuple, without its Python __new__


class E2Decision(NamedTuple):
    """How the last request was routed (for tests and traces)."""

    kind: str  # 'exploit', 'pd_balance' or 'explore'
    engine_id: int
    matched_tokens: int
    missed_tokens: int
    candidates: tuple[int, ...]
    costs: dict[int, CostBreakdown]


class PrebleE2Router(Router):
    """Preble's E2 router; every feature can be switched off by a constructor flag."""

    # Mean route() time in the simulator's Fig. 3 runs on this project's 2-core machine (Python
    # 3.11): tool use 61 µs, video QA 107, LooGLE 197, programming 55, embodied 83.
    decision_s = 1.0e-4

    def __init__(
        self,
        num_engines: int,
        seed: int = 0,
        cost: CostModel | None = None,
        *,
        window_s: float = 180.0,
        imbalance_ratio: float = 0.7,
        balance_threshold: float = 1.5,
        enable_rebalance: bool = True,
        enable_autoscale: bool = True,
        enable_pd_balance: bool = True,
        enable_eviction_cost: bool = True,
        include_own_prefill: bool = True,
        eviction_assume_full: bool = False,
        default_capacity_tokens: int = 198_516,
        default_output_len: int = 45,
        rebalance_warmup_per_gpu: int = 50,
        autoscale_factor: float = 2.0,
        pd_pick: str = "lowest_cost",
        **unused: object,
    ) -> None:
        if cost is None:
            raise ValueError("PrebleE2Router needs a cost model (`cost=`)")
        self.num_engines = num_engines
        self.seed = seed
        self.state = E2State(num_engines, cost, window_s)
        self.imbalance_ratio = imbalance_ratio
        self.balance_threshold = balance_threshold
        self.enable_rebalance = enable_rebalance
        self.enable_autoscale = enable_autoscale
        self.enable_pd_balance = enable_pd_balance
        if pd_pick not in ("lowest_cost", "best_ratio"):
            raise ValueError(f"pd_pick must be 'lowest_cost' or 'best_ratio', got {pd_pick!r}")
        self.pd_pick = pd_pick
        self.enable_eviction_cost = enable_eviction_cost
        self.include_own_prefill = include_own_prefill
        self.eviction_assume_full = eviction_assume_full
        self.default_capacity_tokens = default_capacity_tokens
        self.default_output_len = default_output_len
        self.rebalance_warmup_per_gpu = rebalance_warmup_per_gpu
        self.autoscale_factor = autoscale_factor
        self.num_assigned = 0
        self.last_decision: E2Decision | None = None
        self.last_adjustment: str | None = None

    @property
    def tree(self) -> GlobalRadixTree:
        """The global radix tree (read-only use)."""
        return self.state.tree

    def _capacity(self, view: ClusterView, g: int) -> int:
        cap = view.stats(g).kv_capacity_tokens
        return cap if cap > 0 else self.default_capacity_tokens

    def _prepare(self, request: Request, view: ClusterView) -> tuple[tuple[int, ...], TreeMatch]:
        st = self.state
        st.ensure_gpus(view.num_engines)
        st.expire(view.now_s)
        if st.tokens_per_key == 0:
            st.tokens_per_key = request.tokens_per_key
        elif request.tokens_per_key != st.tokens_per_key:
            raise ValueError(
                f"request {request.id}: tokens_per_key {request.tokens_per_key} differs from "
                f"the router's {st.tokens_per_key}"
            )
        key = as_key(request.key)
        return key, st.tree.match(key)

    def _costs(self, request: Request, view: ClusterView, m: TreeMatch, gpus: list[int],
               hit: dict[int, int]) -> dict[int, CostBreakdown]:
        """`gpu_cost` of each GPU in `gpus`, inlined: memoised loads are read directly, and
        the eviction cost is computed only where eviction is needed."""
        st = self.state
        dol, plen = self.default_output_len, request.prompt_len
        evict_on, assume_full = self.enable_eviction_cost, self.eviction_assume_full
        own_on = self.include_own_prefill
        keep: set[GlobalNode] | None = None
        out: dict[int, CostBreakdown] = {}
        for g in gpus:
            gs = st.gpus[g]
            memo = gs.load_memo
            load = memo[1] if memo is not None and memo[0] == dol else historical_load_s(st, g, dol)
            h = hit[g]
            missed = plen - h
            evict = 0.0
            if evict_on:
                need = missed if assume_full else gs.cached_tokens + missed - self._capacity(view, g)
                if need > 0 and gs.count:
                    if keep is None:
                        keep = set(m.nodes)
                    evict = eviction_cost_s(st, g, need, keep)
            own = st.prefill_s(missed, h) if own_on else 0.0
            out[g] = _breakdown(CostBreakdown, (load, evict, own))
        return out

    def load_costs(self, request: Request, view: ClusterView) -> dict[int, CostBreakdown]:
        """Each live GPU's load cost for `request` now (expires the window; routes nothing)."""
        key, m = self._prepare(request, view)
        live = self.live_engines(view)
        mg = matched_per_gpu(m, live)
        return self._costs(request, view, m, live, {g: request.key_tokens(mg[g]) for g in live})

    def route(self, request: Request, view: ClusterView) -> int:
        """Choose a GPU by E2's exploit / balance / explore rule, then record the choice."""
        key, m = self._prepare(request, view)
        live = self.live_engines(view)
        mg = matched_per_gpu(m, live)
        tpk, plen = request.tokens_per_key, request.prompt_len
        hit = {g: min(n * tpk, plen) for g, n in mg.items()}  # `request.key_tokens`
        matched = min(m.matched * tpk, plen)
        missed = plen - matched
        costs: dict[int, CostBreakdown] = {}
        if matched > missed:
            kind, cands = "exploit", self._exploit_candidates(m, live)
        else:
            kind, cands = "explore", live
            if self.enable_pd_balance:
                kind, cands = self._pd_candidates(view, live)
        if len(cands) > 1:
            costs = self._costs(request, view, m, cands, hit)
            # min over (total_s, id): the lowest total, ties to the lowest id
            g = min([(c.load_s + c.eviction_s + c.own_prefill_s, i) for i, c in costs.items()])[1]
        else:
            g = cands[0]
        self.last_decision = E2Decision(kind, g, matched, missed, tuple(cands), costs)
        self._assign(request, view, key, m, g, hit[g], live)
        return g

    def _pd_candidates(self, view: ClusterView, live: list[int]) -> tuple[str, list[int]]:
        """Prefill/decode balancing: decode-heavy GPUs (window hit ratio ≥ IMBALR) take an
        explored request. `pd_pick='best_ratio'` sends it to the single highest ratio (the
        Preble code); 'lowest_cost' (default) lets the load cost choose among them, which
        avoids herding every new prefix onto one GPU for a whole 30 s window."""
        ratios = {g: view.stats(g).window_hit_ratio for g in live}
        heavy = [g for g in live if ratios[g] >= self.imbalance_ratio]
        if not heavy:
            return "explore", live
        if self.pd_pick == "best_ratio":
            return "pd_balance", [max(heavy, key=lambda g: (ratios[g], -g))]
        return "pd_balance", heavy

    @staticmethod
    def _exploit_candidates(m: TreeMatch, live: list[int]) -> list[int]:
        for node in reversed(m.nodes):
            if node.alloc:
                cands = [g for g in live if g in node.alloc]
                if cands:
                    return cands
        return live

    def _assign(self, request: Request, view: ClusterView, key: tuple[int, ...], m: TreeMatch,
                g: int, hit: int, live: list[int]) -> None:
        st = self.state
        leaf = st.tree.insert(key, m)
        pf = st.prefill_s(request.prompt_len - hit, hit)
        st.add_record(Record(view.now_s, g, leaf, pf, hit, request.prompt_len, request.id))
        st.cache_path(leaf, g, self._capacity(view, g))
        self.num_assigned += 1
        self.last_adjustment = None
        warm = self.num_assigned >= self.rebalance_warmup_per_gpu * len(live)
        if warm and (self.enable_rebalance or self.enable_autoscale):
            found = imbalance(st, live, self.balance_threshold, self.default_output_len)
            if found is not None:
                self.last_adjustment = rebalance(
                    st, live, view.now_s,
                    threshold=self.balance_threshold,
                    default_output_len=self.default_output_len,
                    enable_moves=self.enable_rebalance,
                    enable_autoscale=self.enable_autoscale,
                    autoscale_factor=self.autoscale_factor,
                    found=found,
                )

    def observe(self, event: RequestEvent) -> None:
        """'first_token' feeds the TTFT detector; 'finish' releases the request's references
        and records its output length and TPOT."""
        st = self.state
        rec = st.inflight.get(event.request.id)
        if rec is None:
            return
        if event.kind == "first_token":
            if rec.leaf.parent is not None:
                node = GlobalRadixTree.key_portion(rec.leaf)
                win = node.ttft.get(event.engine_id)
                if win is None:
                    win = node.ttft[event.engine_id] = TtftWindow()
                win.append(event.time_s, event.ttft_s)
                win.trim(event.time_s - st.window_s)
        elif event.kind == "finish":
            del st.inflight[event.request.id]
            st.release(rec)
            gs = st.gpus[rec.route_gpu]
            if not rec.expired:
                rec.out_len = event.request.output_len
                gs.out_sum += rec.out_len
                gs.out_cnt += 1
                gs.load_memo = None
            if event.tpot_s > 0:
                gs.add_tpot(event.tpot_s)

    def check_integrity(self) -> None:
        """Raise AssertionError if the tree, the window or the caches disagree."""
        st = self.state
        st.tree.check_integrity()
        assert sum(gs.count for gs in st.gpus) == len(st.records)
        for g, gs in enumerate(st.gpus):
            assert gs.count == sum(1 for r in st.records if r.gpu == g)
            assert gs.cached_tokens == sum(st.node_tokens(n) for n in gs.lru)
            assert all(g in n.cached_on for n in gs.lru)
            assert gs.tpots_sorted == sorted(gs.tpots)
            entries = set(gs.free)
            assert all((s, n) in entries for n, s in gs.lru.items() if g not in n.refs)
            for n in st.hot[g]:
                assert g in n.alloc and n.cnt >= 2
