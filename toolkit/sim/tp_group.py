"""One simulated TP group of the tiered cluster: continuous batching with chunked prefill,
and runs of decode steps skipped in one event until the next finish or interruption.

Per-request state lives in `RequestState` (plain lists: the hot path reads scalars). A run
of k decode steps of a fixed batch costs k steps at the batch's mid-run context; an arrival
that can join the batch cuts the run at the end of the step in flight.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from toolkit.cost.base import BatchShape, CostModel
from toolkit.metrics.slo import slo_columns
from toolkit.plan.base import GroupSpec
from toolkit.workloads.tiers import TieredWorkload


class RequestState:
    """Columns of every request's progress (lists, indexed by request id)."""

    def __init__(self, w: TieredWorkload, ttft_slo_s: list[float]) -> None:
        self.arrival = w.arrival_s.tolist()
        self.prompt = w.prompt_len.tolist()
        self.output = w.output_len.tolist()
        self.tier = w.tier.tolist()
        n = len(self.arrival)
        self.gen = [0] * n
        self.need = list(self.prompt)  # tokens to prefill before decoding (re)starts
        self.first = [math.nan] * n
        self.finish = [math.nan] * n
        self.group = [-1] * n
        self.tp = [0] * n
        self.restarts = [0] * n
        self.deadline = [a + ttft_slo_s[k] for a, k in zip(self.arrival, self.tier)]


class WaitQueue:
    """A group's waiting requests. First come first served (`deadlines=None`), or feasible
    first: requests whose TTFT deadline has not passed by earliest deadline, then those past
    it and best-effort ones (no deadline) by arrival (deadline = arrival + the tier's TTFT
    target, so the passed ones leave the front of the deadline order). Either way, requests pushed to the `front` (resumed ones:
    handed over, migrated) go first. O(log n) per request."""

    def __init__(self, deadlines: list[float] | None, arrivals: list[float]) -> None:
        self.deadlines, self.arrivals = deadlines, arrivals
        self.fifo: deque[int] = deque()
        self.due: list[tuple[float, int]] = []  # (deadline, rid)
        self.late: list[tuple[float, int]] = []  # (arrival, rid)

    def __len__(self) -> int:
        return len(self.fifo) + len(self.due) + len(self.late)

    def __iter__(self) -> Iterator[int]:
        yield from self.fifo
        yield from (r for _, r in sorted(self.due))
        yield from (r for _, r in sorted(self.late))

    def push(self, r: int, front: bool = False) -> None:
        if front:
            self.fifo.appendleft(r)
        elif self.deadlines is None:
            self.fifo.append(r)
        elif math.isinf(self.deadlines[r]):  # best effort: with the late ones, by arrival
            heapq.heappush(self.late, (self.arrivals[r], r))
        else:
            heapq.heappush(self.due, (self.deadlines[r], r))

    def peek(self, now: float) -> int | None:
        due = self.due
        while due and due[0][0] < now:
            _, r = heapq.heappop(due)
            heapq.heappush(self.late, (self.arrivals[r], r))
        if self.fifo:
            return self.fifo[0]
        if due:
            return due[0][1]
        return self.late[0][1] if self.late else None

    def pop(self, now: float) -> int:
        r = self.peek(now)
        assert r is not None
        if self.fifo:
            self.fifo.popleft()
        elif self.due and self.due[0][1] == r:
            heapq.heappop(self.due)
        else:
            heapq.heappop(self.late)
        return r

    def drain(self) -> list[int]:
        out = list(self)
        self.fifo.clear()
        self.due.clear()
        self.late.clear()
        return out


@dataclass
class Run:
    """A run of `k` decode steps of `step_s` each from `start_s`."""

    start_s: float
    step_s: float
    k: int


class SimGroup:
    """A TP group: its spec, first GPU, cost model, KV capacity and queues."""

    def __init__(self, gid: int, gpu_start: int, spec: GroupSpec, cost: CostModel,
                 kv_tokens: int, safe_batch: int, chunk_tokens: int, waiting: WaitQueue) -> None:
        self.gid, self.gpu_start, self.spec, self.cost = gid, gpu_start, spec, cost
        self.kv_tokens, self.safe_batch, self.chunk = kv_tokens, safe_batch, chunk_tokens
        self.waiting = waiting
        self.safe_rate = 0.0
        self.prefill: deque[list[int]] = deque()  # [rid, tokens left to prefill]
        self.running: list[int] = []
        self.kv_used = 0
        self.ctx_sum = 0
        self.version = 0
        self.busy = False
        self.down_until = 0.0
        self.run: Run | None = None
        self.in_flight: tuple[list[int], list[int]] | None = None  # mixed: chunks' rids, sizes

    # What a dispatcher reads (`toolkit.plan.dispatch.GroupLoad`'s fields), without building
    # a view per arrival: `index` is set by the pool, `up` reads the pool's clock.
    index = -1
    clock: Callable[[], float] = staticmethod(lambda: 0.0)

    @property
    def tier(self) -> str | None:
        return self.spec.tier

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def tp(self) -> int:
        return self.spec.tp

    @property
    def up(self) -> bool:
        return self.down_until <= self.clock()

    @property
    def queued(self) -> int:
        return len(self.waiting)

    @property
    def load(self) -> int:
        return len(self.waiting) + len(self.prefill) + len(self.running)

    def admit(self, rs: RequestState, cap: int, now: float,
              best_effort_cap: int | None = None) -> None:
        """Move waiting requests, in queue order, into the batch while it has room and the
        next one's KV fits (no skipping ahead of a request that does not fit); a request
        with no deadline left to meet (best effort, or past it) only while the batch holds
        fewer than `best_effort_cap` (default: `cap`)."""
        q = self.waiting
        be_cap = cap if best_effort_cap is None else best_effort_cap
        while (size := len(self.running) + len(self.prefill)) < cap:
            r = q.peek(now)
            if r is None:
                return
            if size >= be_cap and not now <= rs.deadline[r] < math.inf:
                return
            need_kv = rs.prompt[r] + rs.output[r]
            if self.kv_used + need_kv > self.kv_tokens:
                return
            q.pop(now)
            self.kv_used += need_kv
            if rs.need[r] > 0:
                self.prefill.append([r, rs.need[r]])
            else:  # arrived with its KV (handover, migration): decode at once
                self.running.append(r)
                self.ctx_sum += rs.prompt[r] + rs.gen[r]

    def plan_iteration(self, rs: RequestState, now: float) -> float | None:
        """Start the next iteration; its end time (None: idle)."""
        self.run, self.in_flight = None, None
        if self.prefill:
            rids, sizes, ctxs, budget = [], [], [], self.chunk
            for entry in self.prefill:
                if budget <= 0:
                    break
                r, left = entry
                c = min(left, budget)
                rids.append(r)
                sizes.append(c)
                ctxs.append(rs.need[r] - left)
                budget -= c
            self.in_flight = (rids, sizes)
            dur = self.cost.iteration_s(BatchShape(tuple(sizes), tuple(ctxs), len(self.running),
                                                   self.ctx_sum))
            return now + dur
        if self.running:
            out, gen = rs.output, rs.gen
            k = min(out[r] - gen[r] for r in self.running)
            b = len(self.running)
            ctx_mid = self.ctx_sum / b + k / 2
            step = self.cost.iteration_s(BatchShape(num_decode=b, decode_ctx_sum=int(ctx_mid * b)))
            self.run = Run(now, step, k)
            return now + k * step
        return None

    def cut_run(self, now: float) -> float | None:
        """End the decode run in flight after its current step; the new end time (None: the
        run already ends then)."""
        run = self.run
        if run is None:
            return None
        done = int((now - run.start_s) / run.step_s)
        if done + 1 >= run.k:
            return None
        run.k = done + 1
        return run.start_s + run.k * run.step_s

    def steps_done(self, now: float) -> int:
        """Decode steps of the run in flight complete by `now`."""
        run = self.run
        return 0 if run is None else min(run.k, int((now - run.start_s) / run.step_s))


def records_frame(rs: RequestState, ids: np.ndarray, tier_names: tuple[str, ...],
                  ttft_slo: list[float], tpot_slo: list[float]) -> dict[str, np.ndarray]:
    """Columns of the records of `ids`, with `slo_met` (TTFT and TPOT both met; a request
    of a tier without targets meets them by finishing)."""
    take = ids.tolist()

    def col(xs: list, dtype) -> np.ndarray:
        return np.asarray([xs[i] for i in take], dtype=dtype)

    arrival, first, finish = col(rs.arrival, float), col(rs.first, float), col(rs.finish, float)
    output, tier = col(rs.output, np.int64), col(rs.tier, np.int64)
    ttft, tpot, met = slo_columns(arrival, first, finish, output, np.asarray(ttft_slo)[tier],
                                  np.asarray(tpot_slo)[tier])
    return {"id": ids, "tier": np.asarray(tier_names, object)[tier], "arrival_s": arrival,
            "first_token_s": first, "finish_s": finish, "prompt_len": col(rs.prompt, np.int64),
            "num_output_tokens": output, "group": col(rs.group, np.int64),
            "tp": col(rs.tp, np.int64), "restarts": col(rs.restarts, np.int64),
            "ttft_s": ttft, "tpot_s": tpot, "slo_met": met}
