"""Budgeted, overlapped swaps of the real engine (InferCept's `budgeted_swap` policies).

Each step the policy's `swap_budget_tokens` bounds the KV moved between GPU and host, in
and out together, swap-ins first (first arrival first), then swap-outs, whole blocks at a
time (a fractional budget carries over). A context leaves the GPU (its blocks are freed),
or is handed back to the scheduler as a resident sequence, at the start of the step after
the one that copied its last block — the simulator's rule (`toolkit.sim.pause_swap`).

On a GPU the copies run on a side stream and overlap the step's forward pass; the stream is
waited for before blocks are freed or a sequence rejoins. On a CPU a copy is a memcpy done
before the forward (nothing to overlap with on the same cores). An engine with nothing to
compute copies everything at once, as the simulator's idle engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from toolkit.engine.host_kv import HostSwapSpace, SwappedKV, timed
from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.sequence import EngineSeq


@dataclass(slots=True)
class BlockCopy:
    """One context being copied: its GPU `blocks` in order, the host buffer, blocks done."""

    seq: EngineSeq
    blocks: list[int]
    host: SwappedKV
    done: int = 0

    @property
    def left(self) -> int:
        return len(self.blocks) - self.done


class SwapQueue:
    """Copies under way in one engine, moved a budget at a time."""

    def __init__(self, swap: HostSwapSpace, kv: PagedKVManager, kv_cache: torch.Tensor,
                 timing: Any) -> None:
        self.swap, self.kv, self.kv_cache, self.timing = swap, kv, kv_cache, timing
        self.outs: list[BlockCopy] = []
        self.ins: list[EngineSeq] = []  # resumed, waiting for blocks or for their copy
        self._in_copies: dict[str, BlockCopy] = {}
        self._credit = 0
        self._stream = torch.cuda.Stream(kv_cache.device) if kv_cache.is_cuda else None
        self._event: Any = None

    # -- queueing ------------------------------------------------------------------------
    def start_out(self, seq: EngineSeq, num_blocks: int, num_tokens: int) -> BlockCopy | None:
        """Reserve host space for a paused context's first `num_blocks` blocks and queue
        the copy (None when the host space cannot hold it)."""
        if not self.swap.can_hold(num_blocks):
            return None
        copy = BlockCopy(seq, list(seq.block_table[:num_blocks]),
                         self.swap.reserve(self.kv_cache, num_blocks, num_tokens))
        self.outs.append(copy)
        return copy

    def cancel_out(self, copy: BlockCopy) -> None:
        """Stop a copy out (its context is still on the GPU) and give back its host space."""
        self.wait()
        self.outs.remove(copy)
        self.swap.free(copy.host)

    def start_in(self, seq: EngineSeq) -> None:
        """Queue a resumed swapped-out sequence to be copied back."""
        self.ins.append(seq)
        self.ins.sort(key=lambda s: (s.request.arrival_s, s.id))

    def drop_in(self, seq: EngineSeq) -> bool:
        """Forget a queued swap-in (aborted); the caller frees its KV. False if not queued."""
        if seq not in self.ins:
            return False
        self.wait()
        self.ins.remove(seq)
        self._in_copies.pop(seq.id, None)
        return True

    def holding_blocks(self) -> list[EngineSeq]:
        """Queued swap-ins that already hold their new blocks."""
        return [s for s in self.ins if s.block_table]

    def host_buffers(self) -> list[SwappedKV]:
        """Host space in use by copies out under way (their sequences are not yet swapped)."""
        return [c.host for c in self.outs]

    # -- stepping ------------------------------------------------------------------------
    def step(self, budget_tokens: int | None, idle: bool) -> tuple[list[BlockCopy], list[EngineSeq]]:
        """Finish last step's copies, then start this step's; return the copies out that
        completed (the caller frees their blocks) and the sequences whose copy back completed
        (the caller requeues them). `idle`: nothing to compute, copy everything now."""
        done_out, done_in = self._completed()
        if not (self.outs or self.ins):
            return done_out, done_in
        if idle or budget_tokens is None:
            blocks = None
        else:
            self._credit = min(self._credit + max(int(budget_tokens), 0),
                               max(int(budget_tokens), self.kv.block_size))
            blocks = self._credit // self.kv.block_size
            self._credit -= blocks * self.kv.block_size
        blocks = self._copy_ins(blocks)
        self._copy_outs(blocks)
        self._event = self._record()
        if idle:
            more_out, more_in = self._completed()
            done_out += more_out
            done_in += more_in
        return done_out, done_in

    def _copy_ins(self, blocks: int | None) -> int | None:
        for seq in list(self.ins):
            if blocks == 0:
                break
            copy = self._in_copies.get(seq.id)
            if copy is None:
                if not self.kv.admit(seq):  # no room yet: later arrivals wait behind it
                    break
                copy = BlockCopy(seq, list(seq.block_table[:seq.swapped.num_blocks]),  # type: ignore[union-attr]
                                 seq.swapped)  # type: ignore[arg-type]
                self._in_copies[seq.id] = copy
            blocks = self._advance(copy, blocks, self.swap.copy_in)
        return blocks

    def _copy_outs(self, blocks: int | None) -> None:
        for copy in self.outs:
            if blocks == 0:
                return
            blocks = self._advance(copy, blocks, self.swap.copy_out)

    def _advance(self, copy: BlockCopy, blocks: int | None, fn: Any) -> int | None:
        take = copy.left if blocks is None else min(copy.left, blocks)
        if take <= 0:
            return blocks
        ids = copy.blocks[copy.done:copy.done + take]
        if self._stream is None:
            _, secs = timed(fn, self.kv_cache, copy.host, ids, copy.done)
            self.timing.observe_swap(take * self.kv.block_size, secs)
        else:
            self._stream.wait_stream(torch.cuda.current_stream(self.kv_cache.device))
            with torch.cuda.stream(self._stream):
                fn(self.kv_cache, copy.host, ids, copy.done)
        copy.done += take
        return None if blocks is None else blocks - take

    def _completed(self) -> tuple[list[BlockCopy], list[EngineSeq]]:
        self.wait()
        outs = [c for c in self.outs if c.left == 0]
        self.outs = [c for c in self.outs if c.left > 0]
        ins = [s for s in self.ins if (c := self._in_copies.get(s.id)) is not None and c.left == 0]
        for seq in ins:
            self.ins.remove(seq)
            del self._in_copies[seq.id]
        return outs, ins

    def _record(self) -> Any:
        if self._stream is None:
            return None
        event = torch.cuda.Event()
        event.record(self._stream)
        return event

    def wait(self) -> None:
        """Wait for the copies launched so far (a no-op on a CPU)."""
        if self._event is not None:
            self._event.synchronize()
            self._event = None
