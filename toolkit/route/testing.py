"""Test helpers: a `ClusterView` with settable numbers, a linear cost model, requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from toolkit.core.request import Request
from toolkit.cost.base import BatchShape, CostModel
from toolkit.route.base import EngineStats


@dataclass
class StaticView:
    """A `ClusterView` whose engines' stats and clock the caller sets directly."""

    engines: list[EngineStats] = field(default_factory=list)
    time_s: float = 0.0

    @classmethod
    def of(cls, num_engines: int, kv_capacity_tokens: int = 0, now_s: float = 0.0) -> StaticView:
        """`num_engines` idle, live engines of the given capacity."""
        stats = [EngineStats(i, kv_capacity_tokens=kv_capacity_tokens) for i in range(num_engines)]
        return cls(stats, now_s)

    @property
    def num_engines(self) -> int:
        return len(self.engines)

    @property
    def now_s(self) -> float:
        return self.time_s

    def stats(self, engine_id: int) -> EngineStats:
        return self.engines[engine_id]


class LinearCostModel(CostModel):
    """A tiny cost model for tests: `fixed_s + per_token_s · new tokens` per iteration,
    plus `per_decode_s` per decoded sequence (context length is ignored)."""

    def __init__(self, fixed_s: float = 1e-3, per_token_s: float = 1e-4,
                 per_decode_s: float = 1e-5) -> None:
        self.fixed_s = fixed_s
        self.per_token_s = per_token_s
        self.per_decode_s = per_decode_s

    def iteration_s(self, batch: BatchShape) -> float:
        return (self.fixed_s + self.per_token_s * sum(batch.prefill_new)
                + self.per_decode_s * batch.num_decode)


def make_request(rid: str | int, key: Sequence[int], arrival_s: float = 0.0,
                 output_len: int = 10) -> Request:
    """A token-id request with the given key."""
    return Request(str(rid), arrival_s, output_len, prompt_token_ids=tuple(key))
