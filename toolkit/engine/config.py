"""Engine and model configuration (plain dataclasses; a model's comes from `config.json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

_DTYPES = {"float32": "float32", "float": "float32", "bfloat16": "bfloat16",
           "float16": "float16", "half": "float16"}


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The shape of a Llama-family model (names follow Hugging Face's `LlamaConfig`)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None
    tie_word_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: tuple[int, ...] = ()
    dtype: str = "float32"
    initializer_range: float = 0.02

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> ModelConfig:
        """Read a Hugging Face `config.json` dict (transformers 4.x or 5.x spellings)."""
        heads = cfg["num_attention_heads"]
        rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
        theta = cfg.get("rope_theta", rope.get("rope_theta", 10000.0))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        eos = cfg.get("eos_token_id")
        eos_ids = () if eos is None else tuple(eos) if isinstance(eos, list) else (eos,)
        dtype = str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32").replace("torch.", "")
        return cls(
            vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=heads,
            num_key_value_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
            max_position_embeddings=cfg.get("max_position_embeddings", 2048),
            rms_norm_eps=cfg.get("rms_norm_eps", 1e-6), rope_theta=float(theta),
            rope_scaling=rope if rope_type != "default" else None,
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            bos_token_id=cfg.get("bos_token_id"), eos_token_id=eos_ids,
            dtype=_DTYPES.get(dtype, "float32"),
            initializer_range=cfg.get("initializer_range", 0.02),
        )

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ModelConfig:
        """Read `<path>/config.json`."""
        return cls.from_dict(json.loads((Path(path) / "config.json").read_text()))


@dataclass(slots=True)
class EngineConfig:
    """How one engine runs. `num_kv_blocks=None` sizes the KV pool from `kv_cache_bytes`.

    `scheduler` is a `LocalScheduler` object, or its config node (a mapping with `_target_`
    and its settings, see `toolkit.core.policy`), or None: FCFS built from
    `chunked_prefill`, `chunk_size` (the per-iteration token budget with chunked prefill on),
    `max_prefill_tokens` and `max_num_seqs`, which only that default reads.

    Pauses (requests added with `pause_after`): `pause_policy` is a `PausePolicy` object
    (`toolkit.sched.pause`), or its config node (a mapping with `_target_`), or None
    (preserve); `swap_space_tokens` is
    the host memory for swapped KV in token slots (None: as many as the GPU pool);
    `pause_timeout_s` fails a request whose tool has not returned in time (None: never);
    `pause_cost_model` (a `toolkit.cost` `CostModel`) gives the policy its iteration times,
    else they are measured.

    Speculative decoding: `drafter` is a `toolkit.spec.base.Drafter` or its config node
    (None: no speculation); `spec_budget` a `toolkit.spec.budget.SpecBudget` or its config
    node (None: `num_speculative_tokens` for every sequence), `num_speculative_tokens` the
    most draft tokens a sequence verifies in one step.
    """

    model: str | Path | None = None
    model_config: ModelConfig | None = None
    tokenizer: str | Path | None = None
    dtype: str = "auto"
    device: str = "auto"
    seed: int = 0
    block_size: int = 16
    num_kv_blocks: int | None = None
    kv_cache_bytes: int = 256 * 2**20
    enable_prefix_caching: bool = True
    chunked_prefill: bool = True
    chunk_size: int = 512
    max_prefill_tokens: int = 8192
    max_num_seqs: int = 64
    max_model_len: int | None = None
    scheduler: Any = None
    enforce_eager: bool = False
    cuda_graph_batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    engine_id: int = 0
    pause_policy: Any = None
    swap_space_tokens: int | None = None
    pause_timeout_s: float | None = None
    pause_cost_model: Any = None
    drafter: Any = None
    spec_budget: Any = None
    num_speculative_tokens: int = 4

    def __post_init__(self) -> None:
        if self.model is None and self.model_config is None:
            raise ValueError("EngineConfig needs `model` (a folder) or `model_config`")
        if self.block_size <= 0 or self.chunk_size <= 0 or self.max_num_seqs <= 0:
            raise ValueError("block_size, chunk_size and max_num_seqs must be positive")
        if self.num_kv_blocks is not None and self.num_kv_blocks <= 0:
            raise ValueError(f"num_kv_blocks must be positive, got {self.num_kv_blocks}")
        if self.swap_space_tokens is not None and self.swap_space_tokens < 0:
            raise ValueError(f"swap_space_tokens must be >= 0, got {self.swap_space_tokens}")
        if self.num_speculative_tokens < 1:
            raise ValueError(f"num_speculative_tokens must be >= 1, got "
                             f"{self.num_speculative_tokens}")
        if self.pause_timeout_s is not None and self.pause_timeout_s <= 0:
            raise ValueError(f"pause_timeout_s must be positive, got {self.pause_timeout_s}")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EngineConfig:
        """Build from keyword arguments, rejecting unknown names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"unknown engine options: {unknown}")
        return cls(**kwargs)
