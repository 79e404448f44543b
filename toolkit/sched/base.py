"""The local-scheduler contract and the batch builder every policy shares.

A policy only orders the waiting queue (`order`); `LocalScheduler.schedule` then builds the
iteration: continue chunked prefills, admit new requests in the policy's order while the
token budget and the KV cache allow, and decode every running sequence. With chunked
prefill off (SGLang v0.1 style) an iteration is either a prefill batch or a decode batch,
prefill first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from operator import attrgetter

from toolkit.sched.kv import KVManager
from toolkit.sched.seq import Seq

FCFS_KEY = attrgetter("arrival_s", "admit_seq")
"""Sort key of first come, first served (a preempted sequence keeps its arrival time)."""


@dataclass(slots=True)
class RunningState:
    """What an engine is running: sequences still in prefill, and decode aggregates."""

    prefilling: list[Seq] = field(default_factory=list)
    num_decode: int = 0
    decode_ctx_sum: int = 0

    @property
    def num_running(self) -> int:
        return len(self.prefilling) + self.num_decode


@dataclass(slots=True)
class Batch:
    """One iteration: prefill chunks `(seq, num_new_tokens)`, newly admitted sequences,
    and whether the running decodes take part."""

    prefill: list[tuple[Seq, int]] = field(default_factory=list)
    admitted: list[Seq] = field(default_factory=list)
    with_decode: bool = True

    @property
    def num_prefill_tokens(self) -> int:
        return sum(n for _, n in self.prefill)


class LocalScheduler(ABC):
    """Builds each iteration's batch for one engine."""

    def __init__(
        self,
        chunked_prefill: bool = True,
        chunk_size: int = 512,
        max_prefill_tokens: int = 16384,
        max_running: int = 256,
        decode_in_budget: bool = False,
    ) -> None:
        if chunk_size <= 0 or max_prefill_tokens <= 0 or max_running <= 0:
            raise ValueError("chunk_size, max_prefill_tokens and max_running must be positive")
        self.chunked_prefill = chunked_prefill
        self.chunk_size = chunk_size
        self.max_prefill_tokens = max_prefill_tokens
        self.max_running = max_running
        self.decode_in_budget = decode_in_budget

    @abstractmethod
    def order(self, waiting: list[Seq], kv: KVManager) -> list[Seq]:
        """Waiting sequences in the order admission should try them (a subset is allowed:
        a sequence left out waits for a later iteration)."""

    def schedule(self, waiting: list[Seq], running: RunningState, kv: KVManager) -> Batch:
        """Build the next iteration and admit sequences (removing them from `waiting`).

        Admission locks and allocates KV through `kv`; the caller runs the batch.
        """
        if self.chunked_prefill:
            batch = self._mixed(waiting, running, kv)
        else:
            batch = self._prefill_first(waiting, running, kv)
        if batch.admitted:
            self.on_admitted(batch.admitted)
        if len(batch.admitted) > 8:
            admitted = {id(s) for s in batch.admitted}
            waiting[:] = [s for s in waiting if id(s) not in admitted]
        else:
            for seq in batch.admitted:  # Seq compares by identity: removes that very one
                waiting.remove(seq)
        return batch

    def on_admitted(self, admitted: list[Seq]) -> None:  # noqa: B027 - optional hook
        """Called with the sequences admitted by `schedule`, in admission order."""

    def admit_limit(self, seq: Seq) -> int:
        """The most sequences the batch may hold when `seq` joins it, at most `max_running`
        (called in `order`'s order; admission stops at the first sequence that may not
        join)."""
        return self.max_running

    def select_victim(self, decoding: list[Seq]) -> Seq:
        """The running sequence to preempt when KV runs out: the latest admitted."""
        return max(decoding, key=lambda s: s.admit_seq)

    def _mixed(self, waiting: list[Seq], running: RunningState, kv: KVManager) -> Batch:
        batch = Batch()
        budget = self.chunk_size
        if self.decode_in_budget:  # InferCept: decodes and chunks share S tokens (chunk >= 1)
            budget = max(budget - running.num_decode, 1)
        for seq in running.prefilling:
            take = min(seq.remaining_prefill, budget)
            if take > 0:
                batch.prefill.append((seq, take))
                budget -= take
        if budget > 0 and waiting:
            self._admit(waiting, running, kv, batch, budget, chunk=True)
        return batch

    def _prefill_first(self, waiting: list[Seq], running: RunningState, kv: KVManager) -> Batch:
        batch = Batch(with_decode=False)
        budget = self.max_prefill_tokens
        for seq in running.prefilling:
            batch.prefill.append((seq, seq.remaining_prefill))
            budget -= seq.remaining_prefill
        if waiting:
            self._admit(waiting, running, kv, batch, budget, chunk=False)
        batch.with_decode = not batch.prefill
        return batch

    def _admit(
        self, waiting: list[Seq], running: RunningState, kv: KVManager, batch: Batch,
        budget: int, chunk: bool,
    ) -> None:
        max_running = self.max_running
        num_running = running.num_running  # admission changes `running` only after schedule
        if kv.available_tokens <= 0 or num_running >= max_running:
            return  # nothing can be admitted: skip ordering (and its prefix matches)
        prefill, admitted = batch.prefill, batch.admitted
        for seq in self.order(waiting, kv):
            if num_running + len(admitted) >= self.admit_limit(seq):
                return
            if not chunk and prefill and seq.prefill_len > budget:
                return
            if not kv.admit(seq):
                return
            take = seq.remaining_prefill
            if chunk and budget < take:
                take = budget
            prefill.append((seq, take))
            admitted.append(seq)
            budget -= take
            if budget <= 0:
                return
