"""A simulated engine: the real scheduler and cache objects, with time from a cost model.

Continuous batching with chunked prefill (or prefill-first batches), KV admission, LRU
eviction and preemption by recompute. When an iteration is decode-only, the engine runs a
whole stretch of decode steps as one event — up to the next request completion or the
KV-slot limit — and cuts the stretch short at the next step boundary if a request arrives.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Protocol

import numpy as np

from toolkit.core.request import Request
from toolkit.cost.base import BatchShape, CostModel
from toolkit.route.base import EngineStats
from toolkit.sched.base import Batch, LocalScheduler, RunningState
from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq, SeqStatus
from toolkit.sim.loop import PRIO_ENGINE, EventLoop


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
        self.running = RunningState()
        self._decode_heap: list[tuple[int, int, Seq]] = []
        self._decode_base = 0  # sum over decoding seqs of (prefill_len - entry step)
        self.decode_steps = 0
        self.busy = False
        self._version = 0
        self._batch: Batch | None = None
        self._stretch: tuple[float, np.ndarray, int] | None = None
        self._admit_counter = 0
        self._hits: deque[tuple[float, int, int]] = deque()
        self._hit_sums = [0, 0]
        self.num_iterations = 0

    # -- public --------------------------------------------------------------------------
    def add_request(self, request: Request) -> None:
        """Queue a request now; start iterating if idle, or cut a decode stretch short."""
        seq = Seq(request)
        if not self.kv.can_ever_fit(seq):
            self.listener.on_fail(self.engine_id, seq, self.loop.now_s,
                                  f"prompt of {request.prompt_len} tokens exceeds KV capacity")
            return
        self.waiting.append(seq)
        if not self.busy:
            self._start_iteration()
        elif self._stretch is not None:
            self._interrupt_stretch()

    def stats(self) -> EngineStats:
        """Load and cache statistics, as a router sees them."""
        self._expire_hits(self.loop.now_s)
        cached, prompt = self._hit_sums
        return EngineStats(
            engine_id=self.engine_id,
            num_running=self.running.num_running,
            num_waiting=len(self.waiting),
            num_waiting_tokens=sum(s.remaining_prefill for s in self.waiting),
            kv_used_tokens=self.kv.used_tokens,
            kv_capacity_tokens=self.kv.capacity_tokens,
            window_hit_ratio=cached / prompt if prompt else 0.0,
        )

    # -- iterations ----------------------------------------------------------------------
    def _start_iteration(self) -> None:
        now = self.loop.now_s
        self._make_decode_room(1)
        self.kv.reserved_tokens = self.running.num_decode
        batch = self.scheduler.schedule(self.waiting, self.running, self.kv)
        self.kv.reserved_tokens = 0
        for seq in batch.admitted:
            self._on_admit(seq, now)
        num_decode = self.running.num_decode if batch.with_decode else 0
        if not batch.prefill and num_decode == 0:
            self.busy = False
            return
        self.busy = True
        self._batch = batch
        self._version += 1
        if num_decode:
            self.kv.allocate(num_decode)
        if not batch.prefill:
            self._start_stretch(now)
            return
        shape = BatchShape(
            tuple(n for _, n in batch.prefill),
            tuple(s.num_prefilled for s, _ in batch.prefill),
            num_decode,
            self._decode_ctx_sum() if num_decode else 0,
        )
        self.loop.schedule(now + self.cost.iteration_s(shape), PRIO_ENGINE,
                           self._end_iteration, self._version)

    def _start_stretch(self, now: float) -> None:
        num_decode = self.running.num_decode
        steps = self._decode_heap[0][0] - self.decode_steps
        if self.max_stretch_steps is not None:
            steps = min(steps, self.max_stretch_steps)
        extra = self.kv.reserve((steps - 1) * num_decode) // num_decode
        steps = max(1, min(steps, 1 + extra))
        if steps > 1:
            self.kv.allocate((steps - 1) * num_decode)
        durations = self.cost.decode_steps_s(num_decode, self._decode_ctx_sum(), steps)
        cum = np.cumsum(durations)
        self._stretch = (now, cum, steps)
        self.loop.schedule(now + float(cum[-1]), PRIO_ENGINE, self._end_iteration, self._version)

    def _interrupt_stretch(self) -> None:
        start, cum, steps = self._stretch  # type: ignore[misc]
        done = int(np.searchsorted(cum, self.loop.now_s - start, side="right"))
        keep = min(done + 1, steps)
        if keep == steps:
            return
        self.kv.held_tokens -= (steps - keep) * self.running.num_decode
        self._version += 1
        self._stretch = (start, cum[:keep], keep)
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
            self.num_iterations += 1
            if batch.with_decode and self.running.num_decode:
                self.decode_steps += 1
            self._advance_prefills(batch, now)
        self._batch = None
        self._finish_decodes(now)
        self._start_iteration()

    # -- sequence transitions ------------------------------------------------------------
    def _on_admit(self, seq: Seq, now: float) -> None:
        seq.status = SeqStatus.RUNNING
        self._admit_counter += 1
        seq.admit_seq = self._admit_counter
        self.running.prefilling.append(seq)
        if seq.first_cached_tokens < 0:
            seq.first_cached_tokens = seq.num_cached_tokens
            self._record_hit(now, seq.num_cached_tokens, seq.request.prompt_len)

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

    def check_invariants(self) -> None:
        """Assert KV accounting and cache integrity (tests call this between events)."""
        kv = self.kv
        assert kv.held_tokens >= 0, kv.held_tokens
        assert kv.used_tokens <= kv.capacity_tokens, (kv.used_tokens, kv.capacity_tokens)
        kv.cache.check_integrity()
        if not self.busy:
            assert not self.running.prefilling and self.running.num_decode == 0

    # -- windowed hit ratio --------------------------------------------------------------
    def _record_hit(self, now: float, cached: int, prompt: int) -> None:
        self._hits.append((now, cached, prompt))
        self._hit_sums[0] += cached
        self._hit_sums[1] += prompt

    def _expire_hits(self, now: float) -> None:
        while self._hits and self._hits[0][0] < now - self.hit_window_s:
            _, c, p = self._hits.popleft()
            self._hit_sums[0] -= c
            self._hit_sums[1] -= p
