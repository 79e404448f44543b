"""A simulated engine: the real scheduler and cache objects, with time from a cost model.

Continuous batching with chunked prefill (or prefill-first batches), KV admission, LRU
eviction and preemption by recompute. When an iteration is decode-only, the engine runs a
whole stretch of decode steps as one event — up to the next request completion or the
KV-slot limit — and cuts the stretch short at the next step boundary if a request arrives.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from typing import Protocol

import numpy as np

from toolkit.core.request import Request
from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.steps import decode_steps_cum_s
from toolkit.route.base import EngineStats
from toolkit.sched.base import Batch, LocalScheduler, RunningState
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq, SeqStatus
from toolkit.sim.hit_window import HitWindow
from toolkit.sim.loop import PRIO_ENGINE, EventLoop
from toolkit.sim.prefill_stretch import PrefillStretch, can_stretch


class EngineListener(Protocol):
    """Receives an engine's per-request events (the cluster turns them into records)."""

    def on_first_token(self, engine_id: int, seq: Seq, time_s: float) -> None: ...

    def on_finish(self, engine_id: int, seq: Seq, time_s: float) -> None: ...

    def on_fail(self, engine_id: int, seq: Seq, time_s: float, reason: str) -> None: ...


class SimEngine:
    """One simulated GPU (or tensor-parallel group)."""

    def __init__(
        self, engine_id: int, scheduler: LocalScheduler, kv: KVManager, cost: CostModel,
        loop: EventLoop, listener: EngineListener, hit_window_s: float = 30.0,
        max_stretch_steps: int | None = None,
    ) -> None:
        self.engine_id = engine_id
        self.scheduler = scheduler
        self.kv = kv
        self.cost = cost
        self.loop = loop
        self.listener = listener
        self.hit_window_s = hit_window_s
        self.max_stretch_steps = max_stretch_steps
        self.waiting: list[Seq] = []
        self._waiting_tokens = 0
        self.running = RunningState()
        self._decode_heap: list[tuple[int, int, Seq]] = []
        self._decode_base = 0  # sum over decoding seqs of (prefill_len - entry step)
        self.decode_steps = 0
        self.busy = False
        self._idle_since = 0.0
        self._version = 0
        self._batch: Batch | None = None
        self._stretch: tuple[float, list[float] | np.ndarray, int] | None = None
        self._prefill_stretch: PrefillStretch | None = None
        self._can_stretch_prefill = can_stretch(scheduler)
        self._admit_counter = 0
        self._hits = HitWindow(hit_window_s)
        self.num_iterations = 0
        # the next iteration lasts at least this long (work it overlaps, e.g. a KV copy)
        self.iteration_floor_s = 0.0

    # -- public --------------------------------------------------------------------------
    def add_request(self, request: Request) -> None:
        """Queue a request now; start iterating if idle, or cut a decode stretch short."""
        seq = self._new_seq(request)
        reason = self._reject_reason(seq)
        if reason:
            self.listener.on_fail(self.engine_id, seq, self.loop.now_s, reason)
            return
        self.waiting.append(seq)
        self._waiting_tokens += seq.prefill_len
        if not self.busy:
            self._start_iteration(self.cost.wake_s(self.loop.now_s - self._idle_since))
        elif self._stretch is not None:
            self._interrupt_stretch()

    def _new_seq(self, request: Request) -> Seq:
        return Seq(request)

    def _reject_reason(self, seq: Seq) -> str:
        """Why the engine can never serve `seq` ('' when it can)."""
        if not self.kv.can_ever_fit(seq):
            return f"prompt of {seq.request.prompt_len} tokens exceeds KV capacity"
        return ""

    def stats(self) -> EngineStats:
        """Load and cache statistics, as a router sees them."""
        return EngineStats(
            engine_id=self.engine_id,
            num_running=self.running.num_running,
            num_waiting=len(self.waiting),
            num_waiting_tokens=self._waiting_tokens,
            kv_used_tokens=self.kv.used_tokens - (
                self._prefill_stretch.unstarted_slots(self.loop.now_s)
                if self._prefill_stretch is not None else 0),
            kv_capacity_tokens=self.kv.capacity_tokens,
            window_hit_ratio=self._hits.ratio(self.loop.now_s),
        )

    # -- iterations ----------------------------------------------------------------------
    def _start_iteration(self, wake_s: float = 0.0) -> None:
        now = self.loop.now_s
        running, kv = self.running, self.kv
        if running.num_decode:
            self._make_decode_room(1)
        kv.reserved_tokens = running.num_decode
        batch = self.scheduler.schedule(self.waiting, running, kv)
        kv.reserved_tokens = 0
        for seq in batch.admitted:
            self._waiting_tokens -= seq.prefill_len
            self._on_admit(seq, now)
        num_decode = running.num_decode if batch.with_decode else 0
        if not batch.prefill and num_decode == 0:
            self.busy = False
            self._idle_since = now
            return
        self.busy = True
        self._batch = batch
        self._version += 1
        if num_decode:
            kv.allocate(num_decode)
        prefill = batch.prefill
        if not prefill:
            self._start_stretch(now + wake_s)
            return
        ctx_sum = self._decode_ctx_sum() if num_decode else 0
        if len(prefill) == 1:
            seq, take = prefill[0]
            shape = BatchShape((take,), (seq.num_prefilled,), num_decode, ctx_sum)
        else:
            shape = BatchShape(
                tuple(n for _, n in prefill),
                tuple(s.num_prefilled for s, _ in prefill),
                num_decode,
                ctx_sum,
            )
        end = now + max(self.cost.iteration_s(shape), self.iteration_floor_s) + wake_s
        steps = self._prefill_steps(batch, num_decode)
        if steps > 1:
            end = self._start_prefill_stretch(max(end, now), batch, num_decode, ctx_sum, steps)
        self.loop.schedule(end, PRIO_ENGINE, self._end_iteration, self._version)

    def _prefill_steps(self, batch: Batch, num_decode: int) -> int:
        """Iterations, this one first, that repeat this batch's shape with nothing to decide.

        A chunk that fills the whole budget leaves no room to admit anything, so the next
        iterations give the same sequence another full chunk, as long as its prefill does
        not end before the last of them, no decode finishes before it, and the decodes' new
        slots are free without evicting (so neither eviction nor preemption can happen).
        """
        if not self._can_stretch_prefill or len(batch.prefill) != 1 or self.iteration_floor_s:
            return 1
        seq, take = batch.prefill[0]
        if take != self.scheduler.chunk_size:
            return 1
        steps = seq.remaining_prefill // take
        if self.max_stretch_steps is not None:
            steps = min(steps, self.max_stretch_steps)
        if num_decode:
            steps = min(steps, self._decode_heap[0][0] - self.decode_steps,
                        1 + self.kv.free_tokens // num_decode)
        return steps

    def _start_prefill_stretch(self, end: float, batch: Batch, num_decode: int, ctx_sum: int,
                               steps: int) -> float:
        """Time the stretch, take its decode slots now; return when its last iteration ends."""
        seq, chunk = batch.prefill[0]
        self._prefill_stretch = PrefillStretch.timed(self.cost, end, chunk, seq.num_prefilled,
                                                     num_decode, ctx_sum, steps)
        if num_decode:
            self.kv.allocate((steps - 1) * num_decode)  # free already: no eviction
        return self._prefill_stretch.times[-1]

    def _start_stretch(self, now: float) -> None:
        num_decode = self.running.num_decode
        steps = self._decode_heap[0][0] - self.decode_steps
        if self.max_stretch_steps is not None:
            steps = min(steps, self.max_stretch_steps)
        if self.iteration_floor_s > 0.0:
            steps = 1
        extra = self.kv.reserve((steps - 1) * num_decode) // num_decode
        steps = max(1, min(steps, 1 + extra))
        if steps > 1:
            self.kv.allocate((steps - 1) * num_decode)
        cum = decode_steps_cum_s(self.cost, num_decode, self._decode_ctx_sum(), steps)
        if self.iteration_floor_s > cum[0]:
            cum = [self.iteration_floor_s]
        self._stretch = (now, cum, steps)
        self.loop.schedule(now + float(cum[-1]), PRIO_ENGINE, self._end_iteration, self._version)

    def _interrupt_stretch(self) -> None:
        start, cum, steps = self._stretch  # type: ignore[misc]
        # steps ended by now (cum may run past `steps` after an earlier interruption)
        done = bisect_right(cum, self.loop.now_s - start, 0, steps)
        keep = min(done + 1, steps)
        if keep == steps:
            return
        self.kv.held_tokens -= (steps - keep) * self.running.num_decode
        self._version += 1
        self._stretch = (start, cum, keep)
        self.loop.schedule(start + float(cum[keep - 1]), PRIO_ENGINE, self._end_iteration,
                           self._version)

    def _end_iteration(self, version: int) -> None:
        if version != self._version:
            return
        now = self.loop.now_s
        batch = self._batch
        assert batch is not None
        if self._stretch is not None:
            self.num_iterations += self._stretch[2]
            self.decode_steps += self._stretch[2]
            self._stretch = None
        else:
            if self._prefill_stretch is not None:
                self._end_prefill_stretch(batch)
            self.num_iterations += 1
            if batch.with_decode and self.running.num_decode:
                self.decode_steps += 1
            self._advance_prefills(batch, now)
        self._batch = None
        self._finish_decodes(now)
        self._start_iteration()

    def _end_prefill_stretch(self, batch: Batch) -> None:
        """Account all but the last iteration of a prefill stretch (the caller ends that)."""
        stretch = self._prefill_stretch
        assert stretch is not None
        self._prefill_stretch = None
        extra = stretch.num_extra
        self.num_iterations += extra
        if stretch.num_decode:
            self.decode_steps += extra
        seq, chunk = batch.prefill[0]
        seq.num_prefilled += extra * chunk

    # -- sequence transitions ------------------------------------------------------------
    def _on_admit(self, seq: Seq, now: float) -> None:
        seq.status = SeqStatus.RUNNING
        self._admit_counter += 1
        seq.admit_seq = self._admit_counter
        self.running.prefilling.append(seq)
        if seq.first_cached_tokens < 0:
            seq.first_cached_tokens = seq.num_cached_tokens
            self._hits.record(now, seq.num_cached_tokens, seq.request.prompt_len)

    def _advance_prefills(self, batch: Batch, now: float) -> None:
        done = []
        for seq, take in batch.prefill:
            seq.num_prefilled += take
            if not seq.in_prefill:
                done.append(seq)
        if not done:
            return
        ids = {id(s) for s in done}
        self.running.prefilling = [s for s in self.running.prefilling if id(s) not in ids]
        for seq in done:
            self.kv.finish_prefill(seq)
            seq.num_generated += 1  # a prefill (or a recompute) yields the next token
            if seq.num_generated == 1:
                seq.first_token_s = now
                self.listener.on_first_token(self.engine_id, seq, now)
            self._enter_decode(seq)

    def _enter_decode(self, seq: Seq) -> None:
        remaining = seq.target_output_len - seq.num_generated
        seq.decode_entry = self.decode_steps
        seq.gen_entry = seq.num_generated
        seq.finish_step = self.decode_steps + remaining
        heapq.heappush(self._decode_heap, (seq.finish_step, seq.admit_seq, seq))
        self.running.num_decode += 1
        self._decode_base += self._ctx_offset(seq)

    def _leave_decode(self, seq: Seq) -> int:
        """Remove from the decode set; return the output slots it took while decoding."""
        self.running.num_decode -= 1
        self._decode_base -= self._ctx_offset(seq)
        steps = self.decode_steps - seq.decode_entry
        seq.num_generated = seq.gen_entry + steps
        return steps

    @staticmethod
    def _ctx_offset(seq: Seq) -> int:
        # context at a decode step = prompt + generated - 1 = offset + engine decode_steps
        return seq.request.prompt_len + seq.gen_entry - 1 - seq.decode_entry

    def _finish_decodes(self, now: float) -> None:
        heap = self._decode_heap
        while heap and heap[0][0] <= self.decode_steps:
            step, _, seq = heapq.heappop(heap)
            if not self._is_live(step, seq):
                continue
            self._end_phase(seq, now)

    def _end_phase(self, seq: Seq, now: float) -> None:
        """A sequence produced the tokens it was decoding towards: it finishes."""
        self.kv.release(seq, self._leave_decode(seq))
        seq.status = SeqStatus.FINISHED
        self.listener.on_finish(self.engine_id, seq, now)

    @staticmethod
    def _is_live(finish_step: int, seq: Seq) -> bool:
        # a preempted sequence leaves a stale heap entry behind (lazy deletion)
        return seq.status is SeqStatus.RUNNING and seq.finish_step == finish_step and not seq.in_prefill

    def _decode_ctx_sum(self) -> int:
        return self._decode_base + self.running.num_decode * self.decode_steps

    def _make_decode_room(self, steps: int) -> None:
        need = self.running.num_decode * steps
        while self.running.num_decode and not self._room_for(need):
            decoding = [s for f, _, s in self._decode_heap if self._is_live(f, s)]
            self._preempt(self.scheduler.select_victim(decoding))
            need = self.running.num_decode * steps

    def _room_for(self, need: int) -> bool:
        kv = self.kv
        return kv.free_tokens + kv.cache.evictable_size * kv.tokens_per_key >= need

    def _preempt(self, seq: Seq) -> None:
        """Preempt by recompute: drop its KV, requeue it with its output to recompute."""
        self.kv.release(seq, self._leave_decode(seq))
        seq.status = SeqStatus.WAITING
        seq.num_preemptions += 1
        seq.recompute_tokens = seq.num_generated
        seq.num_prefilled = 0
        seq.match_epoch = -1
        self.waiting.insert(0, seq)
        self._waiting_tokens += seq.prefill_len

    def check_invariants(self) -> None:
        """Assert KV accounting and cache integrity (tests call this between events)."""
        kv = self.kv
        assert kv.held_tokens >= 0, kv.held_tokens
        assert kv.used_tokens <= kv.capacity_tokens, (kv.used_tokens, kv.capacity_tokens)
        kv.cache.check_integrity()
        if not self.busy:
            assert not self.running.prefilling and self.running.num_decode == 0
