"""A rank's paged KV cache at any TP level, and moving KV heads between ranks.

Every rank keeps storage for all KV heads of `num_blocks` blocks and views it as
[layers, 2, num_blocks, block_size, Hkv/t, D] at TP level t (block ids are global: the
driving rank's block manager hands out the same ids to every rank). When the level changes
(or a sequence migrates to another engine instance) each KV head's rows go from the rank
that held it to the rank that will: `head_moves` lists the head ranges, and `exchange` does
them, gathering the scattered blocks of one head range into one contiguous buffer with the
repo's block-gather kernel (`llmserve_kernels.kv_blocks`), sending it (point-to-point, any
torch.distributed backend) and scattering it into the receiver's blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.distributed as dist

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks
from toolkit.engine.config import ModelConfig
from toolkit.engine.tp.shard import split_range

KV_TAG = 7
"""Point-to-point tag of KV buffers (metadata messages use other tags)."""


class RankKVCache:
    """One rank's KV storage: room for every KV head, viewed per TP level."""

    def __init__(self, cfg: ModelConfig, num_blocks: int, block_size: int,
                 dtype: torch.dtype, device: torch.device) -> None:
        self.config = cfg
        self.num_blocks = num_blocks
        self.block_size = block_size
        numel = (cfg.num_hidden_layers * 2 * num_blocks * block_size * cfg.num_key_value_heads
                 * cfg.head_dim)
        self.storage = torch.zeros(numel, dtype=dtype, device=device)

    def view(self, tp: int) -> torch.Tensor:
        """The cache as [layers, 2, num_blocks, block_size, Hkv/tp, D] (the same storage)."""
        cfg = self.config
        shape = (cfg.num_hidden_layers, 2, self.num_blocks, self.block_size,
                 cfg.num_key_value_heads // tp, cfg.head_dim)
        return self.storage[:math.prod(shape)].view(shape)

    def bytes_per_token(self, num_heads: int | None = None) -> int:
        """K and V bytes of one token over all layers (all KV heads by default)."""
        cfg = self.config
        heads = cfg.num_key_value_heads if num_heads is None else num_heads
        return 2 * cfg.num_hidden_layers * heads * cfg.head_dim * self.storage.element_size()


class HeadMove(NamedTuple):
    """Global KV heads [start, end) go from global rank `src` to global rank `dst`."""

    src: int
    dst: int
    start: int
    end: int


def head_moves(num_kv_heads: int, src_ranks: Sequence[int],
               dst_ranks: Sequence[int]) -> list[HeadMove]:
    """The head ranges to move when the KV heads split evenly over `src_ranks` (in order) are
    to be split evenly over `dst_ranks`; a move with src == dst stays on its rank."""
    moves = []
    for i, src in enumerate(src_ranks):
        s0, s1 = split_range(num_kv_heads, len(src_ranks), i)
        for j, dst in enumerate(dst_ranks):
            d0, d1 = split_range(num_kv_heads, len(dst_ranks), j)
            if max(s0, d0) < min(s1, d1):
                moves.append(HeadMove(src, dst, max(s0, d0), min(s1, d1)))
    return moves


def _rows(cache: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Local heads [start, end) of `cache` as rows [layers * 2 * num_blocks, bs, h, D] (a view
    of the same storage)."""
    return cache[..., start:end, :].view(-1, cache.shape[3], end - start, cache.shape[5])


def _row_ids(cache: torch.Tensor, block_ids: Sequence[int]) -> torch.Tensor:
    """Ids in `_rows(cache, ...)` of blocks `block_ids` in every (layer, K/V) plane."""
    planes = torch.arange(cache.shape[0] * 2, dtype=torch.int64)
    ids = torch.as_tensor(list(block_ids), dtype=torch.int64)
    return (planes[:, None] * cache.shape[2] + ids[None, :]).reshape(-1).to(cache.device)


def _impl(rows: torch.Tensor) -> str | None:
    """The kernel needs each block's elements contiguous: a part of the heads is not."""
    return None if rows.shape[0] == 0 or rows[0].is_contiguous() else "reference"


def gather_heads(cache: torch.Tensor, block_ids: Sequence[int], start: int,
                 end: int) -> torch.Tensor:
    """Local heads [start, end) of blocks `block_ids` in every layer, K and V, gathered into
    one new contiguous tensor [layers * 2 * len(block_ids), bs, end - start, D]."""
    rows = _rows(cache, start, end)
    return gather_kv_blocks(rows, _row_ids(cache, block_ids), impl=_impl(rows))


def scatter_heads(cache: torch.Tensor, block_ids: Sequence[int], start: int, end: int,
                  src: torch.Tensor) -> None:
    """Write `src` (as `gather_heads` returns it) into local heads [start, end) of blocks
    `block_ids` of `cache`, in place."""
    rows = _rows(cache, start, end)
    scatter_kv_blocks(rows, _row_ids(cache, block_ids), src, impl=_impl(rows))


def exchange(rank: int, moves: Sequence[HeadMove], old_cache: torch.Tensor | None,
             old_first_head: int, src_blocks: Sequence[int],
             new_cache: Callable[[], torch.Tensor], new_first_head: int,
             dst_blocks: Sequence[int]) -> int:
    """Do this rank's part of `moves`; return the bytes it sent.

    `old_cache` holds this rank's heads before (global head `old_first_head` at local 0) in
    blocks `src_blocks`; `new_cache()` gives the cache that holds its heads after (called
    once every gather is done, so it may re-view the same storage) and the heads go into
    blocks `dst_blocks` (row i of `src_blocks` -> row i of `dst_blocks`).
    """
    mine_out = [m for m in moves if m.src == rank]
    bufs: dict[HeadMove, torch.Tensor] = {}
    requests, sent = [], 0
    for m in mine_out:
        assert old_cache is not None
        buf = gather_heads(old_cache, src_blocks, m.start - old_first_head,
                           m.end - old_first_head)
        if m.dst == rank:
            bufs[m] = buf
        else:
            requests.append(dist.isend(buf, m.dst, tag=KV_TAG))
            sent += buf.numel() * buf.element_size()
    incoming = [m for m in moves if m.dst == rank and m.src != rank]
    if incoming:
        cache = new_cache()
        rows = cache.shape[0] * 2 * len(dst_blocks)
        for m in incoming:
            buf = torch.empty(rows, cache.shape[3], m.end - m.start, cache.shape[5],
                              dtype=cache.dtype, device=cache.device)
            requests.append(dist.irecv(buf, m.src, tag=KV_TAG))
            bufs[m] = buf
    for req in requests:
        req.wait()
    if any(m.dst == rank for m in moves):
        cache = new_cache()
        for m, buf in bufs.items():
            scatter_heads(cache, dst_blocks, m.start - new_first_head,
                          m.end - new_first_head, buf)
    return sent

