"""What a serving path adds to an engine's step times: a cost model around another one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from toolkit.cost.base import BatchShape, CostModel


class ServedCostModel(CostModel):
    """`base` served behind a path that adds `step_s` to every iteration and `token_s` per
    token the iteration streams out (every decode, and every prefill chunk: a chunk that does
    not finish its prompt streams nothing, so this slightly over-charges chunked prompts),
    and delays each request by `request_path_s` on its way to the engine (its trip back is
    folded in: the simulator's latencies only need the sum).

    Build it from a profile's measured `serving.http` entry with `from_entry`."""

    def __init__(self, base: CostModel, step_s: float, token_s: float,
                 request_path_s: float) -> None:
        for name, v in (("step_s", step_s), ("token_s", token_s),
                        ("request_path_s", request_path_s)):
            if not v >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        self.base = base
        self.step_s = float(step_s)
        self.token_s = float(token_s)
        self.request_path_s = float(request_path_s)

    @classmethod
    def from_entry(cls, base: CostModel, entry: Mapping[str, Any]) -> ServedCostModel:
        """From a `serving.<path>` entry (`step_s`, `token_s`, `request_s`)."""
        return cls(base, entry["step_s"], entry["token_s"], entry["request_s"])

    def iteration_s(self, batch: BatchShape) -> float:
        streamed = batch.num_decode + len(batch.prefill_new)
        return self.base.iteration_s(batch) + self.step_s + self.token_s * streamed

    def wake_s(self, idle_s: float) -> float:
        return self.base.wake_s(idle_s)

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        steps = self.base.decode_steps_s(num_decode, decode_ctx_sum, num_steps)
        return steps + (self.step_s + self.token_s * num_decode)
