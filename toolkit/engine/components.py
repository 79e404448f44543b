"""Assembling an engine's parts from its `EngineConfig`: model, tokenizer, KV pool, policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toolkit.cache.radix import RadixCache
from toolkit.core.policy import resolve_policy
from toolkit.engine.config import EngineConfig, ModelConfig
from toolkit.engine.loader import build_model
from toolkit.engine.model_runner import ModelRunner
from toolkit.engine.paged_kv import PagedKVManager
from toolkit.engine.speculation import Speculator
from toolkit.sched.base import LocalScheduler
from toolkit.spec.base import Drafter, NoDrafter
from toolkit.spec.budget import SpecBudget, UniformBudget

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineParts:
    model_config: ModelConfig
    tokenizer: Any
    runner: ModelRunner
    kv: PagedKVManager
    policy: LocalScheduler
    max_model_len: int
    eos_token_ids: tuple[int, ...]
    speculator: Speculator | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, cfg: ModelConfig) -> torch.dtype:
    return getattr(torch, cfg.dtype if name == "auto" else name)


def make_policy(config: EngineConfig) -> LocalScheduler:
    """The local scheduler `config.scheduler` is or describes (see `EngineConfig`)."""
    def fcfs() -> LocalScheduler:
        from toolkit.sched.fcfs import FCFSScheduler

        return FCFSScheduler(chunked_prefill=config.chunked_prefill, chunk_size=config.chunk_size,
                             max_prefill_tokens=config.max_prefill_tokens,
                             max_running=config.max_num_seqs)

    return resolve_policy(config.scheduler, LocalScheduler, "scheduler", fcfs)


def make_speculator(config: EngineConfig) -> Speculator | None:
    """The drafter and budget `config` describes; None without a drafter."""
    if config.drafter is None:
        return None
    drafter = resolve_policy(config.drafter, Drafter, "drafter")
    if isinstance(drafter, NoDrafter):
        return None
    budget = resolve_policy(config.spec_budget, SpecBudget, "spec_budget",
                            lambda: UniformBudget(config.num_speculative_tokens))
    return Speculator(drafter, budget, config.num_speculative_tokens)


def load_tokenizer(path: str | Path | None) -> Any:
    """A Hugging Face tokenizer from `path`, or None when there is none."""
    if path is None or not any(Path(path).glob("tokenizer*")):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def build_components(config: EngineConfig) -> EngineParts:
    """Load the model and tokenizer, size the KV pool, build the policy and the runner."""
    cfg = config.model_config or ModelConfig.from_pretrained(config.model)  # type: ignore[arg-type]
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, cfg)
    model = build_model(cfg, dtype, device, path=config.model, seed=config.seed)
    per_block = ModelRunner.kv_bytes_per_block(model, config.block_size, dtype)
    num_blocks = config.num_kv_blocks or max(1, config.kv_cache_bytes // per_block)
    max_len = min(config.max_model_len or cfg.max_position_embeddings,
                  cfg.max_position_embeddings, num_blocks * config.block_size)
    graphs = not config.enforce_eager and device.type == "cuda"
    runner = ModelRunner(model, num_blocks, config.block_size, max_len, graphs,
                         config.cuda_graph_batch_sizes)
    kv = PagedKVManager(num_blocks, config.block_size, RadixCache())
    tokenizer = load_tokenizer(config.tokenizer or config.model)
    eos = cfg.eos_token_id
    if not eos and tokenizer is not None and tokenizer.eos_token_id is not None:
        eos = (tokenizer.eos_token_id,)
    log.info("engine: %s on %s, %d KV blocks of %d tokens", cfg.dtype, device, num_blocks,
             config.block_size)
    return EngineParts(cfg, tokenizer, runner, kv, make_policy(config), max_len, eos,
                       make_speculator(config))
