"""Tensor-parallel all-reduce time of one iteration.

A Megatron-style TP layer all-reduces its activations twice (after attention and after
the MLP): 2 * num_layers all-reduces per iteration, each of num_tokens * hidden * dtype
bytes (../shared/papers/nitsum.md section 4, ../shared/calibration/README.md). One ring
all-reduce over t GPUs takes

    T_AR = latency + 2 (t - 1) / t * bytes / bus_bandwidth.
"""

from __future__ import annotations

from toolkit.cost.specs import GpuSpec, ModelSpec

ALLREDUCE_LATENCY_S = 8e-6
"""Latency floor of one small all-reduce. nitsum.md: SGLang's custom all-reduce takes
3.7-7.8 us at small sizes on H100 NVSwitch (TP 2/4/8), NCCL under CUDA graphs 12-20 us,
NCCL eager ~23 us. 8 us assumes a tuned engine's custom kernel (upper end of its range)."""

ALLREDUCE_BUS_EFFICIENCY = 366e9 / 450e9
"""Achieved share of per-direction link bandwidth: nccl-tests bus bandwidth 366 GB/s on
H100 NVSwitch (nitsum.md) over NVLink4's 450 GB/s per direction. Applied to every GPU
(unverified for PCIe-only GPUs, where it is optimistic)."""


class AllReduceCost:
    """T(num_tokens) = const_s + per_token_s * num_tokens for one iteration; zero at tp=1."""

    def __init__(
        self,
        model: ModelSpec,
        gpu: GpuSpec,
        tp: int,
        latency_s: float = ALLREDUCE_LATENCY_S,
        bus_efficiency: float = ALLREDUCE_BUS_EFFICIENCY,
    ) -> None:
        count = 2 * model.num_layers if tp > 1 else 0
        bus = gpu.interconnect_bytes_per_s * bus_efficiency
        ring = 2.0 * (tp - 1) / tp
        self.const_s = count * latency_s
        self.per_token_s = (
            count * ring * model.hidden_size * model.dtype_bytes / bus if count else 0.0
        )

    def __call__(self, num_tokens: int) -> float:
        return self.const_s + self.per_token_s * num_tokens if num_tokens > 0 else 0.0
