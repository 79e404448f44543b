"""Pause/resume bookkeeping of the real engine (InferCept): what happens to a paused
request's KV cache, per the engine's `PausePolicy`.

A request pauses when it has generated a segment's tokens (`pause_after`). The policy's
`on_pause` picks PRESERVE (its blocks stay allocated, it is not scheduled), DISCARD (its
blocks are freed; on resume its whole context is recomputed — through the prefix cache
where its prompt blocks are still cached) or SWAP (its blocks are copied to host memory and
freed; on resume it gets new blocks at admission and the copy is scattered back). SWAP falls
back to DISCARD when the host space cannot hold the request. A policy with `budgeted_swap`
(InferCept) copies a budget per step instead, overlapped with the forward pass
(`toolkit.engine.swap_queue`); a tool that returns before its context has left the GPU
cancels the copy and the pause counts as preserved. Every step the policy may
`review` the paused requests still on the GPU and move them to host memory or drop them.
A pause longer than `timeout_s` fails the request. Each pause ends in a log entry.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any

import torch

from toolkit.core.policy import resolve_policy
from toolkit.core.record import PAUSE_COLUMNS
from toolkit.engine.host_kv import EnginePauseTiming, HostSwapSpace, SwappedKV, timed
from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.scheduler import EngineScheduler
from toolkit.engine.sequence import EngineSeq
from toolkit.engine.swap_queue import BlockCopy, SwapQueue
from toolkit.sched.pause import (
    PauseAction,
    PausedInfo,
    PausePolicy,
    PauseView,
    PreservePausePolicy,
)

PAUSE_LOG_COLUMNS = (*PAUSE_COLUMNS, "start_s", "swap_fallback", "swap_out_s", "outcome")
"""The keys of every pause-log entry (see `PauseManager.take_log`); the first eight are the
simulator's pause columns."""


def make_pause_policy(spec: Any) -> PausePolicy:
    """The pause policy `spec` is (a `PausePolicy`) or describes (its config node: a mapping
    with `_target_` and settings, see `toolkit.core.policy`); None: preserve."""
    return resolve_policy(spec, PausePolicy, "pause_policy", PreservePausePolicy)


def check_pause_after(pause_after: Any) -> tuple[int, ...]:
    """`pause_after` as a tuple; raise ValueError unless it lists positive token counts."""
    out = tuple(pause_after)
    if any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in out):
        raise ValueError(f"pause_after must list positive token counts, got {list(out)}")
    return tuple(int(n) for n in out)


class ResumeError(ValueError):
    """A resume the engine refuses; `reason` is 'unknown' (no such live request),
    'not_paused' (it is running) or 'invalid' (the tool's tokens do not fit)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class _Pause:
    """One paused request: where its KV is (`state`) and how it got there."""

    seq: EngineSeq
    start_s: float
    context_tokens: int
    action: PauseAction
    state: PauseAction
    decided_s: float = 0.0
    swap_fallback: bool = False
    swap_out_s: float = 0.0
    copy: BlockCopy | None = None  # a budgeted copy out under way (KV still on the GPU)


class PauseManager:
    """The paused requests of one engine, their KV actions, swap space and pause log."""

    def __init__(self, policy: PausePolicy, timing: EnginePauseTiming, swap: HostSwapSpace,
                 scheduler: EngineScheduler, kv_cache: torch.Tensor,
                 timeout_s: float | None = None, prefix_caching: bool = True,
                 engine_id: int = 0) -> None:
        self.policy = policy
        self.timing = timing
        self.swap = swap
        self.scheduler = scheduler
        self.kv: PagedKVManager = scheduler.kv
        self.kv_cache = kv_cache
        self.timeout_s = timeout_s
        self.prefix_caching = prefix_caching
        self.engine_id = engine_id
        self.paused: dict[str, _Pause] = {}
        self.last_query_tokens = 0
        self._log: list[dict[str, Any]] = []
        self.queue = SwapQueue(swap, self.kv, kv_cache, timing)

    # -- pausing -------------------------------------------------------------------------
    def pause(self, seq: EngineSeq, now: float) -> PauseAction:
        """Take a sequence the scheduler just parked; apply the policy's first action."""
        entry = _Pause(seq, now, seq.num_tokens - 1, PauseAction.PRESERVE, PauseAction.PRESERVE,
                       now)
        self.paused[seq.id] = entry
        action = self.policy.on_pause(self._info(entry), self.view(now))
        entry.action = self._apply(entry, action, now)
        return entry.action

    def review(self, now: float) -> None:
        """Ask the policy about the paused requests still on the GPU; apply its changes."""
        if not self.policy.reviews:
            return
        kept = [e for e in self.paused.values()
                if e.state is PauseAction.PRESERVE and e.copy is None]
        if not kept:
            return
        view = self.view(now)
        budget = self.policy.swap_budget_tokens(view)
        free = self.swap.free_tokens
        view = replace(view, swap_budget_tokens=free if budget is None else min(budget, free))
        for rid, action in self.policy.review([self._info(e) for e in kept], view).items():
            entry = self.paused.get(rid)
            if entry is not None and entry.state is PauseAction.PRESERVE:
                self._apply(entry, action, now)

    def _apply(self, entry: _Pause, action: PauseAction, now: float) -> PauseAction:
        """Move the KV where `action` says (SWAP falls back to DISCARD when the host space
        is full); return the action taken."""
        seq = entry.seq
        if action is PauseAction.SWAP and self.policy.budgeted_swap:
            num = self.kv.blocks_for(entry.context_tokens)
            entry.copy = self.queue.start_out(seq, num, entry.context_tokens)
            if entry.copy is not None:
                entry.decided_s = now
                return action  # its blocks go when the copy completes (`copy_step`)
            entry.swap_fallback = True
            action = PauseAction.DISCARD
        elif action is PauseAction.SWAP:
            blocks = seq.block_table[:self.kv.blocks_for(entry.context_tokens)]
            if not self.swap.can_hold(len(blocks)):
                entry.swap_fallback = True
                action = PauseAction.DISCARD
            else:
                seq.swapped, secs = timed(self.swap.swap_out, self.kv_cache, blocks,
                                          entry.context_tokens)
                entry.swap_out_s += secs
                self.timing.observe_swap(entry.context_tokens, secs)
        if action is not PauseAction.PRESERVE:
            self.kv.release(seq)
            entry.decided_s = now
        entry.state = action
        return action

    def copy_step(self, now: float) -> None:
        """Move this step's budget of budgeted copies (all of them when the scheduler has
        nothing to compute); free the blocks of contexts now in host memory, requeue those
        copied back."""
        if not (self.queue.outs or self.queue.ins):
            return
        budget = self.policy.swap_budget_tokens(self.view(now))
        done_out, done_in = self.queue.step(budget, idle=not self.scheduler.has_unfinished())
        for copy in done_out:
            entry = self.paused[copy.seq.id]
            entry.copy = None
            copy.seq.swapped = copy.host
            self.kv.release(copy.seq)
            entry.state = PauseAction.SWAP
        for seq in done_in:
            self.swap.free(seq.swapped)  # type: ignore[arg-type]
            seq.swapped = None
            self.scheduler.requeue(seq)

    def has_copies_in(self) -> bool:
        """Whether resumed sequences wait for their KV to be copied back."""
        return bool(self.queue.ins)

    # -- leaving the pause ---------------------------------------------------------------
    def resume(self, seq: EngineSeq, tool_token_ids: list[int], now: float) -> PauseAction:
        """Append the tool's tokens, start the next segment and requeue the sequence; return
        where its KV was (DISCARD: it is recomputed and, without `keep_arrival_order`, joins
        the queue's tail; SWAP under a budget: it rejoins once copied back)."""
        entry = self.paused.pop(seq.id)
        self._stop_copy(entry)
        self._end(entry, now, "resumed")
        seq.continue_with(tool_token_ids, self.kv.block_size, self.prefix_caching)
        if entry.state is PauseAction.DISCARD:
            seq.num_prefilled = 0
            if not self.policy.keep_arrival_order:
                seq.arrival_s = now
        if entry.state is PauseAction.SWAP and self.policy.budgeted_swap:
            self.queue.start_in(seq)
        else:
            self.scheduler.requeue(seq)
        return entry.state

    def _stop_copy(self, entry: _Pause) -> None:
        """A copy out still under way stops: the context never left the GPU."""
        if entry.copy is not None:
            self.queue.cancel_out(entry.copy)
            entry.copy = None
            entry.state = PauseAction.PRESERVE

    def check_fits(self, seq: EngineSeq, num_tool_tokens: int, max_model_len: int) -> None:
        """Raise `ResumeError('invalid')` unless the context with the tool's tokens stays
        below `max_model_len` and, with the next segment, fits the KV pool."""
        total = seq.num_tokens + num_tool_tokens
        if total >= max_model_len:
            raise ResumeError(f"context of {total} tokens reaches max_model_len "
                              f"{max_model_len}", "invalid")
        if self.kv.blocks_for(total + seq.next_output_len) > self.kv.num_blocks:
            raise ResumeError(f"context of {total} tokens plus the next segment exceeds the "
                              "KV pool", "invalid")

    def swap_in(self, seq: EngineSeq) -> float:
        """Copy an admitted sequence's swapped KV into its new blocks; return the seconds."""
        swapped: SwappedKV = seq.swapped  # type: ignore[assignment]
        _, secs = timed(self.swap.swap_in, self.kv_cache, swapped,
                        seq.block_table[:swapped.num_blocks])
        self.timing.observe_swap(swapped.num_tokens, secs)
        seq.swapped = None
        return secs

    def expired(self, now: float) -> list[EngineSeq]:
        """Paused requests whose tool has not returned within `timeout_s`: their KV freed,
        removed from the pause set (the caller fails them)."""
        if self.timeout_s is None:
            return []
        late = [e for e in self.paused.values() if now - e.start_s >= self.timeout_s]
        for entry in late:
            del self.paused[entry.seq.id]
            self._stop_copy(entry)
            self.drop_kv(entry.seq)
            self._end(entry, now, "timeout")
        return [e.seq for e in late]

    def abort(self, request_id: str, now: float) -> EngineSeq | None:
        """Remove a paused request and free its KV (None if it is not paused)."""
        entry = self.paused.pop(request_id, None)
        if entry is None:
            waiting = next((s for s in self.queue.ins if s.id == request_id), None)
            if waiting is not None and self.queue.drop_in(waiting):
                self.drop_kv(waiting)
            return waiting
        self._stop_copy(entry)
        self.drop_kv(entry.seq)
        self._end(entry, now, "aborted")
        return entry.seq

    def drop_kv(self, seq: EngineSeq) -> None:
        """Free whatever KV a sequence holds, on the GPU or in host memory."""
        self.kv.release(seq)
        if seq.swapped is not None:
            self.swap.free(seq.swapped)  # type: ignore[arg-type]
            seq.swapped = None

    def _end(self, entry: _Pause, now: float, outcome: str) -> None:
        seq = entry.seq
        self._log.append({
            "request_id": seq.id, "pause_index": seq.num_pauses - 1,
            "action": entry.state.value, "first_action": entry.action.value,
            "duration_s": now - entry.start_s, "decided_after_s": entry.decided_s - entry.start_s,
            "context_tokens": entry.context_tokens, "engine_id": self.engine_id,
            "start_s": entry.start_s, "swap_fallback": entry.swap_fallback,
            "swap_out_s": entry.swap_out_s, "outcome": outcome,
        })

    # -- views ---------------------------------------------------------------------------
    def view(self, now: float) -> PauseView:
        """The engine's state for the policy (`batch_query_tokens`: the last step's)."""
        sched = self.scheduler
        ctx = (sum(s.num_tokens for s in sched.decoding)
               + sum(s.num_prefilled for s in sched.running.prefilling))
        return PauseView(now_s=now, running_context_tokens=ctx,
                         num_running_decode=len(sched.decoding),
                         batch_query_tokens=self.last_query_tokens,
                         free_gpu_tokens=self.kv.available_tokens,
                         free_cpu_tokens=self.swap.free_tokens, timing=self.timing)

    def _info(self, entry: _Pause) -> PausedInfo:
        seq = entry.seq
        known = seq.request.meta.get("pause_durations_s")
        index = seq.num_pauses - 1
        duration = float(known[index]) if known and index < len(known) else None
        on_gpu = entry.state is PauseAction.PRESERVE
        return PausedInfo(seq.id, seq.request.arrival_s, entry.start_s, entry.context_tokens,
                          entry.context_tokens if on_gpu else 0,
                          None if duration is None or math.isnan(duration) else duration)

    def holding_blocks(self) -> list[EngineSeq]:
        """Paused sequences that kept their blocks."""
        kept = [e.seq for e in self.paused.values() if e.state is PauseAction.PRESERVE]
        return kept + self.queue.holding_blocks()

    def take_log(self) -> list[dict[str, Any]]:
        """The entries of pauses that ended (resumed, timed out, aborted) since the last
        call, in order; keys `PAUSE_LOG_COLUMNS`."""
        out, self._log = self._log, []
        return out

    def check_integrity(self) -> None:
        """Assert the host space matches the swapped requests, paused or requeued."""
        swapped = [e.seq.swapped for e in self.paused.values() if e.seq.swapped is not None]
        swapped += [s.swapped for s in self.scheduler.waiting if s.swapped is not None]
        swapped += [s.swapped for s in self.queue.ins] + self.queue.host_buffers()
        self.swap.check_integrity(swapped)  # type: ignore[arg-type]
        for entry in self.paused.values():
            holds = bool(entry.seq.block_table)
            assert holds == (entry.state is PauseAction.PRESERVE), entry.seq.id
            assert (entry.seq.swapped is not None) == (entry.state is PauseAction.SWAP)
