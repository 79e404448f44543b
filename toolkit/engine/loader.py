"""Build a `LlamaForCausalLM`: weights from a Hugging Face safetensors folder, or random."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from toolkit.engine.config import ModelConfig
from toolkit.engine.model import FUSED_PROJECTIONS, LlamaForCausalLM, RotaryEmbedding, shard_rows

_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def build_model(cfg: ModelConfig, dtype: torch.dtype, device: torch.device,
                path: str | Path | None = None, seed: int = 0) -> LlamaForCausalLM:
    """The model on `device` in `dtype`, with weights from `path` (a folder of
    `*.safetensors`), or random ones drawn from `seed` when `path` is None."""
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    model.to(dtype)
    model.to_empty(device=device)
    model.model.rotary_emb = RotaryEmbedding(cfg).to(device)  # float32 tables, rebuilt
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    if path is None:
        init_random_weights(model, seed)
    else:
        load_safetensors(model, Path(path))
    return model.eval()


def init_random_weights(model: LlamaForCausalLM, seed: int) -> None:
    """Normal(0, initializer_range) matrices and unit norms, drawn on the CPU from `seed` (the
    same weights on every device)."""
    gen = torch.Generator().manual_seed(seed)
    std = model.config.initializer_range
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                cpu = torch.empty(param.shape, dtype=torch.float32).normal_(0.0, std, generator=gen)
                param.copy_(cpu)


def checkpoint_targets(model: LlamaForCausalLM) -> dict[str, torch.Tensor]:
    """Every checkpoint tensor name the model takes -> the tensor (a parameter, or rows of a
    fused one) it is copied into."""
    targets: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        module, _, leaf = name.rpartition(".")
        prefix, _, proj = module.rpartition(".")
        if proj in FUSED_PROJECTIONS:
            for shard, (start, end) in shard_rows(model.config, proj).items():
                targets[f"{prefix}.{shard}.{leaf}"] = param[start:end]
        else:
            targets[name] = param
    return targets


def load_safetensors(model: LlamaForCausalLM, folder: Path) -> None:
    """Copy every tensor of `folder/*.safetensors` into the parameter of the same name (the
    fused projections' shards into their rows); raise if a parameter is left without weights,
    a tensor has no parameter or a shape differs."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {folder}")

    def tensors():
        for file in files:
            with safe_open(str(file), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 - safe_open is not a dict
                    yield str(file), name, f.get_tensor(name)

    copy_weights(model, tensors())


def copy_weights(model: LlamaForCausalLM,
                 tensors: Iterable[tuple[str, str, torch.Tensor]]) -> None:
    """Copy `(source, name, tensor)` triples, named as in a Hugging Face checkpoint, into
    the model; raise if a parameter is left without weights, a tensor has no parameter or a
    shape differs (the error names the source)."""
    targets = checkpoint_targets(model)
    missing = set(targets)
    unexpected = []
    with torch.no_grad():
        for source, name, tensor in tensors:
            if name.endswith(_IGNORED_SUFFIXES) or (
                    name == "lm_head.weight" and model.config.tie_word_embeddings):
                continue  # a tied head is the embedding, loaded under its own name
            if name not in targets:
                unexpected.append(name)
                continue
            if tensor.shape != targets[name].shape:
                raise ValueError(f"{source}: {name} has shape {tuple(tensor.shape)}, the "
                                 f"model expects {tuple(targets[name].shape)}")
            targets[name].copy_(tensor)
            missing.discard(name)
    if model.config.tie_word_embeddings:
        missing.discard("lm_head.weight")
    if missing or unexpected:
        raise ValueError(f"checkpoint mismatch: missing {sorted(missing)[:5]}, "
                         f"unexpected {unexpected[:5]}")
