"""A simulated engine whose requests pause for tool calls (InferCept).

A request decodes a segment's tokens, then pauses; the engine's `PausePolicy` decides what
happens to its KV cache — preserve, discard or swap — at the pause and, for policies that
review, again every iteration. When the tool returns, its tokens join the context: a
preserved request prefills them (with its last generated token) right away; a swapped one
is copied back first; a discarded one queues to recompute its whole context (at its first
arrival time, or at the tail as vLLM does). Swaps either stall the iteration that makes
them or, budgeted, hide behind compute within the policy's per-iteration budget.

The copy bookkeeping lives in `SwapMixin` (toolkit/sim/pause_swap.py); `WasteMeter`
integrates the memory each choice wastes.
"""

from __future__ import annotations

import math
from typing import Any

from toolkit.core.context_limit import fit_context
from toolkit.core.request import Request
from toolkit.sched.pause.base import PauseAction, PausePolicy, PauseTiming, PauseView
from toolkit.sched.seq import Seq, SeqStatus
from toolkit.sim.engine import SimEngine
from toolkit.sim.loop import PRIO_ARRIVAL
from toolkit.sim.pause_seq import KVPlace, PauseSeq
from toolkit.sim.pause_swap import SwapMixin
from toolkit.sim.waste_meter import WasteMeter


class PauseSimEngine(SwapMixin, SimEngine):
    """`SimEngine` plus pauses: policy decisions, resumes, swaps, timeouts, waste."""

    def __init__(self, *args: Any, policy: PausePolicy, timing: PauseTiming,
                 swap_space_tokens: int = 0, pause_timeout_s: float = math.inf,
                 known_duration: bool = True, max_context_len: int | None = None,
                 charge_copies: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.timing = timing
        self.swap_space_tokens = swap_space_tokens
        self.pause_timeout_s = pause_timeout_s
        self.known_duration = known_duration
        self.max_context_len = max_context_len
        self.charge_copies = charge_copies
        self.preserved: dict[str, PauseSeq] = {}
        self.resumed: list[PauseSeq] = []
        self.paused_gpu_tokens = 0
        self.meter = WasteMeter()
        self.pause_rows: list[tuple] = []
        self._base_stretch = self.max_stretch_steps
        self._base_can_stretch_prefill = self._can_stretch_prefill
        self._row_of: dict[str, int] = {}
        self._iter_start = 0.0
        self._snapshot: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)
        self._last_query_tokens = 1
        self._init_swap()

    # -- admission -----------------------------------------------------------------------
    def _new_seq(self, request: Request) -> Seq:
        """The request as it runs under the model's context limit (`fit_context`)."""
        if self.max_context_len is None:
            return PauseSeq(request)
        fitted, cut = fit_context(request, self.max_context_len)
        seq = PauseSeq(request if fitted is None else fitted)
        seq.context_truncated = cut
        return seq

    def _reject_reason(self, seq: Seq) -> str:
        assert isinstance(seq, PauseSeq)
        final = seq.final_context_tokens
        if self.max_context_len is not None and seq.request.prompt_len >= self.max_context_len:
            return (f"request {seq.id}: its prompt of {seq.request.prompt_len} tokens leaves no "
                    f"room in the model's context of {self.max_context_len}")
        if final > self.kv.capacity_tokens:
            return (f"request {seq.id}: its final context of {final} tokens exceeds the KV "
                    f"capacity of {self.kv.capacity_tokens}")
        return super()._reject_reason(seq)

    @staticmethod
    def _ctx_offset(seq: Seq) -> int:
        extra = seq.extra_tokens  # type: ignore[attr-defined]
        return seq.request.prompt_len + extra + seq.gen_entry - 1 - seq.decode_entry

    # -- pausing -------------------------------------------------------------------------
    def _end_phase(self, seq: Seq, now: float) -> None:
        assert isinstance(seq, PauseSeq)
        if seq.seg_idx >= seq.num_segments:
            super()._end_phase(seq, now)
            return
        seq.held_tokens += self._leave_decode(seq)  # its decode slots stay its own
        seq.status = SeqStatus.PAUSED
        seq.seg_idx += 1
        seq.num_pauses += 1
        seq.call_start_s = now
        seq.place = KVPlace.GPU
        action = self.policy.on_pause(seq.info(self.known_duration), self._view(now))
        seq.first_action = action
        self._apply(seq, action, now)
        seq.event_version += 1
        pause_s = seq.request.segments[seq.seg_idx - 1].pause_s  # type: ignore[index]
        if pause_s > self.pause_timeout_s:
            self.loop.schedule(now + self.pause_timeout_s, PRIO_ARRIVAL, self._tool_timeout,
                               seq, seq.event_version)
        else:
            self.loop.schedule(now + pause_s, PRIO_ARRIVAL, self._tool_return, seq,
                               seq.event_version)

    def _apply(self, seq: PauseSeq, action: PauseAction, now: float) -> None:
        """Carry out `action` for a paused sequence whose context is on the GPU."""
        seq.action = action
        seq.decided_s = now
        if action is PauseAction.PRESERVE:
            self.preserved[seq.id] = seq
            self.paused_gpu_tokens += seq.context_tokens
        elif action is PauseAction.SWAP and self._start_swap_out(seq):
            return
        else:
            seq.action = PauseAction.DISCARD
            self.kv.release(seq, 0)
            seq.place = KVPlace.DROPPED

    def _view(self, now: float, budget: int = 0) -> PauseView:
        kv = self.kv
        return PauseView(
            now_s=now, running_context_tokens=kv.used_tokens - self.paused_gpu_tokens,
            num_running_decode=self.running.num_decode,
            batch_query_tokens=self._last_query_tokens, free_gpu_tokens=kv.free_tokens,
            free_cpu_tokens=self.swap_space_tokens - self.host_tokens, timing=self.timing,
            swap_budget_tokens=budget,
        )

    def _review(self, now: float, budget: int | None) -> None:
        if not self.preserved or not self.policy.reviews:
            return
        infos = [s.info(self.known_duration) for s in self.preserved.values()]
        decisions = self.policy.review(infos, self._view(now, budget or 0))
        for rid, action in decisions.items():
            if action is PauseAction.PRESERVE:
                continue
            seq = self.preserved.pop(rid)
            self.paused_gpu_tokens -= seq.context_tokens
            self._apply(seq, action, now)

    # -- resuming ------------------------------------------------------------------------
    def _tool_return(self, seq: PauseSeq, version: int) -> None:
        if version != seq.event_version:
            return
        now = self.loop.now_s
        ctx_old = seq.context_tokens
        place = self._end_pause(seq, ctx_old)
        self._log_pause(seq, now)  # after a cancelled copy out has reset the action
        seq.extra_tokens += seq.request.segments[seq.seg_idx - 1].return_len  # type: ignore[index]
        seq.recompute_tokens = seq.extra_tokens + seq.num_generated
        seq.status = SeqStatus.WAITING
        if place is KVPlace.HOST:
            self._queue_swap_in(seq, ctx_old)
        elif place is KVPlace.DROPPED:
            self._requeue(seq, ctx_old, now)
        else:
            seq.place = KVPlace.GPU
            seq.num_prefilled = ctx_old
            self.resumed.append(seq)
        self._wake()

    def _end_pause(self, seq: PauseSeq, ctx: int) -> KVPlace:
        """Take a sequence off the paused lists (a copy out under way stops, its context still
        on the GPU); return where its context was when the pause ended."""
        place = seq.place
        if place is KVPlace.GPU:
            del self.preserved[seq.id]
            self.paused_gpu_tokens -= ctx
        elif place is KVPlace.SWAPPING_OUT:
            self._cancel_swap_out(seq, ctx)
        return place

    def _requeue(self, seq: PauseSeq, ctx_old: int, now: float) -> None:
        """A discarded sequence waits to recompute its whole context."""
        seq.num_prefilled = 0
        seq.match_epoch = -1
        seq.recompute_until = ctx_old
        seq.arrival_s = seq.request.arrival_s if self.policy.keep_arrival_order else now
        self.waiting.append(seq)
        self._waiting_tokens += seq.prefill_len

    def _rejoin_resumed(self, now: float) -> None:
        """Preserved sequences back from their tools take slots for the returned tokens and
        prefill them; without room they are discarded and recompute later."""
        for seq in self.resumed:
            need = seq.prefill_len - seq.num_prefilled
            if self.kv.allocate(need):
                seq.held_tokens += need
                self._on_admit(seq, now)
            else:
                ctx = seq.num_prefilled
                self.kv.release(seq, 0)
                seq.place = KVPlace.DROPPED
                seq.num_preemptions += 1
                self._relabel_pause(seq, PauseAction.DISCARD)
                self._requeue(seq, ctx, now)
        self.resumed.clear()

    def _tool_timeout(self, seq: PauseSeq, version: int) -> None:
        if version != seq.event_version:
            return
        now = self.loop.now_s
        ctx = seq.context_tokens
        place = self._end_pause(seq, ctx)
        self._log_pause(seq, now)  # after a cancelled copy out has reset the action
        if place is KVPlace.HOST:
            self.host_tokens -= ctx
        elif seq.place is KVPlace.GPU:
            self.kv.release(seq, 0)
        seq.status = SeqStatus.FINISHED
        self.listener.on_fail(self.engine_id, seq, now,
                              f"request {seq.id}: tool call {seq.seg_idx} did not return within "
                              f"pause_timeout_s={self.pause_timeout_s}")

    def _relabel_pause(self, seq: PauseSeq, action: PauseAction) -> None:
        """Its last pause ended otherwise than logged (no room to rejoin: recomputed)."""
        i = self._row_of[seq.id]
        self.pause_rows[i] = (*self.pause_rows[i][:2], action.value, *self.pause_rows[i][3:])

    def _log_pause(self, seq: PauseSeq, now: float) -> None:
        self._row_of[seq.id] = len(self.pause_rows)
        self.pause_rows.append((
            seq.id, seq.seg_idx - 1, seq.action.value, seq.first_action.value,
            now - seq.call_start_s, seq.decided_s - seq.call_start_s, seq.context_tokens,
            self.engine_id,
        ))

    def _wake(self) -> None:
        if not self.busy:
            self._start_iteration(self.cost.wake_s(self.loop.now_s - self._idle_since))
        elif self._stretch is not None:
            self._interrupt_stretch()

    # -- iterations ----------------------------------------------------------------------
    def _preempt(self, seq: Seq) -> None:
        super()._preempt(seq)
        extra = seq.extra_tokens  # type: ignore[attr-defined]
        seq.recompute_tokens += extra
        self._waiting_tokens += extra
        seq.recompute_until = seq.prefill_len - 1  # type: ignore[attr-defined]

    def _start_iteration(self, wake_s: float = 0.0) -> None:
        now = self.loop.now_s
        self._finish_copies(now)
        self._rejoin_resumed(now)
        budget = self._swap_budget(now)
        budgeted = budget is not None
        self._admit_swap_ins(now, budgeted)
        self._review(now, self._left_after_swap_ins(budget))
        if self.swap_in:  # the review may have freed GPU memory for them
            self._admit_swap_ins(now, budgeted)
        copy_s = self._progress_copies(budget)
        self.iteration_floor_s = copy_s if self.charge_copies else 0.0
        needs_steps = (self.preserved and self.policy.reviews) or self.copying
        self.max_stretch_steps = 1 if needs_steps else self._base_stretch
        # a prefill stretch would hold back copies of contexts that return meanwhile
        self._can_stretch_prefill = self._base_can_stretch_prefill and not (
            self.host_tokens or self.swap_in)
        stall = self.take_stall()
        self._iter_start = now
        super()._start_iteration(wake_s + stall)
        if self.busy:
            self._snapshot_iteration(stall)
        elif self.copying:
            self._copy_tick(now)

    def _snapshot_iteration(self, stall: float) -> None:
        batch = self._batch
        assert batch is not None
        num_decode = self.running.num_decode if batch.with_decode else 0
        query = batch.num_prefill_tokens + num_decode
        recompute = sum(max(0, min(s.num_prefilled + n, s.recompute_until) - s.num_prefilled)
                        for s, n in batch.prefill)
        self._last_query_tokens = max(query, 1)
        running = self.kv.used_tokens - self.paused_gpu_tokens
        self._snapshot = (self.paused_gpu_tokens, running, recompute / max(query, 1), stall)

    def _end_iteration(self, version: int) -> None:
        if version == self._version:
            paused, running, frac, stall = self._snapshot
            self.meter.add(self.loop.now_s - self._iter_start, self.kv.capacity_tokens,
                           paused, running, frac, stall)
        super()._end_iteration(version)

    def check_invariants(self) -> None:
        super().check_invariants()
        assert 0 <= self.host_tokens <= max(self.swap_space_tokens, 0), self.host_tokens
        on_gpu = sum(s.context_tokens for s in self.preserved.values())
        on_gpu += sum(s.context_tokens for s in self.swap_out)
        assert on_gpu == self.paused_gpu_tokens, (on_gpu, self.paused_gpu_tokens)
