"""A simulated cluster: a router in front of simulated engines, replaying a trace."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from tqdm.auto import tqdm

from toolkit.core.record import RequestRecord
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.route.base import EngineStats, RequestEvent, Router
from toolkit.sched.seq import Seq
from toolkit.sim.engine import SimEngine
from toolkit.sim.loop import PRIO_ARRIVAL, EventLoop


class _RoutingStats(EngineStats):
    """An engine's `EngineStats` while one request is routed, computed on first read.

    A router often reads only liveness, KV capacity and the window hit ratio; those come
    straight from the engine (a simulated engine is always alive), and any other field makes
    the engine build its full statistics once. Nothing changes while a request is routed
    (`tests/unit/sim/test_routing_stats.py` holds every field to `SimEngine.stats`).
    """

    __slots__ = ("_engine", "_full")

    def __init__(self, engine: SimEngine) -> None:  # fields are properties: no dataclass init
        self._engine = engine
        self._full: EngineStats | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EngineStats):
            return NotImplemented
        return dataclasses.astuple(self) == dataclasses.astuple(other)

    __hash__ = None  # type: ignore[assignment]  # as EngineStats

    def _stats(self) -> EngineStats:
        full = self._full
        if full is None:
            full = self._full = self._engine.stats()
        return full

    engine_id = property(lambda self: self._engine.engine_id)  # type: ignore[assignment]
    alive = property(lambda self: True)  # type: ignore[assignment]
    kv_capacity_tokens = property(lambda self: self._engine.kv.capacity_tokens)  # type: ignore[assignment]
    num_running = property(lambda self: self._stats().num_running)  # type: ignore[assignment]
    num_waiting = property(lambda self: self._stats().num_waiting)  # type: ignore[assignment]
    num_waiting_tokens = property(lambda self: self._stats().num_waiting_tokens)  # type: ignore[assignment]
    kv_used_tokens = property(lambda self: self._stats().kv_used_tokens)  # type: ignore[assignment]

    @property  # type: ignore[override]
    def window_hit_ratio(self) -> float:
        full = self._full
        if full is not None:
            return full.window_hit_ratio
        eng = self._engine
        return eng._hits.ratio(eng.loop.now_s)  # what `SimEngine.stats` reports


class SimCluster:
    """Routes each arriving request and collects one record per request.

    It is both the routers' `ClusterView` and the engines' `EngineListener`.
    `engine_factory(engine_id, loop, listener)` builds each engine.

    The router is one server: it decides for one request at a time, each decision taking
    `router_decision_s` (default: the router's own measured `decision_s`; 0 turns the charge
    off), and a request reaches its engine when its decision ends plus the serving path's
    time (the engine cost model's `request_path_s`, 0 unless a profile measured it). A
    decision reads the cluster as it is when the decision starts.
    """

    def __init__(
        self,
        router: Router,
        num_engines: int,
        engine_factory: Callable[[int, EventLoop, SimCluster], SimEngine],
        progress: bool = False,
        router_decision_s: float | None = None,
    ) -> None:
        self.loop = EventLoop()
        self.router = router
        decision_s = router.decision_s if router_decision_s is None else float(router_decision_s)
        if not decision_s >= 0.0:
            raise ValueError(f"router_decision_s must be >= 0, got {router_decision_s!r}")
        self.router_decision_s = decision_s
        self._router_free_s = 0.0
        self.engines = [engine_factory(i, self.loop, self) for i in range(num_engines)]
        self.records: dict[str, RequestRecord] = {}
        self.progress = progress
        self._bar: tqdm | None = None
        self._stats_memo: dict[int, EngineStats] | None = None  # set while routing

    # -- ClusterView -----------------------------------------------------------------------
    @property
    def num_engines(self) -> int:
        return len(self.engines)

    @property
    def now_s(self) -> float:
        return self.loop.now_s

    def live_engine_ids(self) -> list[int]:
        """Every engine: a simulated engine never dies (`Router.live_engines` asks this)."""
        return list(range(len(self.engines)))

    def stats(self, engine_id: int) -> EngineStats:
        """An engine's statistics; while a request is being routed nothing changes, so each
        engine's are computed once per routing decision."""
        memo = self._stats_memo
        if memo is None:
            return self.engines[engine_id].stats()
        st = memo.get(engine_id)
        if st is None:
            st = memo[engine_id] = _RoutingStats(self.engines[engine_id])
        return st

    # -- running -----------------------------------------------------------------------------
    def run(self, trace: Trace, until_s: float = math.inf) -> list[RequestRecord]:
        """Replay `trace` to completion (or `until_s`); return records in arrival order.

        Records of requests that had not finished when the run stopped stay in
        `self.records` with NaN times, so a failed run keeps what it had.
        """
        for req in trace:
            self.records[req.id] = RequestRecord(
                request_id=req.id, arrival_s=req.arrival_s, num_prompt_tokens=req.prompt_len,
                session=req.session, tier=req.tier,
            )
            self.loop.schedule(req.arrival_s, PRIO_ARRIVAL, self._arrive, req)
        self._bar = tqdm(total=len(trace), disable=not self.progress, desc="simulate",
                         unit="req", mininterval=1.0)
        try:
            self.loop.run(until_s)
        finally:
            self._bar.close()
        return list(self.records.values())

    def _arrive(self, req: Request) -> None:
        now = self.loop.now_s
        if self._router_free_s > now:  # the router is still deciding for earlier requests
            self.loop.schedule(self._router_free_s, PRIO_ARRIVAL, self._route, req)
        else:
            self._route(req)

    def _route(self, req: Request) -> None:
        self._stats_memo = {}
        try:
            engine_id = self.router.route(req, self)
        finally:
            self._stats_memo = None
        self.records[req.id].engine_id = engine_id
        engine = self.engines[engine_id]
        delay = engine.cost.request_path_s
        if self.router_decision_s == 0.0 and delay == 0.0:
            engine.add_request(req)
            return
        done = self.loop.now_s + self.router_decision_s
        self._router_free_s = done
        self.loop.schedule(done + delay, PRIO_ARRIVAL, engine.add_request, req)

    # -- EngineListener ----------------------------------------------------------------------
    def on_first_token(self, engine_id: int, seq: Seq, time_s: float) -> None:
        rec = self.records[seq.id]
        rec.first_token_s = time_s
        rec.num_cached_tokens = seq.first_cached_tokens
        self.router.observe(RequestEvent("first_token", seq.request, engine_id, time_s,
                                         time_s - rec.arrival_s, math.nan, rec.num_cached_tokens))

    def on_finish(self, engine_id: int, seq: Seq, time_s: float) -> None:
        rec = self.records[seq.id]
        rec.finish_s = time_s
        rec.num_output_tokens = seq.num_generated
        rec.num_preemptions = seq.num_preemptions
        rec.num_pauses = seq.num_pauses
        rec.context_truncated = getattr(seq, "context_truncated", False)
        ttft = rec.first_token_s - rec.arrival_s
        tpot = (time_s - rec.first_token_s) / (seq.num_generated - 1) if seq.num_generated > 1 else 0.0
        self.router.observe(RequestEvent("finish", seq.request, engine_id, time_s, ttft, tpot,
                                         rec.num_cached_tokens))
        if self._bar is not None:
            self._bar.update(1)

    def on_fail(self, engine_id: int, seq: Seq, time_s: float, reason: str) -> None:
        rec = self.records[seq.id]
        rec.failed = True
        rec.error = reason
        if self._bar is not None:
            self._bar.update(1)
