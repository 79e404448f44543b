"""Host-memory swap of paused contexts in a simulated engine.

Unbudgeted (InferCept's Swap baseline): a copy stalls the iteration that makes it for the
copy's whole time. Budgeted (InferCept): each iteration moves at most the policy's budget of
tokens, in and out together, overlapped with that iteration's compute (per-layer
pipelining); the iteration lasts as long as the longer of its compute and its copies (the
part of a copy that outlasts the compute is charged; the per-layer copy latencies are in the
swap model's time; `charge_copies=False` makes overlapped copies free, as this simulator
used to). In and out run at the same time (a PCIe link is full duplex), so the copy time is
that of the larger direction. A context leaves the GPU, or rejoins the batch, at the end of
the iteration that copies its last token. Swap-ins go first, in order of first arrival; an
idle engine copies at once.
"""

from __future__ import annotations

from toolkit.sched.pause.base import PauseAction
from toolkit.sim.loop import PRIO_ENGINE
from toolkit.sim.pause_seq import KVPlace, PauseSeq


class SwapMixin:
    """Copy queues and host-memory accounting for `PauseSimEngine`."""

    def _init_swap(self) -> None:
        self.host_tokens = 0
        self.swap_out: list[PauseSeq] = []
        self.swap_in: list[PauseSeq] = []
        self.swap_in_active: list[PauseSeq] = []
        self._stall_s = 0.0

    @property
    def copying(self) -> bool:
        return bool(self.swap_out or self.swap_in_active)

    def take_stall(self) -> float:
        stall, self._stall_s = self._stall_s, 0.0
        return stall

    def _start_swap_out(self, seq: PauseSeq) -> bool:
        """Begin copying a paused context out; False when host memory cannot take it."""
        ctx = seq.context_tokens
        if ctx > self.swap_space_tokens - self.host_tokens:
            return False
        self.host_tokens += ctx
        if self.policy.budgeted_swap:
            seq.place = KVPlace.SWAPPING_OUT
            seq.swap_left = ctx
            self.swap_out.append(seq)
            self.paused_gpu_tokens += ctx
        else:
            self._stall_s += self.timing.swap_s(ctx)
            self.kv.release(seq, 0)
            seq.place = KVPlace.HOST
        return True

    def _cancel_swap_out(self, seq: PauseSeq, ctx: int) -> None:
        """The tool returned before the copy out finished: the context is still on the GPU."""
        self.swap_out.remove(seq)
        self.host_tokens -= ctx
        self.paused_gpu_tokens -= ctx
        seq.place = KVPlace.GPU
        seq.action = PauseAction.PRESERVE  # its context never left the GPU

    def _queue_swap_in(self, seq: PauseSeq, ctx_old: int) -> None:
        seq.swap_left = ctx_old
        self.swap_in.append(seq)
        self.swap_in.sort(key=lambda s: (s.request.arrival_s, s.id))

    def _swap_budget(self, now: float) -> int | None:
        if not self.policy.budgeted_swap:
            return None
        budget = self.policy.swap_budget_tokens(self._view(now))
        return None if budget is None else max(0, int(budget))

    def _admit_swap_ins(self, now: float, budgeted: bool) -> None:
        """Take GPU slots for returned swapped contexts, first arrival first, while they fit.
        Unbudgeted, each copy stalls this iteration and the context lands at once."""
        while self.swap_in:
            seq = self.swap_in[0]
            ctx_old = seq.swap_left
            if not self.kv.admit(seq):
                break
            self.swap_in.pop(0)
            seq.num_prefilled = ctx_old
            if budgeted:
                self.swap_in_active.append(seq)
            else:
                self._stall_s += self.timing.swap_s(ctx_old)
                self._land(seq, now)

    def _left_after_swap_ins(self, budget: int | None) -> int | None:
        """The budget swap-outs get: swap-ins copy first."""
        if budget is None:
            return None
        return max(0, budget - sum(s.swap_left for s in self.swap_in_active))

    def _progress_copies(self, budget: int | None) -> float:
        """Spend this iteration's budget on swap-ins, then swap-outs; return the seconds the
        copies take (the larger direction)."""
        if budget is None:
            return 0.0
        left_in = self._spend(self.swap_in_active, budget)
        left_out = self._spend(self.swap_out, left_in)
        moved_in, moved_out = budget - left_in, left_in - left_out
        if not (moved_in or moved_out):
            return 0.0
        return max(self.timing.swap_s(moved_in) if moved_in else 0.0,
                   self.timing.swap_s(moved_out) if moved_out else 0.0)

    @staticmethod
    def _spend(seqs: list[PauseSeq], budget: int) -> int:
        for seq in seqs:
            take = min(seq.swap_left, budget)
            seq.swap_left -= take
            budget -= take
        return budget

    def _land(self, seq: PauseSeq, now: float) -> None:
        """A context is back on the GPU: free its host copy, prefill its returned tokens."""
        self.host_tokens -= seq.num_prefilled
        seq.place = KVPlace.GPU
        seq.swap_left = 0
        self._on_admit(seq, now)

    def _finish_copies(self, now: float) -> None:
        """Contexts whose last token was copied during the iteration that just ended."""
        if self.swap_out:
            for seq in [s for s in self.swap_out if s.swap_left == 0]:
                self.swap_out.remove(seq)
                self.paused_gpu_tokens -= seq.context_tokens
                self.kv.release(seq, 0)
                seq.place = KVPlace.HOST
        if self.swap_in_active:
            for seq in [s for s in self.swap_in_active if s.swap_left == 0]:
                self.swap_in_active.remove(seq)
                self._land(seq, now)

    def _copy_tick(self, now: float) -> None:
        """Nothing to compute but copies under way: finish them all in one stretch."""
        pending = sum(s.swap_left for s in self.swap_out) + sum(s.swap_left for s in self.swap_in_active)
        self.busy = True
        self._version += 1
        self._iter_start = now
        self._snapshot = (self.paused_gpu_tokens, self.kv.used_tokens - self.paused_gpu_tokens,
                          0.0, self.timing.swap_s(pending))
        self.loop.schedule(now + self.timing.swap_s(pending), PRIO_ENGINE, self._end_copy_tick,
                           self._version)

    def _end_copy_tick(self, version: int) -> None:
        if version != self._version:
            return
        paused, running, _, stall = self._snapshot
        self.meter.add(self.loop.now_s - self._iter_start, self.kv.capacity_tokens, paused,
                       running, 0.0, stall)
        for seq in self.swap_out + self.swap_in_active:
            seq.swap_left = 0
        self._start_iteration()
