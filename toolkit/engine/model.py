"""A Llama-family decoder in PyTorch: RMSNorm, RoPE, grouped-query attention, SwiGLU.

Parameter names follow Hugging Face's `LlamaForCausalLM` except two fused projections, as
in vLLM: `qkv_proj` (q, k, v rows stacked) and `gate_up_proj` (gate, up); the loader fills
their shards from the checkpoint's `q_proj`/`k_proj`/`v_proj` and `gate_proj`/`up_proj`
(`FUSED_PROJECTIONS`, `shard_rows`). One matmul instead of three (two) is one kernel instead of three (two) per
layer in a decode step, where launches rather than FLOPs set the time. Tokens arrive flattened
([T]) with their positions; RoPE tables are looked up once per step; attention goes through
the paged KV cache each `LlamaAttention` is bound to (`k_cache`, `v_cache`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.engine.attention import AttentionMetadata, paged_attention
from toolkit.engine.config import ModelConfig


class RMSNorm(nn.Module):
    """Root-mean-square layer norm, computed in float32 like Hugging Face's; given the residual
    stream it adds it first and returns (normed, new stream) (`llmserve_kernels.norm`: one Triton
    kernel on CUDA)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        from llmserve_kernels.norm import rms_norm

        return rms_norm(x, self.weight, self.eps, residual)


def rope_inv_freq(cfg: ModelConfig) -> torch.Tensor:
    """Inverse frequencies of rotary embeddings (default, or Llama 3's scaled ones)."""
    dim = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = cfg.rope_scaling
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise NotImplementedError(f"rope scaling {kind!r} is not supported")
    factor, old_len = scaling["factor"], scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old_len / low, inv / factor, inv)
    smooth = (old_len / wavelen - low) / (high - low)
    mid = (1 - smooth) * scaled / factor + smooth * scaled
    is_mid = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return torch.where(is_mid, mid, scaled)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for every position, applied in the rotate-half layout."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        pos = torch.arange(cfg.max_position_embeddings, dtype=torch.float32)
        freqs = pos[:, None] * rope_inv_freq(cfg)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def tables(self, positions: torch.Tensor, dtype: torch.dtype
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) [T, 1, D] in `dtype` for the step's positions (shared by every layer)."""
        return (self.cos[positions].unsqueeze(1).to(dtype),
                self.sin[positions].unsqueeze(1).to(dtype))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate heads x [T, H, D] (q and k heads together) by their positions' tables."""
    return x * cos + _rotate_half(x) * sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaAttention(nn.Module):
    """Grouped-query self-attention over the paged KV cache."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = d = cfg.head_dim
        self.scale = d**-0.5
        self.qkv_proj = nn.Linear(cfg.hidden_size, (self.num_heads + 2 * self.num_kv_heads) * d,
                                  bias=False)
        self.o_proj = nn.Linear(self.num_heads * d, cfg.hidden_size, bias=False)
        self.k_cache = torch.empty(0)
        self.v_cache = torch.empty(0)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                meta: AttentionMetadata) -> torch.Tensor:
        t, d, hq, hkv = x.shape[0], self.head_dim, self.num_heads, self.num_kv_heads
        qkv = self.qkv_proj(x).view(t, hq + 2 * hkv, d)
        qk = apply_rope(qkv[:, : hq + hkv], *rope)
        q, k, v = qk[:, :hq], qk[:, hq:], qkv[:, hq + hkv :]  # strided views, no copies
        out = paged_attention(q, k, v, self.k_cache, self.v_cache, meta, self.scale)
        return self.o_proj(out.reshape(t, hq * d))


class LlamaMLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None,
                rope: tuple[torch.Tensor, torch.Tensor], meta: AttentionMetadata
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(this layer's output, the residual stream before it): the sum of the two is the
        hidden state, added inside the next norm. `residual` is None for the first layer."""
        if residual is None:
            residual, h = x, self.input_layernorm(x)
        else:
            h, residual = self.input_layernorm(x, residual)
        h, residual = self.post_attention_layernorm(self.self_attn(h, rope, meta), residual)
        return self.mlp(h), residual


class LlamaModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(cfg)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        rope = self.rotary_emb.tables(positions, x.dtype)
        residual = None
        for layer in self.layers:
            x, residual = layer(x, residual, rope, meta)
        return self.norm(x, residual)[0] if residual is not None else self.norm(x)


FUSED_PROJECTIONS = ("qkv_proj", "gate_up_proj")
"""Projections stored fused here and as separate shards in a checkpoint (`shard_rows`)."""


def shard_rows(cfg: ModelConfig, fused: str) -> dict[str, tuple[int, int]]:
    """Rows (start, end) of each checkpoint shard inside a fused weight."""
    d, hq, hkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    if fused == "qkv_proj":
        return {"q_proj": (0, hq * d), "k_proj": (hq * d, (hq + hkv) * d),
                "v_proj": ((hq + hkv) * d, (hq + 2 * hkv) * d)}
    ffn = cfg.intermediate_size
    return {"gate_proj": (0, ffn), "up_proj": (ffn, 2 * ffn)}


class LlamaForCausalLM(nn.Module):
    """The decoder plus the LM head; `forward` returns hidden states, `compute_logits` the
    logits of the rows asked for (only the sampled positions need them)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                meta: AttentionMetadata) -> torch.Tensor:
        """Hidden states [T, hidden] of the flattened tokens `input_ids` [T]."""
        return self.model(input_ids, positions, meta)

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits [N, vocab] of hidden states [N, hidden]."""
        return self.lm_head(hidden).float()

    def attention_layers(self) -> list[LlamaAttention]:
        """The attention modules, in layer order (the runner binds their KV caches)."""
        return [layer.self_attn for layer in self.model.layers]
