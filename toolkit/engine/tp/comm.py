"""What the driving rank tells the others: fixed-size command headers and packed step inputs.

Each message is a header of `HEADER_LEN` int64 (`Cmd` first) broadcast from the driving rank,
then, for some commands, one int64 payload whose size the header gives. A step's payload is
its flattened `StepInputs` (token ids, positions, slots, block tables, lengths), so the other
ranks run exactly the driving rank's batch without a scheduler of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import torch
import torch.distributed as dist

from toolkit.engine.attention import AttentionMetadata

HEADER_LEN = 8


class Cmd(IntEnum):
    STEP = 1  # [STEP, T, B, width, is_decode, max_q_len, all_reduce] + payload
    CONTROL = 2  # leave the step loop: a control message follows on the world group
    SHUTDOWN = 3
    SWITCH = 4  # [SWITCH, new_tp, num_live_blocks] + live block ids
    INSPECT = 5  # report weight and view storage to the client
    MIGRATE_OUT = 6  # [.., dst_leader, dst_tp, num_blocks] + block ids
    MIGRATE_IN = 7  # [.., src_leader, src_tp, num_blocks] + block ids
    REGROUP = 8  # [REGROUP, new_tp], then each surviving leader's live block ids


class GroupTable:
    """Process groups of contiguous rank ranges, made collectively at start-up (every rank
    must create every group, in the same order)."""

    def __init__(self, world_size: int, ranges: Sequence[tuple[int, ...]]) -> None:
        self.world_size = world_size
        self.groups: dict[tuple[int, ...], object] = {}
        for ranks in sorted(set(ranges)):
            if 1 < len(ranks) < world_size:
                self.groups[ranks] = dist.new_group(list(ranks))

    def get(self, ranks: Sequence[int]) -> object | None:
        """The group of `ranks`; None for a single rank; the default group for all ranks."""
        ranks = tuple(ranks)
        if len(ranks) <= 1:
            return None
        if len(ranks) == self.world_size:
            return dist.group.WORLD
        return self.groups[ranks]


def broadcast_ints(values: Sequence[int] | None, size: int, src: int, group: object,
                   device: torch.device) -> torch.Tensor:
    """Broadcast `size` int64 from global rank `src` (which passes `values`) over `group`."""
    if values is not None:
        buf = torch.as_tensor(list(values), dtype=torch.int64, device=device)
        if buf.numel() != size:
            raise ValueError(f"{buf.numel()} values for a message of {size}")
    else:
        buf = torch.empty(size, dtype=torch.int64, device=device)
    if size:
        dist.broadcast(buf, src, group=group)
    return buf


def send_header(cmd: Cmd, args: Sequence[int], src: int, group: object,
                device: torch.device) -> None:
    """Broadcast a command header from the driving rank `src`."""
    values = [int(cmd), *args] + [0] * (HEADER_LEN - 1 - len(args))
    broadcast_ints(values, HEADER_LEN, src, group, device)


def recv_header(src: int, group: object, device: torch.device) -> list[int]:
    """Receive a command header from `src` (blocks until one comes)."""
    return broadcast_ints(None, HEADER_LEN, src, group, device).tolist()


def pack_step(input_ids: torch.Tensor, positions: torch.Tensor, meta: AttentionMetadata,
              all_reduce: bool) -> tuple[list[int], torch.Tensor]:
    """(header args, int64 payload) of one step's inputs."""
    tables = meta.block_tables
    parts = [input_ids, positions, meta.slot_mapping, tables.reshape(-1), meta.seq_lens]
    if not meta.is_decode:
        parts.append(meta.cu_q_lens)
    payload = torch.cat([p.to(torch.int64) for p in parts])
    args = [input_ids.numel(), tables.shape[0], tables.shape[1], int(meta.is_decode),
            int(meta.max_q_len or 0), int(all_reduce)]
    return args, payload


def payload_size(header: Sequence[int]) -> int:
    """Int64 elements of a STEP header's payload."""
    _, t, b, width, is_decode = header[:5]
    return 3 * t + b * width + b + (0 if is_decode else b + 1)


def unpack_step(header: Sequence[int], payload: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, AttentionMetadata, bool]:
    """(input_ids, positions, meta, all_reduce) from a STEP header and its payload."""
    _, t, b, width, is_decode, max_q_len, all_reduce = header[:7]
    sizes = [t, t, t, b * width, b] + ([] if is_decode else [b + 1])
    ids, pos, slots, tables, lens, *cu = payload.split(sizes)
    meta = AttentionMetadata(
        slot_mapping=slots, block_tables=tables.view(b, width).to(torch.int32),
        seq_lens=lens.to(torch.int32), cu_q_lens=cu[0].to(torch.int32) if cu else None,
        is_decode=bool(is_decode), max_q_len=max_q_len)
    return ids, pos, meta, bool(all_reduce)


def regroup_world(state: Any, new_tp: int, live: list[int] | None) -> int:
    """Every rank of a tiled world, after a REGROUP header: each surviving instance's leader
    (one per block of max(old, new) ranks) broadcasts its live block ids (`live`: this
    rank's, used if it is one), then `RankState.regroup`; return the bytes moved."""
    world = dist.group.WORLD
    width = max(state.tp, new_tp)
    blocks: dict[int, list[int]] = {}
    for first in range(0, state.spec.world_size, width):
        mine = state.rank == first
        n = int(broadcast_ints([len(live or [])] if mine else None, 1, first, world,
                               state.device)[0])
        blocks[first] = (broadcast_ints(live if mine else None, n, first, world,
                                        state.device).tolist() if n else [])
    return state.regroup(new_tp, blocks)
