"""Preble E2's bookkeeping: window records, per-GPU aggregates and virtual per-GPU caches.

Everything the load cost needs is kept incrementally: a record enters the window when its
request is routed and leaves it (from a time-ordered deque) `window_s` seconds later, and
both moves update the nodes on its path and its GPU's totals, so no routing decision scans
the whole tree or the whole window.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict, deque
from heapq import heappop, heappush

from toolkit.cost.base import CostModel
from toolkit.route.global_tree import GlobalNode, GlobalRadixTree


class Record:
    """One routed request inside the window H."""

    __slots__ = ("t", "gpu", "route_gpu", "leaf", "prefill_s", "hit", "prompt", "out_len",
                 "req_id", "expired")

    def __init__(self, t: float, gpu: int, leaf: GlobalNode, prefill_s: float, hit: int,
                 prompt: int, req_id: str) -> None:
        self.t, self.gpu, self.route_gpu, self.leaf = t, gpu, gpu, leaf
        self.prefill_s, self.hit, self.prompt, self.req_id = prefill_s, hit, prompt, req_id
        self.out_len: int | None = None
        self.expired = False


class GpuState:
    """Per-GPU window totals, observed decode speed and the virtual LRU cache.

    `tpots` keeps the last 200 observed TPOTs (the code's median window), `tpots_sorted`
    the same values in sorted order.

    `lru` maps each cached node to its stamp (a counter value of its last touch, so LRU
    order is stamp order); `free` is a heap of (stamp, node) entries holding every cached
    node no in-flight request uses, plus stale entries (stamp changed, node used or
    evicted) that are dropped when they surface. `load_memo` caches the historical load
    (`load_cost.historical_load_s`) as (default output length, seconds); every change to
    the totals it reads resets it to None.
    """

    __slots__ = ("count", "prefill_sum", "prompt_sum", "out_sum", "out_cnt", "tpots",
                 "tpots_sorted", "lru", "free", "cached_tokens", "load_memo")

    def __init__(self) -> None:
        self.count = 0  # window requests (records tagged with this GPU)
        self.prefill_sum = 0.0  # Σ prefill seconds of their missed tokens
        self.prompt_sum = 0
        self.out_sum = 0  # Σ observed output lengths of finished window requests
        self.out_cnt = 0
        self.tpots: deque[float] = deque(maxlen=200)  # code: median of the last 200 TPOTs
        self.tpots_sorted: list[float] = []
        self.lru: OrderedDict[GlobalNode, int] = OrderedDict()  # oldest first
        self.free: list[tuple[int, GlobalNode]] = []
        self.cached_tokens = 0
        self.load_memo: tuple[int, float] | None = None

    def add_tpot(self, tpot_s: float) -> None:
        """Keep an observed TPOT (the oldest of 200 drops out)."""
        tpots, srt = self.tpots, self.tpots_sorted
        if len(tpots) == tpots.maxlen:
            del srt[bisect_left(srt, tpots[0])]
        tpots.append(tpot_s)
        insort(srt, tpot_s)
        self.load_memo = None

    def tpot_median(self) -> float:
        """`statistics.median(tpots)`, the same float, read off the sorted copy."""
        srt = self.tpots_sorted
        n = len(srt)
        if n % 2 == 1:
            return srt[n // 2]
        i = n // 2
        return (srt[i - 1] + srt[i]) / 2


class E2State:
    """The global tree plus the window and cache bookkeeping that E2 routes on."""

    def __init__(self, num_gpus: int, cost: CostModel, window_s: float) -> None:
        self.tree = GlobalRadixTree(on_split=self._on_split)
        self.cost = cost
        self.window_s = window_s
        self.gpus = [GpuState() for _ in range(num_gpus)]
        self.hot: list[dict[GlobalNode, None]] = [{} for _ in range(num_gpus)]
        self.records: deque[Record] = deque()
        self.inflight: dict[str, Record] = {}
        self.tokens_per_key = 0  # set by the first request
        self._pf_memo: dict[tuple[int, int], float] = {}
        self._stamp = 0  # last LRU stamp handed out

    # ----- sizes and cost-model calls ------------------------------------------------
    def ensure_gpus(self, n: int) -> None:
        """Grow the per-GPU state to `n` GPUs."""
        while len(self.gpus) < n:
            self.gpus.append(GpuState())
            self.hot.append({})

    def prefill_s(self, num_new: int, num_cached: int) -> float:
        """Memoised `cost.prefill_s` (0 for no new tokens)."""
        if num_new <= 0:
            return 0.0
        k = (num_new, num_cached)
        v = self._pf_memo.get(k)
        if v is None:
            if len(self._pf_memo) > 200_000:
                self._pf_memo.clear()
            v = self._pf_memo[k] = self.cost.prefill_s(num_new, num_cached)
        return v

    def node_tokens(self, node: GlobalNode) -> int:
        """Tokens a node stands for (a partial last block counts as a full one)."""
        return len(node.key) * self.tokens_per_key

    def node_prefill_s(self, node: GlobalNode) -> float:
        """Seconds to prefill the node's own tokens over the tokens above it (memoised)."""
        if node.pf_s < 0:
            tpk = self.tokens_per_key
            node.pf_s = self.prefill_s(len(node.key) * tpk, node.ctx * tpk)
        return node.pf_s

    # ----- allocation and the hot-prefix index ---------------------------------------
    def add_alloc(self, node: GlobalNode, g: int) -> None:
        """Route `node`'s future requests to GPU `g` too."""
        node.alloc.add(g)
        if node.cnt >= 2:
            self.hot[g][node] = None

    def remove_alloc(self, node: GlobalNode, g: int) -> None:
        """Stop routing `node`'s requests to GPU `g`."""
        node.alloc.discard(g)
        self.hot[g].pop(node, None)

    def _on_split(self, up: GlobalNode, low: GlobalNode) -> None:
        for g in up.alloc:
            if up.cnt >= 2:
                self.hot[g][up] = None
        for g in up.cached_on:  # approximation: the new upper part counts as newest
            self._stamp += 1
            self.gpus[g].lru[up] = self._stamp
            if g not in up.refs:
                heappush(self.gpus[g].free, (self._stamp, up))

    # ----- window records ------------------------------------------------------------
    def add_record(self, rec: Record) -> None:
        """Enter a routed request into the window, its GPU's totals and its path."""
        g, v = rec.gpu, rec.prefill_s
        self.records.append(rec)
        rec.leaf.records.append(rec)
        old = self.inflight.pop(rec.req_id, None)
        if old is not None:  # the same id routed again while in flight: release the old one
            self.release(old)
        self.inflight[rec.req_id] = rec
        hit, prompt, t, hot_g = rec.hit, rec.prompt, rec.t, self.hot[g]
        node = rec.leaf
        while node.parent is not None:  # `path_up`
            cnt = node.cnt = node.cnt + 1
            cnt_gpu, load, refs = node.cnt_gpu, node.load, node.refs
            cnt_gpu[g] = cnt_gpu.get(g, 0) + 1
            load[g] = load.get(g, 0.0) + v
            node.hit_tokens += hit
            node.prompt_tokens += prompt
            refs[g] = refs.get(g, 0) + 1
            node.last_access_s = t
            if cnt == 2:
                for a in node.alloc:
                    self.hot[a][node] = None
            node.alloc.add(g)  # `add_alloc`
            if cnt >= 2:
                hot_g[node] = None
            node = node.parent
        gs = self.gpus[g]
        gs.count += 1
        gs.prefill_sum += v
        gs.prompt_sum += rec.prompt
        gs.load_memo = None

    def _unpath(self, rec: Record, g: int, sign: int) -> None:
        """Add (+1) or remove (−1) `rec`'s contribution for GPU `g` along its path."""
        v = rec.prefill_s * sign
        for node in GlobalRadixTree.path_up(rec.leaf):
            c = node.cnt_gpu.get(g, 0) + sign
            if c:
                node.cnt_gpu[g] = c
                node.load[g] = node.load.get(g, 0.0) + v
            else:
                del node.cnt_gpu[g]
                node.load.pop(g, None)
        gs = self.gpus[g]
        gs.count += sign
        gs.prefill_sum += v
        gs.prompt_sum += rec.prompt * sign
        gs.load_memo = None

    def retag(self, rec: Record, new_gpu: int) -> None:
        """Move a window record's load from its GPU to `new_gpu` (rebalancing)."""
        self._unpath(rec, rec.gpu, -1)
        rec.gpu = new_gpu
        self._unpath(rec, new_gpu, +1)

    def expire(self, now_s: float) -> None:
        """Drop records older than the window; unallocate and prune nodes left empty."""
        horizon = now_s - self.window_s
        while self.records and self.records[0].t <= horizon:
            rec = self.records.popleft()
            rec.leaf.records.popleft()
            rec.expired = True
            self._unpath(rec, rec.gpu, -1)
            for node in GlobalRadixTree.path_up(rec.leaf):
                node.cnt -= 1
                node.hit_tokens -= rec.hit
                node.prompt_tokens -= rec.prompt
                if node.cnt == 1:
                    for a in node.alloc:
                        self.hot[a].pop(node, None)
                elif node.cnt == 0:
                    for a in list(node.alloc):
                        self.remove_alloc(node, a)
            if rec.out_len is not None:
                gs = self.gpus[rec.route_gpu]
                gs.out_sum -= rec.out_len
                gs.out_cnt -= 1
                gs.load_memo = None
            self.tree.prune(rec.leaf)

    def release(self, rec: Record) -> None:
        """The request finished: drop its in-flight references."""
        g = rec.route_gpu
        gs = self.gpus[g]
        for node in GlobalRadixTree.path_up(rec.leaf):
            r = node.refs[g] - 1
            if r:
                node.refs[g] = r
            else:
                del node.refs[g]
                stamp = gs.lru.get(node)
                if stamp is not None:
                    heappush(gs.free, (stamp, node))
        self.tree.prune(rec.leaf)

    # ----- virtual caches ------------------------------------------------------------
    def cache_path(self, leaf: GlobalNode, g: int, capacity_tokens: int) -> None:
        """Mark `leaf`'s path cached on GPU `g` (most recent) and LRU-evict to capacity,
        skipping nodes in use by in-flight requests."""
        gs = self.gpus[g]
        lru, free, tpk = gs.lru, gs.free, self.tokens_per_key
        stamp = self._stamp
        node = leaf
        while node.parent is not None:  # `path_up`, leaf first: ancestors end up newer
            stamp += 1
            if g not in node.cached_on:
                node.cached_on.add(g)
                gs.cached_tokens += len(node.key) * tpk  # `node_tokens`
            else:
                lru.move_to_end(node)
            lru[node] = stamp
            if g not in node.refs:  # `refs` holds no zeros
                heappush(free, (stamp, node))
            node = node.parent
        self._stamp = stamp
        excess = gs.cached_tokens - capacity_tokens
        while excess > 0 and free:
            stamp, node = heappop(free)
            if lru.get(node) == stamp and g not in node.refs:
                excess -= self.node_tokens(node)
                self.uncache(node, g)
        if len(free) > 2 * len(lru) + 64:
            gs.free = [(s, n) for n, s in lru.items() if g not in n.refs]  # sorted: a heap

    def uncache(self, node: GlobalNode, g: int) -> None:
        """Evict `node` from GPU `g`'s virtual cache; prune it if nothing else holds it."""
        node.cached_on.discard(g)
        del self.gpus[g].lru[node]
        self.gpus[g].cached_tokens -= self.node_tokens(node)
        self.tree.prune(node)
