"""Seconds to copy the KV cache of N tokens between GPU and pinned host memory (one way).

One copy of `b` bytes takes `copy(b)`, a piecewise-linear curve through measured points:
the H200 calibration's pinned host->device and device->host copies of 64 KiB, 2 MiB,
64 MiB and 1 GiB (`ceilings.h2d_GBps_<bytes>` / `d2h_GBps_<bytes>` of
`h200_llama_profile.json`; 15 us at 64 KiB, 55 GB/s from 64 MiB up). Below the smallest
point the curve is the line through it with the largest size's marginal rate (a fixed
latency of ~14 us plus bytes at ~55 GB/s); beyond the largest it continues that last slope.
For machines without measurements `HostSwapModel.from_bandwidth` uses latency + bytes / bw.

Swapping N tokens issues `n_c` copies of `b_c` bytes each, by `granularity`:
- "layer" (default): one copy per layer of the layer's K and V of all N tokens, first
  gathered into a contiguous staging buffer by one kernel (and scattered after a swap-in).
  This is how a pipelined swap works (InferCept's `_swap_by_layer` copies layer by layer on
  a side stream so each layer's attention waits only for its own copy). The gather adds
  bytes / 1,540 GB/s, the H200's measured scattered-block gather (`C_kvgather` of
  `h200_verify_tp_gather.jsonl`: 4,096 blocks of 32 KiB in 0.087 ms), ~3 % of the copy.
- "swap": one gathered copy of all layers (a single staging buffer).
- "block": vLLM's `swap_blocks`: one copy per KV block per layer, K and V separately, no
  gather; ceil(N / block_size) * layers * 2 copies of block_size * kv_heads * head_dim *
  dtype bytes. Launch-bound for small blocks: the same calibration measured 13.8 us per
  32 KiB block copied one by one (device to device, `per_block_copy_ms`), which this curve
  reproduces for pinned copies (~14.6 us).

Tensor parallelism. Each GPU of a TP group holds its share of the KV heads
(`capacity.kv_bytes_per_token_per_gpu`: layers * 2 * kv heads / tp * head dim * dtype, the
heads replicated once tp exceeds them) and copies it over its own host link at the same
time, so the swap time is that of one GPU's share. Where `gpus_per_host_link` GPUs of the
group share one PCIe uplink (two GPUs per switch on DGX/HGX A100 boards) their bytes queue
on it: the share is multiplied by that number (default 1: a link per GPU; an assumption).

`swap_s` is the slower direction (they differ by < 6 % on the H200), so a budget computed
from it fits either way; `swap_out_s` / `swap_in_s` give each direction.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from pathlib import Path

from toolkit.core import ConfigError
from toolkit.cost import calibration as cal
from toolkit.cost.capacity import kv_bytes_per_token_per_gpu
from toolkit.cost.specs import ModelSpec, get_model_spec

GATHER_BYTES_PER_S = 1540.1e9
"""H200 scattered-KV gather rate (`C_kvgather.gather_GBps`, h200_verify_tp_gather.jsonl)."""

COPY_LATENCY_S = 14e-6
"""Fixed cost of one pinned host-device copy: the H200 calibration's 64 KiB copy (15.3 us)
less its bytes at the large-copy rate (55 GB/s), i.e. 14.1 us, rounded. Assumed for other
hosts (a driver/DMA-setup cost, not a GPU property; unverified elsewhere)."""

A100_PCIE_BYTES_PER_S = 25e9
"""ASSUMPTION: effective pinned-copy bandwidth of an A100 host link, PCIe Gen4 x16 (32 GB/s
raw per direction). ~25 GB/s is the usual `bandwidthTest` figure; the H200 measured 55.3 of
Gen5's 64 GB/s (86 %), which on Gen4 would be 27.5 GB/s."""

GRANULARITIES = ("layer", "swap", "block")


class CopyCurve:
    """Seconds of one copy by its size in bytes: piecewise linear through `(bytes, s)`
    knots; below the first knot the line through it with the last segment's slope, beyond
    the last knot that slope continued."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        pts = sorted(points)
        if len(pts) < 2 or any(b[1] <= a[1] or b[0] <= a[0] for a, b in zip(pts, pts[1:])):
            raise ValueError(f"need >= 2 points increasing in size and time, got {pts}")
        slope = (pts[-1][1] - pts[-2][1]) / (pts[-1][0] - pts[-2][0])
        if pts[0][0] > 0:
            pts.insert(0, (0.0, pts[0][1] - pts[0][0] * slope))
        self.sizes = [float(p[0]) for p in pts]
        self.seconds = [float(p[1]) for p in pts]
        self.slope_s_per_byte = slope

    @classmethod
    def from_bandwidth(cls, bytes_per_s: float, latency_s: float) -> CopyCurve:
        """latency + bytes / bandwidth."""
        return cls([(0.0, latency_s), (float(1 << 30), latency_s + (1 << 30) / bytes_per_s)])

    def __call__(self, nbytes: float) -> float:
        i = min(bisect_right(self.sizes, nbytes) - 1, len(self.sizes) - 2)
        x0, y0 = self.sizes[i], self.seconds[i]
        slope = (self.seconds[i + 1] - y0) / (self.sizes[i + 1] - x0)
        return y0 + slope * (nbytes - x0)


def calibrated_copy_curves(path: str | Path | None = None) -> tuple[CopyCurve, CopyCurve]:
    """(device->host, host->device) curves from a profile's `ceilings` (`d2h_GBps_<bytes>`,
    `h2d_GBps_<bytes>`); default: the packaged H200 profile."""
    ceilings = cal.load_json(path or cal.PROFILE_FILE).get("ceilings", {})
    curves = []
    for direction in ("d2h", "h2d"):
        prefix = f"{direction}_GBps_"
        pts = [(float(k[len(prefix):]), float(k[len(prefix):]) / (v * 1e9))
               for k, v in ceilings.items() if k.startswith(prefix)]
        if len(pts) < 2:
            raise ConfigError("calibration_path", f"fewer than 2 '{prefix}*' ceilings")
        curves.append(CopyCurve(pts))
    return curves[0], curves[1]


class HostSwapModel:
    """T_swap(N): seconds to copy N tokens' KV one way (module docstring: the model)."""

    def __init__(
        self,
        kv_bytes_per_token: float,
        num_layers: int,
        d2h: CopyCurve,
        h2d: CopyCurve,
        granularity: str = "layer",
        block_size: int = 16,
        gather_bytes_per_s: float | None = GATHER_BYTES_PER_S,
    ) -> None:
        if granularity not in GRANULARITIES:
            raise ConfigError("granularity", f"{granularity!r} not in {GRANULARITIES}")
        if block_size < 1 or num_layers < 1 or kv_bytes_per_token <= 0:
            raise ConfigError("block_size", "block_size, num_layers and KV bytes must be > 0")
        self.kv_bytes_per_token = float(kv_bytes_per_token)
        self.num_layers, self.granularity, self.block_size = num_layers, granularity, block_size
        self.d2h, self.h2d = d2h, h2d
        gather = 1.0 / gather_bytes_per_s if gather_bytes_per_s else 0.0
        self._gather_s_per_token = 0.0 if granularity == "block" else gather * kv_bytes_per_token
        self._copies = {"layer": num_layers, "swap": 1, "block": 2 * num_layers}[granularity]

    @classmethod
    def from_calibration(
        cls, model: str | ModelSpec = "llama3-8b", tp: int = 1, granularity: str = "layer",
        block_size: int = 16, gpus_per_host_link: int = 1,
        calibration_path: str | Path | None = None,
    ) -> HostSwapModel:
        """`model` at tensor parallelism `tp` with the measured (H200) pinned-copy curves."""
        m = get_model_spec(model)
        d2h, h2d = calibrated_copy_curves(calibration_path)
        return cls(_link_bytes(m, tp, gpus_per_host_link), m.num_layers, d2h, h2d,
                   granularity, block_size)

    @classmethod
    def from_bandwidth(
        cls, model: str | ModelSpec, tp: int = 1,
        bytes_per_s: float = A100_PCIE_BYTES_PER_S, latency_s: float = COPY_LATENCY_S,
        granularity: str = "layer", block_size: int = 16, gpus_per_host_link: int = 1,
        gather_bytes_per_s: float | None = None,
    ) -> HostSwapModel:
        """`model` at `tp` over a link of `bytes_per_s` (default: the A100 PCIe Gen4
        assumption) and `latency_s` per copy, both directions alike. The device-side
        gather is free unless `gather_bytes_per_s` is given."""
        m = get_model_spec(model)
        curve = CopyCurve.from_bandwidth(bytes_per_s, latency_s)
        return cls(_link_bytes(m, tp, gpus_per_host_link), m.num_layers, curve, curve,
                   granularity, block_size, gather_bytes_per_s)

    def swap_out_s(self, num_tokens: int) -> float:
        """GPU -> host seconds for `num_tokens` tokens (0 for none)."""
        return self._one_way(self.d2h, num_tokens)

    def swap_in_s(self, num_tokens: int) -> float:
        """Host -> GPU seconds for `num_tokens` tokens (0 for none)."""
        return self._one_way(self.h2d, num_tokens)

    def swap_s(self, num_tokens: int) -> float:
        """One-way seconds, the slower direction (the `PauseTiming.swap_s` contract)."""
        return max(self.swap_out_s(num_tokens), self.swap_in_s(num_tokens))

    def tokens_within_s(self, seconds: float) -> int:
        """The swap budget: the largest N with `swap_s(N) <= seconds` (0 if even one token
        takes longer)."""
        return min(self._inverse(self.d2h, seconds), self._inverse(self.h2d, seconds))

    def _one_way(self, curve: CopyCurve, num_tokens: int) -> float:
        if num_tokens <= 0:
            return 0.0
        if self.granularity == "block":
            blocks = -(-num_tokens // self.block_size)
            return blocks * (self._copies * curve(self._block_copy_bytes))
        nbytes = num_tokens * self.kv_bytes_per_token
        return self._copies * curve(nbytes / self._copies) + num_tokens * self._gather_s_per_token

    @property
    def _block_copy_bytes(self) -> float:
        return self.block_size * self.kv_bytes_per_token / self._copies

    def _inverse(self, curve: CopyCurve, seconds: float) -> int:
        """A closed-form guess, then stepped to the exact answer (float rounding)."""
        if self.granularity == "block":
            per_block = self._copies * curve(self._block_copy_bytes)
            n = int(max(seconds, 0.0) // per_block) * self.block_size
            step = self.block_size
        else:
            n, step = self._linear_guess(curve, seconds), 1
        while n > 0 and self._one_way(curve, n) > seconds:
            n -= step
        while self._one_way(curve, n + step) <= seconds:
            n += step
        return n

    def _linear_guess(self, curve: CopyCurve, seconds: float) -> int:
        # Piecewise linear in N: knots at the curve's sizes, the last slope beyond.
        scale = self._copies / self.kv_bytes_per_token
        xs = [b * scale for b in curve.sizes]
        ys = [self._copies * s + x * self._gather_s_per_token for s, x in zip(curve.seconds, xs)]
        if seconds < ys[0]:
            return 0
        i = min(bisect_right(ys, seconds) - 1, len(ys) - 2)
        guess = xs[i] + (seconds - ys[i]) * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i])
        return max(int(math.floor(guess)), 0)


def _link_bytes(model: ModelSpec, tp: int, gpus_per_host_link: int) -> float:
    """KV bytes per token that cross one host link (module docstring, tensor parallelism)."""
    if not isinstance(tp, int) or tp < 1:
        raise ConfigError("tp", f"must be a positive integer, got {tp!r}")
    if gpus_per_host_link < 1:
        raise ConfigError("gpus_per_host_link", f"must be >= 1, got {gpus_per_host_link}")
    return kv_bytes_per_token_per_gpu(model, tp) * min(gpus_per_host_link, tp)
