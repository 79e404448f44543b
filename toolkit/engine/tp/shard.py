"""Tensor-parallel forward of the engine's Llama by views of one full copy of the weights.

Nitsum's weight reuse: every rank holds the whole model, and TP level t on rank r < t is a
choice of views, not a copy. Rank r computes

- attention heads [r*H/t, (r+1)*H/t) and KV heads [r*Hkv/t, (r+1)*Hkv/t): rows of the fused
  `qkv_proj` weight (its q, k and v parts), and the matching columns of `o_proj`;
- columns [r*F/t, (r+1)*F/t) of the feed-forward: rows of both halves of `gate_up_proj` and
  the matching columns of `down_proj`;

and the partial outputs of `o_proj` and `down_proj` are summed by two all-reduces per layer
over the t active ranks. Embeddings, norms, rotary tables and `lm_head` are replicated: every
active rank computes them in full (only the driving rank needs the logits). Query head j of a
rank reads its KV head j // (H/Hkv), the same grouping as the full model, so the rank's paged
KV cache holds only its Hkv/t heads. Switching TP level picks other views (`layer_views`);
no weight is copied, moved or reloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from toolkit.engine.attention import AttentionMetadata, paged_attention
from toolkit.engine.config import ModelConfig
from toolkit.engine.model import LlamaDecoderLayer, LlamaForCausalLM, apply_rope

AllReduce = Callable[[torch.Tensor], None]
"""Sums a tensor in place over the active ranks."""


def check_tp(cfg: ModelConfig, tp: int) -> None:
    """Raise ValueError (naming `tp`) unless `tp` splits the KV heads and the feed-forward."""
    if tp < 1:
        raise ValueError(f"tp must be >= 1, got {tp}")
    if cfg.num_key_value_heads % tp or cfg.intermediate_size % tp:
        raise ValueError(f"tp={tp} must divide num_key_value_heads "
                         f"({cfg.num_key_value_heads}) and intermediate_size "
                         f"({cfg.intermediate_size})")


def split_range(total: int, tp: int, rank: int) -> tuple[int, int]:
    """[start, end) of rank `rank`'s equal share of `total` items at TP level `tp`."""
    if not 0 <= rank < tp:
        raise ValueError(f"rank {rank} is not active at tp={tp}")
    per = total // tp
    return rank * per, (rank + 1) * per


class LayerViews(NamedTuple):
    """One layer's weights for one (TP level, rank): views into the full weights."""

    q: torch.Tensor  # [H/t * D, hidden]: rows of qkv_proj
    kv: torch.Tensor  # [2, Hkv/t * D, hidden]: the k rows and the v rows of qkv_proj
    o: torch.Tensor  # [hidden, H/t * D]: columns of o_proj
    gate_up: torch.Tensor  # [2, F/t, hidden]: rows of the gate half and of the up half
    down: torch.Tensor  # [hidden, F/t]: columns of down_proj


def layer_views(layer: LlamaDecoderLayer, cfg: ModelConfig, tp: int, rank: int) -> LayerViews:
    """Rank `rank`'s shard of `layer` at TP level `tp`, as views (no copy)."""
    d, hq, hkv, ffn = (cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads,
                       cfg.intermediate_size)
    q0, q1 = split_range(hq, tp, rank)
    k0, k1 = split_range(hkv, tp, rank)
    f0, f1 = split_range(ffn, tp, rank)
    qkv = layer.self_attn.qkv_proj.weight
    kv = qkv[hq * d:].view(2, hkv * d, cfg.hidden_size)[:, k0 * d:k1 * d]
    gate_up = layer.mlp.gate_up_proj.weight.view(2, ffn, cfg.hidden_size)[:, f0:f1]
    return LayerViews(q=qkv[q0 * d:q1 * d], kv=kv,
                      o=layer.self_attn.o_proj.weight[:, q0 * d:q1 * d], gate_up=gate_up,
                      down=layer.mlp.down_proj.weight[:, f0:f1])


class ShardedLlama:
    """The forward pass of rank `rank` at TP level `tp` over its own paged KV cache.

    `kv_cache` is the rank's [layers, 2, num_blocks, block_size, Hkv/t, D] tensor;
    `all_reduce` sums over the active ranks (None: no reduction, right only at tp=1).
    """

    def __init__(self, model: LlamaForCausalLM, tp: int, rank: int, kv_cache: torch.Tensor,
                 all_reduce: AllReduce | None) -> None:
        self.model = model
        self.config = model.config
        self.set_shard(tp, rank, kv_cache, all_reduce)

    def set_shard(self, tp: int, rank: int, kv_cache: torch.Tensor,
                  all_reduce: AllReduce | None) -> None:
        """Switch to another TP level / rank: new views and KV cache, the same weights."""
        check_tp(self.config, tp)
        cfg = self.config
        if kv_cache.shape[4] != cfg.num_key_value_heads // tp:
            raise ValueError(f"kv_cache holds {kv_cache.shape[4]} heads, tp={tp} needs "
                             f"{cfg.num_key_value_heads // tp}")
        self.tp, self.rank = tp, rank
        self.num_heads = cfg.num_attention_heads // tp
        self.num_kv_heads = cfg.num_key_value_heads // tp
        self.views = [layer_views(layer, cfg, tp, rank) for layer in self.model.model.layers]
        self.kv_cache = kv_cache
        self.all_reduce = all_reduce

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor,
                meta: AttentionMetadata, all_reduce: bool = True) -> torch.Tensor:
        """Hidden states [T, hidden] (identical on every active rank). `all_reduce=False`
        skips the reductions: wrong at tp > 1, there to show that they matter."""
        reduce = self.all_reduce if all_reduce else None
        body = self.model.model
        x = body.embed_tokens(input_ids)
        rope = body.rotary_emb.tables(positions, x.dtype)
        residual = None
        for i, (layer, views) in enumerate(zip(body.layers, self.views)):
            if residual is None:
                residual, h = x, layer.input_layernorm(x)
            else:
                h, residual = layer.input_layernorm(x, residual)
            h = self._attention(h, rope, meta, views, i, reduce)
            h, residual = layer.post_attention_layernorm(h, residual)
            x = self._mlp(h, views, reduce)
        return body.norm(x, residual)[0]

    def _attention(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                   meta: AttentionMetadata, views: LayerViews, layer: int,
                   reduce: AllReduce | None) -> torch.Tensor:
        t, d = x.shape[0], self.config.head_dim
        q = apply_rope(F.linear(x, views.q).view(t, self.num_heads, d), *rope)
        kv = torch.matmul(x, views.kv.mT)  # [2, T, Hkv/t * D]: one batched matmul
        k = apply_rope(kv[0].view(t, self.num_kv_heads, d), *rope)
        out = paged_attention(q, k, kv[1].view(t, self.num_kv_heads, d),
                              self.kv_cache[layer, 0], self.kv_cache[layer, 1], meta, d**-0.5)
        return _reduced(F.linear(out.reshape(t, self.num_heads * d), views.o), reduce)

    @staticmethod
    def _mlp(x: torch.Tensor, views: LayerViews, reduce: AllReduce | None) -> torch.Tensor:
        gate, up = torch.matmul(x, views.gate_up.mT)  # [2, T, F/t]
        return _reduced(F.linear(F.silu(gate) * up, views.down), reduce)


def _reduced(partial: torch.Tensor, reduce: AllReduce | None) -> torch.Tensor:
    if reduce is not None:
        reduce(partial)
    return partial
