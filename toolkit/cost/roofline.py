"""Roofline iteration times from spec sheets, for GPUs without measured tables.

One iteration (prefill chunks and decodes together) takes

    max(FLOPs / (peak_flops * compute_efficiency), bytes / (hbm_bw * memory_efficiency))
    + overhead_per_layer_s * num_layers + AR(new tokens)

per GPU of a tensor-parallel group, where
- FLOPs = 2 * layer weights * new tokens + 2 * hidden * vocab * sequences (LM head, last
  token only) + 4 * layers * heads * head_dim * query-key pairs (QK^T and PV), all / tp;
  a chunk of n new tokens over c cached ones has n * (c + (n + 1) / 2) causal pairs, a
  decode token ctx + 1;
- bytes = (layer weights + LM head) * dtype / tp, read once, plus the KV read for every
  context token and written for every new token (per-GPU share);
- AR is the all-reduce term of `comm` (zero at tp 1).

Defaults: the efficiencies are the H200 ceilings measured in the calibration data (bf16
matmul 778 TFLOP/s of 989 = 0.79; device copy 4,187 GB/s of 4,800 = 0.87) and are assumed
for every GPU (unverified elsewhere). The 50 us per layer overhead stands for kernel
launch and scheduling gaps; it is the order of the gap between the H200 one-sequence
decode (5.9 ms, llama3-8b) and its weight-read time (3.8 ms) over 32 layers, rounded down
(a tuned engine is faster); unverified on other GPUs.
"""

from __future__ import annotations

import numpy as np

from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.capacity import kv_bytes_per_token_per_gpu
from toolkit.cost.comm import ALLREDUCE_BUS_EFFICIENCY, ALLREDUCE_LATENCY_S, AllReduceCost
from toolkit.cost.specs import GpuSpec, ModelSpec, get_gpu_spec, get_model_spec

COMPUTE_EFFICIENCY = 778e12 / 989e12
MEMORY_EFFICIENCY = 4187e9 / 4800e9
OVERHEAD_PER_LAYER_S = 50e-6


class RooflineCostModel(CostModel):
    """max(compute, memory) time per iteration plus fixed overhead and all-reduce."""

    def __init__(
        self,
        model: str | ModelSpec,
        gpu: str | GpuSpec,
        tp: int = 1,
        compute_efficiency: float = COMPUTE_EFFICIENCY,
        memory_efficiency: float = MEMORY_EFFICIENCY,
        overhead_per_layer_s: float = OVERHEAD_PER_LAYER_S,
        allreduce_latency_s: float = ALLREDUCE_LATENCY_S,
        allreduce_bus_efficiency: float = ALLREDUCE_BUS_EFFICIENCY,
    ) -> None:
        m, g = get_model_spec(model), get_gpu_spec(gpu)
        self.model, self.gpu, self.tp = m, g, tp
        head_params = m.vocab_size * m.hidden_size
        layer_params = m.num_layers * m.layer_params
        self._flops_per_token = 2.0 * layer_params / tp
        self._flops_per_seq = 2.0 * head_params / tp
        self._flops_per_pair = 4.0 * m.num_layers * m.num_heads * m.head_dim / tp
        self._weight_bytes = (layer_params + head_params) * m.dtype_bytes / tp
        self._kv_bytes = kv_bytes_per_token_per_gpu(m, tp)
        self._flop_rate = g.bf16_flops * compute_efficiency
        self._byte_rate = g.hbm_bytes_per_s * memory_efficiency
        self.overhead_s = overhead_per_layer_s * m.num_layers
        self.allreduce = AllReduceCost(m, g, tp, allreduce_latency_s, allreduce_bus_efficiency)

    def iteration_s(self, batch: BatchShape) -> float:
        """Roofline time of one iteration; 0 for an empty batch."""
        prefill_new, prefill_ctx, num_decode, decode_ctx_sum = batch
        tokens = seqs = num_decode
        pairs = kv_tokens = decode_ctx_sum + num_decode
        for n, c in zip(prefill_new, prefill_ctx):
            if n > 0:
                tokens += n
                seqs += 1
                pairs += n * (c + (n + 1) / 2)
                kv_tokens += c + n
        if tokens == 0:
            return 0.0
        flops = self._flops_per_token * tokens + self._flops_per_seq * seqs
        compute_s = (flops + self._flops_per_pair * pairs) / self._flop_rate
        memory_s = (self._weight_bytes + self._kv_bytes * kv_tokens) / self._byte_rate
        busy = compute_s if compute_s > memory_s else memory_s
        return busy + self.overhead_s + self.allreduce(tokens)

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        """Vectorised: identical to looping `iteration_s` over the steps."""
        if num_decode <= 0 or num_steps <= 0:
            return np.zeros(max(num_steps, 0))
        ctx = decode_ctx_sum + np.arange(num_steps) * num_decode + num_decode
        flops = self._flops_per_token * num_decode + self._flops_per_seq * num_decode
        compute_s = (flops + self._flops_per_pair * ctx) / self._flop_rate
        memory_s = (self._weight_bytes + self._kv_bytes * ctx) / self._byte_rate
        busy = np.maximum(compute_s, memory_s)
        return busy + self.overhead_s + self.allreduce(num_decode)
