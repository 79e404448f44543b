"""One rank of a tensor-parallel engine: its full weights, its KV storage, its current shard.

Ranks are laid out as `num_instances` engine instances of `tp` contiguous ranks each
(instance i on ranks [i*tp, (i+1)*tp), its leader the first); with one instance the TP level
can change at run time and the ranks past it wait, idle, for the next switch.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from toolkit.engine.components import resolve_dtype
from toolkit.engine.config import EngineConfig, ModelConfig
from toolkit.engine.loader import build_model
from toolkit.engine.model_runner import ModelRunner
from toolkit.engine.tp.comm import GroupTable
from toolkit.engine.tp.kv import RankKVCache, exchange, head_moves
from toolkit.engine.tp.shard import ShardedLlama, check_tp, split_range


@dataclass(slots=True)
class WorkerSpec:
    """Everything a rank process needs to start (picklable)."""

    config: EngineConfig
    model_config: ModelConfig
    world_size: int
    tp: int
    num_instances: int
    backend: str
    init_method: str
    timeout_s: float
    num_threads: int
    tiled: bool = False

    def tp_levels(self) -> list[int]:
        """The TP levels this world can run: one instance, every level that splits the
        model and fits the world; tiled (instances cover the world), every such level that
        divides it; several fixed instances, only `tp`."""
        if self.num_instances > 1 and not self.tiled:
            return [self.tp]
        levels = []
        for t in range(1, self.world_size + 1):
            try:
                check_tp(self.model_config, t)
            except ValueError:
                continue
            if not self.tiled or self.world_size % t == 0:
                levels.append(t)
        return levels


def rank_device(backend: str, device: str, rank: int) -> torch.device:
    """NCCL ranks use one GPU each; other backends use `device` ('auto': the CPU)."""
    if backend == "nccl":
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu" if device == "auto" else device)


class RankState:
    """A rank's model, KV storage and shard; `tp` is its instance's current level."""

    def __init__(self, rank: int, spec: WorkerSpec) -> None:
        self.rank, self.spec = rank, spec
        cfg, config = spec.model_config, spec.config
        self.device = rank_device(spec.backend, config.device, rank)
        dtype = resolve_dtype(config.dtype, cfg)
        self.model = build_model(cfg, dtype, self.device, path=config.model, seed=config.seed)
        per_block = ModelRunner.kv_bytes_per_block(self.model, config.block_size, dtype)
        self.num_blocks = config.num_kv_blocks or max(1, config.kv_cache_bytes // per_block)
        self.kv = RankKVCache(cfg, self.num_blocks, config.block_size, dtype, self.device)
        levels = spec.tp_levels()
        self.tp, self.num_instances = spec.tp, spec.num_instances
        instances = [self.instance_ranks(i, spec.tp) for i in range(spec.num_instances)]
        if spec.tiled:  # every aligned block of every level: the instances of any layout
            instances = [self.instance_ranks(i, t) for t in levels
                         for i in range(spec.world_size // t)]
        self.groups = GroupTable(spec.world_size,
                                 [tuple(range(t)) for t in levels] + instances)
        self.shard: ShardedLlama | None = None
        self._take_shard()

    # -- layout --------------------------------------------------------------------------
    def instance_ranks(self, instance: int, tp: int | None = None) -> tuple[int, ...]:
        t = self.tp if tp is None else tp
        return tuple(range(instance * t, (instance + 1) * t))

    @property
    def active(self) -> bool:
        return self.rank < self.num_instances * self.tp

    @property
    def instance(self) -> int:
        return self.rank // self.tp

    @property
    def leader(self) -> int:
        """Global rank of this rank's instance leader."""
        return self.instance * self.tp

    @property
    def is_leader(self) -> bool:
        return self.active and self.rank == self.leader

    @property
    def group(self) -> Any:
        """This rank's instance group (None at tp=1)."""
        return self.groups.get(self.instance_ranks(self.instance))

    def _take_shard(self) -> None:
        """Views for the current level (none while idle)."""
        reduce = self._all_reduce if self.tp > 1 else None
        self._group = self.group if self.active else None
        if not self.active:
            self.shard = None
        elif self.shard is None:
            self.shard = ShardedLlama(self.model, self.tp, self.rank - self.leader,
                                      self.kv_view(), reduce)
        else:
            self.shard.set_shard(self.tp, self.rank - self.leader, self.kv_view(), reduce)

    def _all_reduce(self, t: torch.Tensor) -> None:
        dist.all_reduce(t, group=self._group)

    def kv_view(self) -> torch.Tensor:
        return self.kv.view(self.tp)

    def first_head(self, tp: int, ranks: tuple[int, ...]) -> int:
        """Global index of this rank's first KV head in `ranks` at level `tp` (0 outside)."""
        if self.rank not in ranks:
            return 0
        return split_range(self.spec.model_config.num_key_value_heads, tp,
                           ranks.index(self.rank))[0]

    # -- collective operations -----------------------------------------------------------
    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, meta: Any,
                all_reduce: bool = True) -> torch.Tensor:
        """This rank's part of one step (the reductions skipped when `all_reduce` is False)."""
        assert self.shard is not None, f"rank {self.rank} is idle at tp={self.tp}"
        return self.shard.forward(input_ids, positions, meta, all_reduce=all_reduce)

    def switch(self, new_tp: int, live_blocks: list[int]) -> int:
        """Re-split the KV heads of `live_blocks` for `new_tp` (every rank of the world calls
        it) and take the new shard; return the bytes all ranks sent."""
        return self.regroup(new_tp, {0: live_blocks})

    def regroup(self, new_tp: int, live: dict[int, list[int]]) -> int:
        """Every rank of the world: re-split the KV heads of each surviving instance's live
        blocks (`live[leader]`) from its ranks at the current level to its ranks at `new_tp`
        (the same leader: one old instance per block of max(old, new) ranks keeps its
        requests), take the new shard, and re-lay the instances (tiled: the world at
        `new_tp`; otherwise one instance). Return the bytes all ranks sent."""
        old_tp, hkv = self.tp, self.spec.model_config.num_key_value_heads
        width = max(old_tp, new_tp)
        first = self.rank // width * width if self.spec.tiled else 0
        live_blocks = live.get(first, [])
        old = tuple(range(first, first + old_tp))
        new = tuple(range(first, first + new_tp))
        moves = head_moves(hkv, old, new)
        old_cache = self.kv.view(old_tp) if self.rank in old else None
        sent = exchange(self.rank, moves, old_cache, self.first_head(old_tp, old), live_blocks,
                        lambda: self.kv.view(new_tp), self.first_head(new_tp, new), live_blocks)
        self.tp = new_tp
        if self.spec.tiled:
            self.num_instances = self.spec.world_size // new_tp
        self._take_shard()
        total = torch.tensor([sent], dtype=torch.int64, device=self.device)
        dist.all_reduce(total)  # also the point where every rank has resumed
        return int(total.item())

    def migrate(self, src_leader: int, dst_leader: int, src_blocks: list[int],
                dst_blocks: list[int]) -> int:
        """This rank's part of moving KV blocks from instance `src_leader`'s ranks to
        instance `dst_leader`'s (the same TP level); return the bytes it sent."""
        hkv, tp = self.spec.model_config.num_key_value_heads, self.tp
        src = self.instance_ranks(src_leader // tp)
        dst = self.instance_ranks(dst_leader // tp)
        old_cache = self.kv_view() if self.rank in src else None
        return exchange(self.rank, head_moves(hkv, src, dst), old_cache,
                        self.first_head(tp, src), src_blocks, self.kv_view,
                        self.first_head(tp, dst), dst_blocks)

    def inspect(self) -> dict[str, Any]:
        """Where the weights and the current shard's views live (storage pointers)."""
        params = {n: p.untyped_storage().data_ptr() for n, p in self.model.named_parameters()}
        shard_views = self.shard.views if self.shard is not None else []
        views = [v.untyped_storage().data_ptr() for lv in shard_views for v in lv]
        return {"rank": self.rank, "tp": self.tp, "active": self.active,
                "param_storage": params, "view_storage": views,
                "kv_storage": self.kv.storage.untyped_storage().data_ptr(),
                "kv_shape": tuple(self.kv_view().shape)}


def init_distributed(rank: int, spec: WorkerSpec) -> None:
    """Join the process group (backend and rendezvous from `spec`)."""
    torch.set_num_threads(spec.num_threads)
    dist.init_process_group(spec.backend, init_method=spec.init_method, rank=rank,
                            world_size=spec.world_size,
                            timeout=datetime.timedelta(seconds=spec.timeout_s))
