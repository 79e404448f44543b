"""KV-cache capacity in tokens of one engine (a tensor-parallel group of `tp` GPUs)."""

from __future__ import annotations

from toolkit.core import ConfigError
from toolkit.cost.specs import GiB, GpuSpec, ModelSpec, get_gpu_spec, get_model_spec

DEFAULT_MEM_FRACTION = 0.9
"""Share of GPU memory the engine may use (SGLang's `mem_fraction_static` is 0.8–0.9)."""

DEFAULT_ACTIVATION_RESERVE_BYTES = 1 * GiB
"""Per-GPU memory kept for activations, CUDA graphs and workspace (an estimate, unverified)."""


def kv_bytes_per_token_per_gpu(model: ModelSpec, tp: int) -> float:
    """KV bytes one token occupies on each GPU: KV heads are split over `tp` GPUs, and
    replicated once `tp` exceeds the number of KV heads (as vLLM and SGLang do)."""
    heads_per_gpu = max(1, model.num_kv_heads // tp)
    return model.kv_bytes_per_token * heads_per_gpu / model.num_kv_heads


def kv_capacity_tokens(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    tp: int = 1,
    mem_fraction: float = DEFAULT_MEM_FRACTION,
    activation_reserve_bytes: float = DEFAULT_ACTIVATION_RESERVE_BYTES,
) -> int:
    """Tokens of KV cache that fit: (memory * mem_fraction - weights/tp - reserve) divided by
    the per-GPU KV bytes of a token.

    Raises ConfigError (option `model`) when the weights and reserve leave no room, with
    the model, gpu, tp and the byte counts in the message; `tp` and `mem_fraction` are
    checked too.
    """
    m, g = get_model_spec(model), get_gpu_spec(gpu)
    if not isinstance(tp, int) or tp < 1:
        raise ConfigError("tp", f"must be a positive integer, got {tp!r}")
    if not 0.0 < mem_fraction <= 1.0:
        raise ConfigError("mem_fraction", f"must be in (0, 1], got {mem_fraction!r}")
    usable = g.memory_bytes * mem_fraction
    weights = m.weight_bytes / tp
    free = usable - weights - activation_reserve_bytes
    per_token = kv_bytes_per_token_per_gpu(m, tp)
    if free < per_token:
        raise ConfigError(
            "model",
            f"{m.name} does not fit on {g.name} with tp={tp}: usable "
            f"{usable / GiB:.1f} GiB (mem_fraction={mem_fraction}) - weights/tp "
            f"{weights / GiB:.1f} GiB - activation reserve "
            f"{activation_reserve_bytes / GiB:.1f} GiB = {free / GiB:.1f} GiB for KV; "
            "raise tp or choose a larger gpu",
        )
    return int(free // per_token)
