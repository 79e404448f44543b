"""A tiered GPU pool on the simulator (Nitsum): a planner cuts the pool into TP groups every
control window, a dispatcher places requests, each group batches under a local policy, and a
change of plan costs what `TPSwitchCost` says (naive: weights reloaded and running KV lost;
reuse: the KV re-split and migrated).

Records stream to a parquet file in row groups as requests finish, so a run that stops
halfway leaves what it had; memory holds the workload's columns and the groups' queues.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.cost.base import CostModel
from toolkit.cost.specs import ModelSpec
from toolkit.cost.tp import ALLREDUCE_BUS_BYTES_PER_S, TPSwitchCost
from toolkit.plan.base import ClusterPlan, ClusterView, GroupSpec, Planner, describe
from toolkit.plan.capacity import ProfileTable, safe_batch
from toolkit.plan.dispatch import Dispatcher, GroupLoad, LocalPolicy
from toolkit.plan.migrate import MigrationBalancer
from toolkit.sim.tp_group import RequestState, SimGroup, WaitQueue, records_frame
from toolkit.sim.tp_moves import (
    hand_over,
    handoff_arrives,
    migrate,
    preempt,
)
from toolkit.sim.tp_records import RecordSink
from toolkit.workloads.tiers import TieredWorkload, TierSLO


@dataclass
class PoolSetup:
    """What the pool is made of: per-TP cost models and KV capacities (tokens per group),
    the model (for switch and handoff bytes), and how it reconfigures. `slo_basis`: the
    TP-1 cost model the tiers' SLOs are multiples of (TP 1 may not be among `costs`)."""

    costs: Mapping[int, CostModel]
    kv_tokens: Mapping[int, int]
    model: ModelSpec
    switch: TPSwitchCost = field(default_factory=TPSwitchCost)
    chunk_tokens: int = 2048
    link_bytes_per_s: float = ALLREDUCE_BUS_BYTES_PER_S
    slo_basis: CostModel | None = None

    def __post_init__(self) -> None:
        if self.slo_basis is None:
            if 1 not in self.costs:
                raise ValueError("PoolSetup: slo_basis (a TP-1 cost model) is needed when "
                                 f"TP 1 is not among the levels {sorted(self.costs)}")
            self.slo_basis = self.costs[1]


@dataclass
class PoolStats:
    """Counters of a run: plan changes applied, groups switched, GPU-seconds down, requests
    whose KV was lost (re-prefilled) or migrated, and the plan over time."""

    num_reconfigurations: int = 0
    num_group_switches: int = 0
    downtime_gpu_s: float = 0.0
    num_kv_lost: int = 0
    num_kv_migrated: int = 0
    num_preempted: int = 0
    plans: list[tuple[float, str]] = field(default_factory=list)


class TieredPool:
    """The simulated pool (see the module docstring)."""

    def __init__(self, setup: PoolSetup, planner: Planner, dispatcher: Dispatcher,
                 local: LocalPolicy, slos: Mapping[str, TierSLO], profiles: ProfileTable,
                 num_gpus: int, balancer: MigrationBalancer | None = None) -> None:
        self.setup, self.planner, self.dispatcher, self.local = setup, planner, dispatcher, local
        self.balancer = balancer
        self.slos, self.profiles, self.num_gpus = dict(slos), profiles, num_gpus
        self.stats = PoolStats()
        planner.bind(profiles)

    def run(self, w: TieredWorkload, records_path: str | Path, drain_s: float = 300.0,
            progress: Callable[[float], None] | None = None) -> PoolStats:
        """Serve `w`; records go to `records_path` (parquet). Stops `drain_s` after the last
        arrival; requests still running then are recorded unfinished."""
        self.names = w.tier_names
        self.ttft = [self.slos[n].ttft_s for n in self.names]
        self.tpot = [self.slos[n].tpot_s for n in self.names]
        self.rs = RequestState(w, self.ttft)
        self.heap: list[tuple[float, int, int, int]] = []
        self.handoffs: dict[int, int] = {}
        self.seq, self.now, self.next_gid = 0, 0.0, 0
        self.arrived = [0] * len(self.names)
        self.served = [0] * len(self.names)
        self.sink = RecordSink(records_path)
        self.groups: list[SimGroup] = []
        self.plan = self.planner.initial(self.num_gpus, list(self.names))
        self._apply(self.plan, initial=True)
        end = (float(w.arrival_s[-1]) if len(w) else 0.0) + drain_s
        try:
            self._loop(w, end, progress)
        finally:
            self._flush_all()
        return self.stats

    def _loop(self, w: TieredWorkload, end: float, progress) -> None:
        arrivals, n, i = self.rs.arrival, len(w), 0
        tick = self.planner.interval_s
        heap = self.heap
        while True:
            t_arr = arrivals[i] if i < n else math.inf
            t_ev = heap[0][0] if heap else math.inf
            t = min(t_arr, t_ev, tick)
            if t > end or (i >= n and not heap and self._idle()):
                break
            self.now = t
            if t_ev <= t_arr and t_ev <= tick:
                _, _, gid, version = heapq.heappop(heap)
                if gid < 0:
                    handoff_arrives(self, -1 - gid)
                    continue
                g = self.by_gid.get(gid)
                if g is not None and g.version == version:
                    self._complete(g)
            elif t_arr <= tick:
                self._arrive(i)
                i += 1
            else:
                self._tick()
                tick += self.planner.interval_s
                if progress is not None:
                    progress(t)

    def _clock(self) -> float:
        return self.now

    def set_groups(self, groups: list[SimGroup]) -> None:
        """Make `groups` the pool's groups, in plan order (their `index`)."""
        self.groups = groups
        for k, g in enumerate(groups):
            g.index = k
            g.clock = self._clock

    def _idle(self) -> bool:
        return all(not g.load for g in self.groups)

    # -- requests ---------------------------------------------------------------------
    def _loads(self) -> list[GroupLoad]:
        """The groups as dispatchers see them: each `SimGroup` carries `GroupLoad`'s fields."""
        return self.groups  # type: ignore[return-value]

    def _arrive(self, r: int) -> None:
        self.arrived[self.rs.tier[r]] += 1
        self._place(r, self.names[self.rs.tier[r]])

    def _place(self, r: int, tier: str) -> None:
        g = self.groups[self.dispatcher.choose(tier, self._loads(), self.now)]
        if not self.dispatcher.feasible:  # best effort: served after every feasible request
            self.rs.deadline[r] = math.inf
        g.waiting.push(r)
        self._kick(g)

    def _kick(self, g: SimGroup) -> None:
        """Start `g` if idle, or cut its decode run so a new request can join."""
        if g.down_until > self.now:
            return
        if not g.busy:
            self._start(g, self.now)
        elif g.run is not None and (len(g.running) + len(g.prefill) < self._cap(g)
                                    or getattr(self.local, "preempt_best_effort", False)):
            t = g.cut_run(self.now)
            if t is not None:
                g.version += 1
                self._push(t, g)

    def _cap(self, g: SimGroup) -> int:
        return self.local.cap(g.safe_batch)

    def _start(self, g: SimGroup, now: float) -> None:
        if getattr(self.local, "preempt_best_effort", False) and len(g.waiting):
            preempt(self, g, now)
        cap = self._cap(g)
        g.admit(self.rs, cap, now, self.local.best_effort_cap(cap))
        t = g.plan_iteration(self.rs, now)
        g.busy = t is not None
        if t is not None:
            self._push(t, g)

    def _push(self, t: float, g: SimGroup) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, g.gid, g.version))

    def _complete(self, g: SimGroup) -> None:
        now = self.now
        if g.in_flight is not None:
            self._decode_steps(g, 1, now)
            self._prefill_done(g, *g.in_flight, now)
        elif g.run is not None:
            self._decode_steps(g, g.run.k, now)
        g.busy = False
        self._start(g, now)

    def _decode_steps(self, g: SimGroup, k: int, now: float) -> None:
        rs = self.rs
        if not g.running or k <= 0:
            return
        gen, out, still = rs.gen, rs.output, []
        g.ctx_sum += k * len(g.running)
        for r in g.running:
            gen[r] += k
            if gen[r] >= out[r]:
                g.ctx_sum -= rs.prompt[r] + gen[r]
                self._finish(g, r, now)
            else:
                still.append(r)
        g.running = still

    def _prefill_done(self, g: SimGroup, rids: list[int], sizes: list[int], now: float) -> None:
        rs = self.rs
        for r, c in zip(rids, sizes):
            entry = g.prefill[0]
            assert entry[0] == r
            entry[1] -= c
            if entry[1] > 0:
                continue
            g.prefill.popleft()
            rs.need[r] = 0
            rs.gen[r] += 1
            if math.isnan(rs.first[r]):
                rs.first[r] = now
            if rs.gen[r] >= rs.output[r]:
                self._finish(g, r, now)
            elif g.spec.role == "prefill":
                hand_over(self, g, r, now)
            else:
                g.running.append(r)
                g.ctx_sum += rs.prompt[r] + rs.gen[r]

    def _finish(self, g: SimGroup, r: int, now: float) -> None:
        rs = self.rs
        rs.finish[r] = now
        rs.group[r], rs.tp[r] = g.gid, g.spec.tp
        g.kv_used -= rs.prompt[r] + rs.output[r]
        self.served[rs.tier[r]] += 1
        self.sink.add(r)
        if self.sink.due():
            self._flush()

    def _flush(self) -> None:
        ids = self.sink.take()
        if len(ids):
            self.sink.write(records_frame(self.rs, ids, self.names, self.ttft, self.tpot))

    def _flush_all(self) -> None:
        self._flush()
        rest = np.asarray([r for r, f in enumerate(self.rs.finish) if math.isnan(f)], np.int64)
        if len(rest):
            self.sink.write(records_frame(self.rs, rest, self.names, self.ttft, self.tpot))
        self.sink.close()

    # -- control ------------------------------------------------------------------------
    def _tick(self) -> None:
        dt = self.planner.interval_s
        view = ClusterView(self.now, self.num_gpus,
                           {n: self.arrived[k] / dt for k, n in enumerate(self.names)},
                           {n: self.served[k] / dt for k, n in enumerate(self.names)},
                           self.plan)
        self.arrived = [0] * len(self.names)
        self.served = [0] * len(self.names)
        new = self.planner.replan(view)
        if new != self.plan:
            new.check(self.num_gpus)
            self.plan = new
            self._apply(new, initial=False)
        if self.balancer is not None:
            for src, dst in self.balancer.moves(self._loads()):
                migrate(self, self.groups[src], self.groups[dst])

    def _apply(self, plan: ClusterPlan, initial: bool) -> None:
        from toolkit.sim.tp_reconfig import apply_plan

        apply_plan(self, plan, initial)
        self.by_gid = {g.gid: g for g in self.groups}
        self.stats.plans.append((self.now, describe(plan)))

    def new_group(self, gpu_start: int, spec: GroupSpec) -> SimGroup:
        """A fresh group object for `spec` at `gpu_start`."""
        self.next_gid += 1
        queue = WaitQueue(self.rs.deadline if self.local.slo_aware else None, self.rs.arrival)
        g = SimGroup(self.next_gid, gpu_start, spec, self.setup.costs[spec.tp],
                     self.setup.kv_tokens[spec.tp], 0, self.setup.chunk_tokens, queue)
        self.retarget(g, spec)
        return g

    def retarget(self, g: SimGroup, spec: GroupSpec) -> None:
        """Give `g` (of `spec`'s width) `spec`'s tier and role, with that tier's SLO-safe
        batch and rate."""
        assert g.spec.tp == spec.tp
        g.spec = spec
        g.safe_batch = safe_batch(self.profiles, spec, list(self.names), self.slos)
        g.safe_rate = self.profiles.rate(spec.tier, spec.tp) if spec.tier in self.names else 0.0
