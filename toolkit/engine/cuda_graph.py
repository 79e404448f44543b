"""CUDA graphs for decode steps: one captured graph per bucketed batch size.

Decode-only steps of up to the largest bucket are padded to the next bucket and replayed
from static buffers (padding rows write no KV: slot -1, and attend to one token of block 0).
Capture needs graph-safe kernels (the Triton ones); any failure leaves the engine eager.
Untested off a GPU: this module is imported only when the model runs on CUDA.
"""

from __future__ import annotations

import bisect
import logging
from typing import TYPE_CHECKING

import torch

from toolkit.engine.attention import AttentionMetadata

if TYPE_CHECKING:
    from toolkit.engine.model_runner import ModelRunner, StepInputs

log = logging.getLogger(__name__)

TUNE_CONTEXT = 2048
"""Context length (capped by the model's) the decode kernel is autotuned on before capture."""


class DecodeGraphs:
    """Captured decode graphs of one model runner, keyed by padded batch size."""

    def __init__(self, runner: ModelRunner, batch_sizes: tuple[int, ...]) -> None:
        self.runner = runner
        self.batch_sizes = sorted(set(batch_sizes))
        max_bs, dev = self.batch_sizes[-1], runner.device
        self.input_ids = torch.zeros(max_bs, dtype=torch.int64, device=dev)
        self.positions = torch.zeros(max_bs, dtype=torch.int64, device=dev)
        self.slot_mapping = torch.full((max_bs,), -1, dtype=torch.int64, device=dev)
        self.block_tables = torch.zeros(max_bs, runner.max_blocks_per_seq, dtype=torch.int32,
                                        device=dev)
        self.seq_lens = torch.ones(max_bs, dtype=torch.int32, device=dev)
        self.outputs: dict[int, torch.Tensor] = {}
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.pool = None

    @classmethod
    def try_capture(cls, runner: ModelRunner, batch_sizes: tuple[int, ...]) -> DecodeGraphs | None:
        """Capture every bucket; None (eager decode) if capture fails or nothing to capture."""
        if not batch_sizes:
            return None
        graphs = cls(runner, batch_sizes)
        try:
            graphs.capture()
        except Exception as exc:  # noqa: BLE001 - any capture failure means eager mode
            log.warning("CUDA graph capture failed, decoding eagerly: %s", exc, exc_info=True)
            return None
        return graphs

    def _meta(self, bs: int) -> AttentionMetadata:
        return AttentionMetadata(self.slot_mapping[:bs], self.block_tables[:bs],
                                 self.seq_lens[:bs], None, is_decode=True)

    @torch.inference_mode()
    def capture(self) -> None:
        model = self.runner.model
        # The decode kernel's autotune key ignores the context length, so the first call
        # (the warm-up below) picks its config for every length: tune it on a long context,
        # every row reading block 0 over and over (valid memory; padding rows write no KV).
        tune_len = min(self.runner.max_blocks_per_seq * self.runner.block_size, TUNE_CONTEXT)
        for bs in reversed(self.batch_sizes):  # largest first: smaller ones share its pool
            meta = self._meta(bs)
            self.seq_lens.fill_(tune_len)
            model(self.input_ids[:bs], self.positions[:bs], meta)  # warm up (autotune, alloc)
            self.seq_lens.fill_(1)
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self.outputs[bs] = model(self.input_ids[:bs], self.positions[:bs], meta)
            if self.pool is None:
                self.pool = graph.pool()
            self.graphs[bs] = graph
        torch.cuda.synchronize()

    def fits(self, batch: int) -> bool:
        return batch <= self.batch_sizes[-1]

    def replay(self, inputs: StepInputs) -> torch.Tensor:
        """Hidden states [B, hidden] of a decode step of B <= the largest bucket."""
        b = inputs.input_ids.shape[0]
        bs = self.batch_sizes[bisect.bisect_left(self.batch_sizes, b)]
        width = inputs.meta.block_tables.shape[1]
        self.input_ids[:b] = inputs.input_ids
        self.positions[:b] = inputs.positions
        self.slot_mapping.fill_(-1)
        self.slot_mapping[:b] = inputs.meta.slot_mapping
        self.block_tables.zero_()
        self.block_tables[:b, :width] = inputs.meta.block_tables
        self.seq_lens.fill_(1)
        self.seq_lens[:b] = inputs.meta.seq_lens
        self.graphs[bs].replay()
        return self.outputs[bs][:b]
