"""Build cost models and KV capacities from names (the Hydra `cost` group's `_target_`)."""

from __future__ import annotations

from typing import Any

from toolkit.core import ConfigError
from toolkit.cost import capacity
from toolkit.cost.base import CostModel
from toolkit.cost.infercept_fit import infercept_cost_model, setup_for
from toolkit.cost.preble_fit import PrebleLlama70BCostModel, PrebleMistralA6000CostModel
from toolkit.cost.profiled import ProfiledCostModel
from toolkit.cost.roofline import RooflineCostModel
from toolkit.cost.specs import get_gpu_spec, get_model_spec

KINDS = ("profiled", "roofline", "preble_fit", "infercept_fit")

PREBLE_FITS = {"mistral-7b": ("a6000",), "llama3-70b": ("a100", "h100")}
"""Model -> GPUs a Preble fit was published for (the 70B fit is A100 TP2, reused on H100)."""


def make_cost_model(kind: str, model: str, gpu: str, tp: int = 1, **kw: Any) -> CostModel:
    """A cost model of `kind` ('profiled', 'roofline', 'preble_fit' or 'infercept_fit') for
    `model` on `gpu` at tensor parallelism `tp`; extra keywords go to the model's constructor
    (for 'infercept_fit', to `infercept_fit.infercept_cost_model`: the released fit, or the
    roofline for InferCept's setups without one).

    Raises ConfigError naming the option at fault (`kind`, `model`, `gpu`, `tp`).
    """
    m, g = get_model_spec(model), get_gpu_spec(gpu)
    if not isinstance(tp, int) or tp < 1:
        raise ConfigError("tp", f"must be a positive integer, got {tp!r}")
    if kind == "profiled":
        return ProfiledCostModel(m.name, tp, g.name, **kw)
    if kind == "roofline":
        return RooflineCostModel(m, g, tp, **kw)
    if kind == "preble_fit":
        return _preble_fit(m.name, g.name, tp, **kw)
    if kind == "infercept_fit":
        return infercept_cost_model(setup_for(m.name, tp), g.name, **kw)
    raise ConfigError("kind", f"unknown cost model kind {kind!r}; known: {list(KINDS)}")


def _preble_fit(model: str, gpu: str, tp: int, **kw: Any) -> CostModel:
    if model not in PREBLE_FITS:
        raise ConfigError("model", f"no Preble fit for {model!r}; have {sorted(PREBLE_FITS)}")
    if gpu not in PREBLE_FITS[model]:
        raise ConfigError(
            "gpu", f"Preble's {model} fit is for {list(PREBLE_FITS[model])}, not {gpu!r}"
        )
    if model == "mistral-7b":
        if tp != 1:
            raise ConfigError("tp", f"Preble's mistral-7b fit is for tp=1, got tp={tp}")
        return PrebleMistralA6000CostModel(**kw)
    return PrebleLlama70BCostModel(**kw)


def kv_capacity_tokens(
    model: str,
    gpu: str,
    tp: int = 1,
    mem_fraction: float = capacity.DEFAULT_MEM_FRACTION,
    activation_reserve_bytes: float = capacity.DEFAULT_ACTIVATION_RESERVE_BYTES,
) -> int:
    """KV-cache tokens one engine holds (see `capacity.kv_capacity_tokens`)."""
    return capacity.kv_capacity_tokens(model, gpu, tp, mem_fraction, activation_reserve_bytes)
