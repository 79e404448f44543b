"""The cost-model contract: seconds for one engine iteration of a given batch shape."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np


class BatchShape(NamedTuple):
    """The shape of one engine iteration.

    Prefill chunk i computes `prefill_new[i]` new tokens attending to `prefill_ctx[i]`
    tokens already in the KV cache (prefix-cache hits and earlier chunks). The decode part
    runs `num_decode` sequences one token each, with `decode_ctx_sum` context tokens in all.
    """

    prefill_new: tuple[int, ...] = ()
    prefill_ctx: tuple[int, ...] = ()
    num_decode: int = 0
    decode_ctx_sum: int = 0

    @property
    def num_new_tokens(self) -> int:
        return sum(self.prefill_new) + self.num_decode


class CostModel(ABC):
    """Iteration times of one engine (one GPU, or one tensor-parallel group)."""

    request_path_s: float = 0.0
    """Seconds a request spends on the serving path (client, proxy, server) outside the
    engine's iterations; the simulator delays its arrival at the engine by this much."""

    @abstractmethod
    def iteration_s(self, batch: BatchShape) -> float:
        """Seconds for one iteration; a batch mixing prefill chunks and decodes is one
        iteration (weights are read once)."""

    def prefill_s(self, num_new: int, num_cached: int = 0) -> float:
        """Seconds to prefill one sequence's `num_new` tokens over `num_cached` cached ones."""
        return self.iteration_s(BatchShape((num_new,), (num_cached,)))

    def decode_s(self, batch_size: int, ctx_len: int) -> float:
        """Seconds for one decode step of `batch_size` sequences of `ctx_len` context each."""
        return self.iteration_s(BatchShape(num_decode=batch_size, decode_ctx_sum=batch_size * ctx_len))

    def wake_s(self, idle_s: float) -> float:
        """Extra seconds the first iteration after `idle_s` of idleness takes (cold caches,
        CPU power states); 0 unless a profile measured it."""
        return 0.0

    def decode_steps_s(self, num_decode: int, decode_ctx_sum: int, num_steps: int) -> np.ndarray:
        """Durations of `num_steps` consecutive pure-decode steps; each step adds one token
        to every sequence's context. Subclasses may vectorise this."""
        return np.array(
            [
                self.iteration_s(BatchShape(num_decode=num_decode, decode_ctx_sum=decode_ctx_sum + j * num_decode))
                for j in range(num_steps)
            ]
        )
