"""Host memory for swapped-out KV blocks, and the engine's `PauseTiming`.

`HostSwapSpace` holds the KV of paused requests whose policy chose SWAP. Swapping out gathers
the request's blocks of every layer (K and V) into one contiguous tensor with
`llmserve_kernels.kv_blocks.gather_kv_blocks` and copies it to host memory (pinned when the cache is
on CUDA); swapping in scatters it back into newly allocated blocks with `scatter_kv_blocks`.
Unbudgeted copies are synchronous (the engine waits for them) and timed; budgeted ones
go a part at a time through `toolkit.engine.swap_queue`. Capacity is counted in token
slots of whole blocks; a buffer is allocated per swap (PyTorch's caching host allocator
reuses pinned memory), so unused swap space costs nothing.

`EnginePauseTiming` answers a pause policy's time questions. With a `CostModel` it asks the
model for iteration times; otherwise it fits `t = c + a * query_tokens` to the measured
iteration times (exponentially weighted least squares: InferCept's own iteration model is
linear in query tokens). Swap times always come from the measured copy bandwidth, an
exponential moving average over the engine's swaps (a PCIe-like prior before the first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks


@dataclass(slots=True)
class SwappedKV:
    """One request's KV in host memory: `num_blocks` blocks holding `num_tokens` tokens,
    as a [layers, 2, num_blocks, block_size, kv_heads, head_dim] tensor."""

    data: torch.Tensor
    num_blocks: int
    num_tokens: int


class HostSwapSpace:
    """Host-memory KV storage of `capacity_tokens` token slots (whole blocks)."""

    def __init__(self, capacity_tokens: int, block_size: int) -> None:
        if capacity_tokens < 0:
            raise ValueError(f"swap space must be >= 0 tokens, got {capacity_tokens}")
        self.block_size = block_size
        self.capacity_blocks = capacity_tokens // block_size
        self.used_blocks = 0

    @property
    def free_tokens(self) -> int:
        return (self.capacity_blocks - self.used_blocks) * self.block_size

    @property
    def used_tokens(self) -> int:
        return self.used_blocks * self.block_size

    def can_hold(self, num_blocks: int) -> bool:
        return self.used_blocks + num_blocks <= self.capacity_blocks

    def reserve(self, kv_cache: torch.Tensor, num_blocks: int, num_tokens: int) -> SwappedKV:
        """Host space (a buffer shaped like `num_blocks` blocks of every layer) for a copy out
        made a part at a time (`copy_out`); raises if the space is full."""
        if not self.can_hold(num_blocks):
            raise RuntimeError(f"swap space full: {num_blocks} blocks, {self.free_tokens} "
                               "tokens free")
        shape = (*kv_cache.shape[:2], num_blocks, *kv_cache.shape[3:])
        host = torch.empty(shape, dtype=kv_cache.dtype, device="cpu",
                           pin_memory=kv_cache.is_cuda)
        self.used_blocks += num_blocks
        return SwappedKV(host, num_blocks, num_tokens)

    def copy_out(self, kv_cache: torch.Tensor, swapped: SwappedKV, block_ids: list[int],
                 start: int) -> None:
        """Copy GPU blocks `block_ids` (every layer, K and V) into `swapped`'s host blocks
        from `start` on; asynchronous on CUDA (the caller synchronizes)."""
        k = len(block_ids)
        rows = gather_kv_blocks(_flat(kv_cache), _row_ids(kv_cache, block_ids))
        rows = rows.view(*kv_cache.shape[:2], k, *kv_cache.shape[3:])
        swapped.data[:, :, start:start + k].copy_(rows, non_blocking=kv_cache.is_cuda)

    def copy_in(self, kv_cache: torch.Tensor, swapped: SwappedKV, block_ids: list[int],
                start: int) -> None:
        """Copy `swapped`'s host blocks from `start` on into GPU blocks `block_ids`;
        asynchronous on CUDA (the caller synchronizes and frees the host space)."""
        k = len(block_ids)
        part = swapped.data[:, :, start:start + k].to(kv_cache.device, non_blocking=True)
        scatter_kv_blocks(_flat(kv_cache), _row_ids(kv_cache, block_ids),
                          part.reshape(-1, *kv_cache.shape[3:]))

    def swap_out(self, kv_cache: torch.Tensor, block_ids: list[int], num_tokens: int
                 ) -> SwappedKV:
        """Copy blocks `block_ids` of `kv_cache` [layers, 2, blocks, ...] to host memory at
        once (the caller frees them on the GPU afterwards); raises if the space is full."""
        swapped = self.reserve(kv_cache, len(block_ids), num_tokens)
        self.copy_out(kv_cache, swapped, block_ids, 0)
        _sync(kv_cache)
        return swapped

    def swap_in(self, kv_cache: torch.Tensor, swapped: SwappedKV, block_ids: list[int]) -> None:
        """Copy `swapped` into blocks `block_ids` of `kv_cache` and free its host space."""
        if len(block_ids) != swapped.num_blocks:
            raise ValueError(f"{len(block_ids)} blocks for {swapped.num_blocks} swapped ones")
        self.copy_in(kv_cache, swapped, block_ids, 0)
        _sync(kv_cache)
        self.free(swapped)

    def free(self, swapped: SwappedKV) -> None:
        """Give back the host space of `swapped` (dropped without copying it back)."""
        self.used_blocks -= swapped.num_blocks
        swapped.num_blocks = 0
        swapped.data = swapped.data[:, :, :0]

    def check_integrity(self, swapped: list[SwappedKV]) -> None:
        """Assert the used space is exactly that of the live swapped requests."""
        assert 0 <= self.used_blocks <= self.capacity_blocks
        assert sum(s.num_blocks for s in swapped) == self.used_blocks


def _flat(kv_cache: torch.Tensor) -> torch.Tensor:
    """The cache as rows of one block of one layer's K or V: [layers * 2 * blocks, ...]."""
    return kv_cache.view(-1, *kv_cache.shape[3:])


def _row_ids(kv_cache: torch.Tensor, block_ids: list[int]) -> torch.Tensor:
    """Row ids in `_flat(kv_cache)` of the blocks in every layer, (layer, K/V, block) order."""
    num_blocks = kv_cache.shape[2]
    planes = torch.arange(kv_cache.shape[0] * kv_cache.shape[1], dtype=torch.int64)
    ids = torch.tensor(block_ids, dtype=torch.int64)
    return (planes[:, None] * num_blocks + ids[None, :]).reshape(-1).to(kv_cache.device)


def _sync(t: torch.Tensor) -> None:
    if t.is_cuda:
        torch.cuda.synchronize(t.device)


class EnginePauseTiming:
    """`PauseTiming` of a real engine: a cost model's iteration times, or measured ones;
    measured swap bandwidth. `observe_*` feed the measurements."""

    def __init__(self, kv_bytes_per_token: int, cost_model: Any = None, decay: float = 0.9,
                 prior_swap_bytes_per_s: float = 16e9, prior_fwd: tuple[float, float] = (
                     0.01, 5e-5)) -> None:
        self.cost_model = cost_model
        self.decay = decay
        self.swap_tokens_per_s = prior_swap_bytes_per_s / max(kv_bytes_per_token, 1)
        self._num_swaps = 0
        self.fwd_c, self.fwd_a = prior_fwd
        self._sums = [0.0] * 5  # weighted n, x, y, xx, xy

    def observe_iteration(self, num_query_tokens: int, seconds: float) -> None:
        """Add one measured iteration and refit `t = c + a * query_tokens`."""
        d = self.decay
        x, y = float(num_query_tokens), float(seconds)
        self._sums = [s * d + v for s, v in zip(self._sums, (1.0, x, y, x * x, x * y))]
        n, sx, sy, sxx, sxy = self._sums
        var = n * sxx - sx * sx
        if var > 1e-9 * max(n * sxx, 1.0):
            self.fwd_a = max((n * sxy - sx * sy) / var, 0.0)
            self.fwd_c = max((sy - self.fwd_a * sx) / n, 0.0)
        else:  # one query size seen so far: keep the slope, fit the level
            self.fwd_c = max(sy / n - self.fwd_a * sx / n, 0.0)

    def observe_swap(self, num_tokens: int, seconds: float) -> None:
        """Add one measured one-way copy of `num_tokens` tokens."""
        if num_tokens <= 0 or seconds <= 0:
            return
        rate = num_tokens / seconds
        w = 1.0 if self._num_swaps == 0 else 1.0 - self.decay
        self.swap_tokens_per_s += w * (rate - self.swap_tokens_per_s)
        self._num_swaps += 1

    def fwd_s(self, num_query_tokens: int, num_context_tokens: int) -> float:
        """One iteration of `num_query_tokens` over `num_context_tokens` in all."""
        if self.cost_model is not None:
            from toolkit.cost.base import BatchShape

            cached = max(num_context_tokens - num_query_tokens, 0)
            return self.cost_model.iteration_s(BatchShape((num_query_tokens,), (cached,)))
        return self.fwd_c + self.fwd_a * num_query_tokens

    def swap_s(self, num_tokens: int) -> float:
        return num_tokens / self.swap_tokens_per_s

    def swap_tokens_within_s(self, seconds: float) -> int:
        return max(int(seconds * self.swap_tokens_per_s), 0)


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    """(fn(*args), wall seconds it took)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0
