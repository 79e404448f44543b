"""The engine's scheduler: queues, preemption and bookkeeping around a `LocalScheduler`.

The batch itself is built by a policy from `toolkit.sched` (FCFS, LPM, Preble), the very
objects the simulator runs; this class keeps the waiting queue and the running set, makes
room for decodes (preempting by recompute when blocks run out), and applies each step's
sampled tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.sequence import EngineSeq
from toolkit.sched.base import FCFS_KEY, LocalScheduler, RunningState
from toolkit.sched.seq import SeqStatus


@dataclass(slots=True)
class StepPlan:
    """One model step: prefill chunks `(seq, num_new_tokens)` and decoding sequences;
    `swap_in` are resumed sequences admitted this step whose KV must first be copied back
    from host memory into their new blocks. `drafts`, when not empty, holds one draft (a
    `toolkit.spec.base.Draft`, or None) per decoding sequence: its tokens are verified in
    this step."""

    prefill: list[tuple[EngineSeq, int]] = field(default_factory=list)
    decode: list[EngineSeq] = field(default_factory=list)
    swap_in: list[EngineSeq] = field(default_factory=list)
    drafts: list = field(default_factory=list)

    def sampled(self) -> list[EngineSeq]:
        """Sequences that get a token from this step: completed prefills, then decodes."""
        done = [s for s, n in self.prefill if s.num_prefilled + n == s.prefill_len]
        return done + self.decode

    @property
    def num_tokens(self) -> int:
        return (sum(n for _, n in self.prefill) + len(self.decode)
                + sum(len(d) for d in self.drafts if d is not None))


@dataclass(slots=True)
class StepResult:
    """What a step changed: sequences with new tokens (`num_new[i]` of them for
    `updated[i]`), and which of them finished, started or paused (reached a segment's end:
    out of the running set, KV still held)."""

    updated: list[EngineSeq]
    first_token: list[EngineSeq]
    finished: list[EngineSeq]
    paused: list[EngineSeq] = field(default_factory=list)
    num_new: list[int] = field(default_factory=list)


class EngineScheduler:
    """Waiting queue, running set and preemption for one engine."""

    def __init__(self, policy: LocalScheduler, kv: PagedKVManager, eos_token_ids: tuple[int, ...],
                 max_model_len: int) -> None:
        self.policy = policy
        self.kv = kv
        self.eos_token_ids = frozenset(eos_token_ids)
        self.max_model_len = max_model_len
        self.waiting: list[EngineSeq] = []
        self.running = RunningState()
        self.decoding: list[EngineSeq] = []
        self.preempted: list[EngineSeq] = []  # since the last `take_preempted`
        self._admit_counter = 0

    def add(self, seq: EngineSeq) -> None:
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running.prefilling or self.decoding)

    def all_running(self) -> list[EngineSeq]:
        return self.running.prefilling + self.decoding  # type: ignore[operator]

    def holding_blocks(self) -> list[EngineSeq]:
        """Running sequences plus waiting ones that kept their KV blocks (resumed)."""
        return self.all_running() + [s for s in self.waiting if s.block_table]

    def schedule(self) -> StepPlan | None:
        """Make room for this step's decodes, then let the policy build the batch; None when
        there is nothing to run."""
        self._grow_decodes()
        batch = self.policy.schedule(self.waiting, self.running, self.kv)  # type: ignore[arg-type]
        while not batch.prefill and not self.all_running() and self._drop_one_resident():
            batch = self.policy.schedule(self.waiting, self.running, self.kv)  # type: ignore[arg-type]
        for seq in batch.admitted:
            seq.status = SeqStatus.RUNNING
            self._admit_counter += 1
            seq.admit_seq = self._admit_counter
            if seq.first_cached_tokens < 0:
                seq.first_cached_tokens = seq.num_cached_tokens
            self.running.prefilling.append(seq)
        plan = StepPlan(list(batch.prefill), list(self.decoding) if batch.with_decode else [],
                        [s for s in batch.admitted if s.swapped is not None])
        return plan if plan.prefill or plan.decode else None

    def _drop_one_resident(self) -> bool:
        """Nothing runs and nothing could be admitted: free the blocks of the latest waiting
        sequence that kept its KV (it will be recomputed) so the others can go on."""
        resident = [s for s in self.waiting if s.block_table]
        if not resident:
            return False
        seq = max(resident, key=FCFS_KEY)
        self.kv.release(seq)
        seq.num_prefilled = 0
        seq.match_epoch = -1
        return True

    def _grow_decodes(self) -> None:
        """Preempt the policy's victims until every decode has a slot for its next token."""
        kv = self.kv
        while self.decoding and not kv.can_grow(kv.blocks_to_grow(self.decoding)):
            self._preempt(self.policy.select_victim(self.decoding))
        kv.grow(self.decoding)

    def _preempt(self, seq: EngineSeq) -> None:
        """Preemption by recompute: free its KV, requeue it to prefill prompt and output."""
        self.decoding.remove(seq)
        self.running.num_decode -= 1
        self.kv.release(seq)
        seq.status = SeqStatus.WAITING
        seq.num_preemptions += 1
        seq.recompute_tokens = seq.num_generated
        seq.num_prefilled = 0
        seq.match_epoch = -1
        self.waiting.insert(0, seq)
        self.preempted.append(seq)

    def postprocess(self, plan: StepPlan, tokens: list[list[int]]) -> StepResult:
        """Advance prefills, append `tokens` (a list per `plan.sampled()` sequence, in order;
        more than one token after a verify step, cut at a stop or the segment's end) and
        retire finished sequences."""
        updated = plan.sampled()
        for seq, take in plan.prefill:
            seq.num_prefilled += take
        done = {id(s) for s, _ in plan.prefill if not s.in_prefill}
        if done:
            self.running.prefilling = [s for s in self.running.prefilling if id(s) not in done]
        first, finished, paused, num_new = [], [], [], []
        for seq, new in zip(updated, tokens):
            if id(seq) in done:
                self.kv.finish_prefill(seq)
                self.decoding.append(seq)
                self.running.num_decode += 1
            if seq.num_generated == 0:
                first.append(seq)
            count = 0
            for token in new:
                count += 1
                seq.token_ids.append(token)
                seq.num_generated += 1
                if self._check_finish(seq, token):
                    finished.append(seq)
                    break
                if seq.num_generated >= seq.request.output_len and seq.pauses_at_segment_end:
                    paused.append(seq)
                    break
            num_new.append(count)
        for seq in finished:
            self._retire(seq)
        for seq in paused:
            self._park(seq)
        return StepResult(updated, first, finished, paused, num_new)

    def _check_finish(self, seq: EngineSeq, token: int) -> bool:
        p = seq.params
        if token in p.stop_token_ids or (not p.ignore_eos and token in self.eos_token_ids):
            seq.finish_reason = "stop"
        elif seq.num_tokens >= self.max_model_len or (
                seq.num_generated >= seq.request.output_len and not seq.pauses_at_segment_end):
            seq.finish_reason = "length"
        return seq.finish_reason is not None

    def _park(self, seq: EngineSeq) -> None:
        """A segment ended: out of the running set, its blocks still held (the pause
        policy decides what happens to them)."""
        self.decoding.remove(seq)
        self.running.num_decode -= 1
        seq.status = SeqStatus.WAITING
        seq.paused = True
        seq.num_pauses += 1

    def requeue(self, seq: EngineSeq) -> None:
        """Put a resumed sequence back into the waiting queue."""
        seq.status = SeqStatus.WAITING
        self.waiting.append(seq)

    def _retire(self, seq: EngineSeq) -> None:
        self.decoding.remove(seq)
        self.running.num_decode -= 1
        self.kv.release(seq)
        seq.status = SeqStatus.FINISHED

    def abort(self, request_id: str) -> EngineSeq | None:
        """Drop a request wherever it is; return its sequence (None if unknown)."""
        for seq in self.waiting:
            if seq.id == request_id:
                self.waiting.remove(seq)
                self.kv.release(seq)  # a resumed one may hold blocks
                seq.status = SeqStatus.FINISHED
                return seq
        for seq in self.all_running():
            if seq.id == request_id:
                if seq in self.decoding:
                    self.decoding.remove(seq)
                    self.running.num_decode -= 1
                else:
                    self.running.prefilling.remove(seq)
                self.kv.release(seq)
                seq.status = SeqStatus.FINISHED
                seq.finish_reason = "abort"
                return seq
        return None
