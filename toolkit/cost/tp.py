"""Tensor parallelism as a run-time knob (Nitsum): step costs at any TP level, all-reduce from
measured points, the small-batch TP gain as a parameter, and what a TP switch costs.

Compute (`compute="scaled"`, the default): the profiled tp-1 table (CUDA-graph prefill)
scaled by the measured per-GPU shard times (`B_tpshard` of `h200_verify_tp_gather.jsonl`: one decode step of an 8B
shard at TP 1-8) for decode-sized iterations, tending to the ideal `t0 / t` for large
prefills (the measured tp 1/2/4 prefill tables come within 12% of it at 8K tokens). `compute="tables"` reads the profiled
(model, tp) table where one was measured (llama3-8b tp 1/2/4), the nearest lower one scaled
otherwise; the tp > 1 tables are eager, so short prefills there carry ~20 ms of launch
overhead that the tp-1 graph table has not, which makes TP 2/4 look slower than TP 1 at
small prefills.
Communication: two all-reduces per layer, each `latency + bytes * s_per_byte` on a line
through two points per TP level (8 KiB and 1 MiB) and, past 1 MiB, bandwidth-bound at
`2 (t - 1) / t * bytes / bus` (the ring term of `toolkit.cost.comm`). The default points are those the notes' combined
estimate implies for SGLang's custom all-reduce on H100 NVSwitch (../shared/papers/nitsum.md
section 4); `formula` keeps `toolkit.cost.comm.AllReduceCost`'s ring model instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.core import ConfigError
from toolkit.cost import calibration as cal
from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.comm import AllReduceCost
from toolkit.cost.specs import ModelSpec, get_gpu_spec, get_model_spec
from toolkit.cost.swap import GATHER_BYTES_PER_S
from toolkit.cost.verify import VERIFY_JSONL

NVSWITCH_ALLREDUCE_US: dict[int, tuple[float, float]] = {
    2: (3.9, 20.0), 4: (3.75, 31.0), 8: (5.6, 33.8)}
"""Seconds (µs) of one all-reduce of 8 KiB and of 1 MiB by TP level: (combined − shard) / 64
of the notes' table (B=1 and B=128 of an 8B model). Within the notes' raw ranges for SGLang's
custom all-reduce (3.7-7.8 µs small, 20-34 µs at 1 MiB); the per-level split is inferred,
not measured (unverified)."""

SMALL_AR_BYTES, LARGE_AR_BYTES = 8192, 1 << 20
ALLREDUCE_BUS_BYTES_PER_S = 366e9
"""nccl-tests bus bandwidth on H100 NVSwitch (nitsum.md)."""


class MeasuredAllReduce:
    """Seconds of one iteration's all-reduces: `2 * num_layers` of `tokens * hidden * dtype`
    bytes each, every one `latency + bytes * s_per_byte` through the level's two points."""

    def __init__(self, model: ModelSpec, tp: int,
                 points_us: dict[int, tuple[float, float]] | None = None,
                 bus_bytes_per_s: float = ALLREDUCE_BUS_BYTES_PER_S) -> None:
        points_us = NVSWITCH_ALLREDUCE_US if points_us is None else points_us
        self.count = 2 * model.num_layers if tp > 1 else 0
        self.bytes_per_token = model.hidden_size * model.dtype_bytes
        if self.count and tp not in points_us:
            raise ConfigError("allreduce_points_us", f"no all-reduce points for tp={tp}; "
                              f"have {sorted(points_us)}")
        small, large = points_us.get(tp, (0.0, 0.0))
        self.s_per_byte = (large - small) * 1e-6 / (LARGE_AR_BYTES - SMALL_AR_BYTES)
        self.latency_s = small * 1e-6 - self.s_per_byte * SMALL_AR_BYTES
        self.large_s = large * 1e-6
        self.ring_s_per_byte = 2 * (tp - 1) / tp / bus_bytes_per_s if tp > 1 else 0.0

    def one_s(self, num_bytes: float) -> float:
        """Seconds of one all-reduce of `num_bytes`."""
        if num_bytes <= LARGE_AR_BYTES:
            return self.latency_s + self.s_per_byte * num_bytes
        return self.large_s + self.ring_s_per_byte * (num_bytes - LARGE_AR_BYTES)

    def __call__(self, num_tokens: int) -> float:
        if num_tokens <= 0 or not self.count:
            return 0.0
        return self.count * self.one_s(num_tokens * self.bytes_per_token)


def shard_times_ms(path: str = str(VERIFY_JSONL)) -> dict[int, dict[int, float]]:
    """`B_tpshard` rows: {tp: {batch: ms}} (one decode step of one GPU's shard, ctx 2048)."""
    out: dict[int, dict[int, float]] = {}
    for row in cal.jsonl_rows(path, "B_tpshard"):
        out.setdefault(int(row["tp"]), {})[int(row["B"])] = float(row["ms"])
    return out


class ShardRatio:
    """Compute time at `tp` over that at `from_tp` for an iteration of `num_tokens` tokens:
    the measured shard ratio (interpolated in log batch) up to the table's largest batch,
    then log-linearly to the ideal `from_tp / tp` at 2048 tokens and beyond."""

    def __init__(self, tp: int, from_tp: int,
                 shards: dict[int, dict[int, float]] | None = None) -> None:
        shards = shard_times_ms() if shards is None else shards
        if tp not in shards or from_tp not in shards:
            raise ConfigError("tp", f"no measured shard times for tp {tp} / {from_tp}; "
                              f"have {sorted(shards)}")
        batches = sorted(set(shards[tp]) & set(shards[from_tp]))
        self.ratios = [shards[tp][b] / shards[from_tp][b] for b in batches]
        self.xs = [math.log(b) for b in batches]
        self.top, self.far, self.ideal = self.xs[-1], math.log(2048), from_tp / tp

    def __call__(self, num_tokens: int) -> float:
        x = math.log(max(1, num_tokens))
        if x <= self.top:
            return float(np.interp(x, self.xs, self.ratios))
        w = min(1.0, (x - self.top) / (self.far - self.top))
        return self.ratios[-1] + w * (self.ideal - self.ratios[-1])


def shard_ratio(tp: int, from_tp: int, num_tokens: int,
                shards: dict[int, dict[int, float]] | None = None) -> float:
    """`ShardRatio(tp, from_tp, shards)(num_tokens)`."""
    return ShardRatio(tp, from_tp, shards)(num_tokens)


class TPCostModel(CostModel):
    """One TP group's iteration time at level `tp` (see the module docstring).

    `small_batch_gain` is Nitsum's superlinear small-batch TP speed-up (the blog: up to 3x,
    from smaller weight slices hitting in L2), which single-GPU shard measurements do not
    show: the compute of an iteration of n tokens at TP t is divided by `1 + (gain - 1) *
    (t - 1) / 7 * max(0, 1 - n / gain_crossover_batch)` (full gain at TP 8 and one token,
    none from `gain_crossover_batch` tokens on; the shape is ours).
    1.0 (the default) turns it off."""

    def __init__(self, model: str = "llama3-8b", gpu: str = "h200", tp: int = 1,
                 compute: str = "scaled", allreduce: str = "measured", small_batch_gain: float = 1.0,
                 gain_crossover_batch: int = 64,
                 allreduce_points_us: dict[int, tuple[float, float]] | None = None,
                 calibration_path: str | None = None) -> None:
        from toolkit.cost.profiled import ProfiledCostModel  # scipy-free import path first

        if tp < 1 or tp & (tp - 1):
            raise ConfigError("tp", f"tp must be a power of two >= 1, got {tp}")
        if small_batch_gain < 1.0 or gain_crossover_batch < 1:
            raise ConfigError("small_batch_gain", "need small_batch_gain >= 1 and "
                              f"gain_crossover_batch >= 1, got {small_batch_gain}, "
                              f"{gain_crossover_batch}")
        self.model, self.gpu, self.tp = get_model_spec(model), get_gpu_spec(gpu), tp
        if compute not in ("scaled", "tables"):
            raise ConfigError("compute", f"compute must be 'scaled' or 'tables', got {compute!r}")
        measured = _measured_tps(self.model.name, calibration_path)
        if compute == "scaled":
            measured = [t for t in measured if t == 1]
        lower = [t for t in measured if t <= tp]
        if not lower:
            raise ConfigError("tp", f"no profiled TP level <= {tp} for {self.model.name}; "
                              f"have {measured}")
        self.base_tp = max(lower)
        self.base = ProfiledCostModel(self.model.name, self.base_tp, self.gpu.name,
                                      calibration_path=calibration_path)
        self.base.allreduce = lambda num_tokens: 0.0
        if allreduce == "measured":
            self.allreduce = MeasuredAllReduce(self.model, tp, allreduce_points_us)
        elif allreduce == "formula":
            self.allreduce = AllReduceCost(self.model, self.gpu, tp)
        else:
            raise ConfigError("allreduce", f"allreduce must be 'measured' or 'formula', "
                              f"got {allreduce!r}")
        self.gain, self.crossover = small_batch_gain, gain_crossover_batch
        self.ratio = ShardRatio(tp, self.base_tp) if tp != self.base_tp else None

    def compute_s(self, batch: BatchShape) -> float:
        """The iteration's compute on one GPU of the group (no communication)."""
        t = self.base.iteration_s(batch)
        tokens = batch.num_new_tokens
        if self.ratio is not None:
            t *= self.ratio(tokens)
        if self.gain > 1.0 and self.tp > 1:
            t /= 1 + (self.gain - 1) * (self.tp - 1) / 7 * max(0.0, 1 - tokens / self.crossover)
        return t

    def iteration_s(self, batch: BatchShape) -> float:
        return self.compute_s(batch) + self.allreduce(batch.num_new_tokens)


def _measured_tps(model: str, calibration_path: str | None) -> list[int]:
    profile = cal.load_json(str(calibration_path or cal.PROFILE_FILE))
    return sorted(int(m["tp"]) for m in profile["models"] if m["model"] == model)


@dataclass(frozen=True)
class TPSwitchCost:
    """Seconds a TP group is down while it changes level.

    Naive (`reuse=False`): the new level's weights are rebuilt and loaded, `weight_bytes /
    reload_bytes_per_s` (default: ~30 s for a 14B model, the blog's figure), and the KV of
    running requests is lost (the simulator re-prefills them). With reuse (Nitsum): every
    GPU keeps the full weights, so the switch costs `reuse_overhead_s` plus the KV re-split,
    `moved_bytes / min(gather, link)` (gather and send overlap, so the slower one sets the
    pace). Defaults: the H200 gather kernel (1.54 TB/s, `C_kvgather`) and NVSwitch
    all-reduce bus bandwidth (366 GB/s); 15 ms overhead is Flying Serving's view switch
    [3p, unverified]."""

    reuse: bool = True
    reload_bytes_per_s: float = 28e9 / 30.0
    reuse_overhead_s: float = 0.015
    gather_bytes_per_s: float = GATHER_BYTES_PER_S
    link_bytes_per_s: float = ALLREDUCE_BUS_BYTES_PER_S

    def switch_s(self, model: ModelSpec, from_tp: int, to_tp: int, kv_tokens: int) -> float:
        """Downtime of one group going from `from_tp` to `to_tp` with `kv_tokens` tokens of KV
        spread over its GPUs."""
        if from_tp == to_tp:
            return 0.0
        if not self.reuse:
            return model.weight_bytes / self.reload_bytes_per_s
        return self.reuse_overhead_s + self.migration_s(model, from_tp, to_tp, kv_tokens)

    def group_down_s(self, model: ModelSpec, tp: int, kv_tokens_in: int) -> float:
        """Downtime of a new group of `tp` GPUs that receives `kv_tokens_in` tokens of KV
        from the groups it replaces: the reload (naive), or the overhead plus each GPU
        receiving its share (reuse)."""
        if not self.reuse:
            return model.weight_bytes / self.reload_bytes_per_s
        moved = kv_tokens_in * model.kv_bytes_per_token / tp
        return self.reuse_overhead_s + moved / min(self.gather_bytes_per_s, self.link_bytes_per_s)

    def migration_s(self, model: ModelSpec, from_tp: int, to_tp: int, kv_tokens: int) -> float:
        """KV re-split time: each GPU sends `1 - min/max` of its share of the KV."""
        gpus = max(from_tp, to_tp)
        moved = kv_tokens * model.kv_bytes_per_token / gpus * (1 - min(from_tp, to_tp) / gpus)
        return moved / min(self.gather_bytes_per_s, self.link_bytes_per_s)
